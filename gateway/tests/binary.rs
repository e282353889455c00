//! The `hotline-gateway` binary as an operator runs it: config errors name the field, the
//! example config in deploy/ is valid, its operations port answers, and SIGTERM shuts it down
//! gracefully.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};

use hotline_gateway::config::GatewayConfig;
use hotline_proto::v1 as pb;
use hotline_runtime::pki::CertAuthority;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

const BINARY: &str = env!("CARGO_BIN_EXE_hotline-gateway");

/// The example config shipped in deploy/ parses and validates with the real loader.
#[test]
fn deploy_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/gateway.toml");
    let config = GatewayConfig::load(Some(&path), &[]).expect("deploy/gateway.toml is valid");
    assert_eq!(config.focus_teams.len(), 5);
    assert_eq!(config.site_tenant("erfurt"), Some("helpbycom"));
}

/// The replicas' examples (deploy/gateway-replica.toml for systemd, the ConfigMap of
/// deploy/kubernetes/gateway-replicas.yaml) parse and validate with the real loader once the
/// environment gives the database URL, name one schema and one shared audit key, and without
/// the URL say where it comes from.
#[test]
fn replica_examples_are_valid_and_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let env = [(
        "HOTLINE_POSTGRES_URL".to_string(),
        "postgres://hotline:secret@db.internal:5432/hotline".to_string(),
    )];
    let file = GatewayConfig::load(Some(&root.join("gateway-replica.toml")), &env)
        .expect("deploy/gateway-replica.toml is valid");
    let manifest = std::fs::read_to_string(root.join("kubernetes/gateway-replicas.yaml"))
        .expect("the manifest");
    let embedded: String = manifest
        .split("gateway.toml: |\n")
        .nth(1)
        .and_then(|rest| rest.split("\n---").next())
        .expect("the ConfigMap's gateway.toml")
        .lines()
        .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, embedded).expect("write");
    let pod = GatewayConfig::load(Some(&path), &env).expect("the ConfigMap's config is valid");
    for config in [&file, &pod] {
        assert_eq!(config.storage, "postgres");
        assert_eq!(config.postgres.schema, "acme");
        assert_eq!(
            config.audit.signing_key.as_deref(),
            Some(Path::new("/etc/hotline/audit/audit-signing.key"))
        );
        assert_eq!(config.federation, "acme");
    }
    assert_eq!(file.site_tenant("erfurt"), pod.site_tenant("erfurt"));
    let err = GatewayConfig::load(Some(&root.join("gateway-replica.toml")), &[])
        .expect_err("no URL")
        .to_string();
    assert!(
        err.contains("postgres.url") && err.contains("HOTLINE_POSTGRES_URL"),
        "{err}"
    );
}

/// A config with a site of an unknown tenant stops the binary with the field's path.
#[test]
fn bad_config_exits_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let text = "[tls]\nca_cert = \"a\"\ncert = \"b\"\nkey = \"c\"\n\n[[sites]]\nid = \"dortmund\"\ntenant = \"nobody\"\n";
    std::fs::write(&path, text).unwrap();
    let output = Command::new(BINARY)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sites[0].tenant"), "{stderr}");
}

/// The binary serves real mTLS clients and its operations port (/healthz, /readyz), and exits
/// cleanly (status 0) on SIGTERM, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertAuthority::generate("acme").unwrap();
    let days = time::Duration::days(1);
    let server = ca
        .issue_server(&["localhost"], &[IpAddr::V4(Ipv4Addr::LOCALHOST)], days)
        .unwrap();
    let client = ca
        .issue_site("acme", "twenty4help", "dortmund", days)
        .unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(dir.path().join("gw.pem"), &server.cert_pem).unwrap();
    std::fs::write(dir.path().join("gw.key"), &server.key_pem).unwrap();
    let config = format!(
        "federation = \"acme\"\nlisten = \"127.0.0.1:0\"\ndata_dir = {data:?}\n\n[log]\nformat = \"json\"\n\n\
         [tls]\nca_cert = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n\n\
         [ops]\nlisten = \"127.0.0.1:0\"\n\n\
         [[tenants]]\nid = \"inhouse\"\n\n[[tenants]]\nid = \"twenty4help\"\n\n\
         [[sites]]\nid = \"dortmund\"\ntenant = \"twenty4help\"\n",
        data = dir.path().join("data"),
        ca = dir.path().join("ca.pem"),
        cert = dir.path().join("gw.pem"),
        key = dir.path().join("gw.key"),
    );
    std::fs::write(dir.path().join("gateway.toml"), config).unwrap();
    let mut child = Command::new(BINARY)
        .arg("--config")
        .arg(dir.path().join("gateway.toml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("gateway exited before listening")
            .unwrap();
        if let Some(rest) = line.split("\"addr\":\"").nth(1) {
            break rest.split('"').next().unwrap().to_owned();
        }
    };

    // The operations port answers beside the gRPC port (issue 15): its address is logged too.
    let ops = loop {
        let line = lines
            .next()
            .expect("gateway exited before its operations port listened")
            .unwrap();
        if line.contains("operations port listening") {
            let rest = line
                .split("\"addr\":\"")
                .nth(1)
                .expect("the ops line names addr");
            break rest.split('"').next().unwrap().to_owned();
        }
    };
    let health = http_get(&ops, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = http_get(&ops, "/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.cert_pem()))
        .domain_name("localhost")
        .identity(Identity::from_pem(&client.cert_pem, &client.key_pem));
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_lazy();
    let mut federation = pb::federation_client::FederationClient::new(channel);
    let block = federation
        .lease(pb::LeaseRequest { count: 3 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(block.block.map(|b| b.count), Some(3));

    // Close our connection first, so the shutdown has no open connection to wait for.
    drop(federation);
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}; log: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("SIGTERM")), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("gateway stopped")),
        "{rest:?}"
    );
}

/// `GET path` over plain HTTP/1.1 at `addr`; the whole answer as text.
async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}
