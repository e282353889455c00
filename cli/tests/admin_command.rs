//! `hotline admin` against a real gateway with a PKI made by `hotline pki`: staff roles,
//! tenants and sites that take effect at once, policies, refused changes and their replay, a
//! revoked certificate, and an unreachable gateway.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use hotline_federation::model::{Comment, EntityKey, EntityKind, Visibility};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_gateway::config::{FocusTeamConfig, GatewayConfig, SiteConfig, TenantConfig};
use hotline_gateway::state::GatewayState;
use hotline_proto::v1 as pb;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn hotline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("hotline runs")
}

fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn site_client(
    pki: &Path,
    site: &str,
    addr: std::net::SocketAddr,
) -> pb::federation_client::FederationClient<Channel> {
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).expect("pki file");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .identity(Identity::from_pem(
            read(&format!("{site}.pem")),
            read(&format!("{site}.key")),
        ))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{addr}"))
        .expect("url")
        .tls_config(tls)
        .expect("tls")
        .connect_lazy();
    pb::federation_client::FederationClient::new(channel)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The whole operator round: roles, registry, policy, dead letter and replay, revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_manage_a_running_gateway() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let pki = tmp.path().join("pki");
    let dir = pki.to_str().unwrap_or_default();
    ok(hotline(&[
        "pki",
        "--dir",
        dir,
        "init",
        "--federation",
        "acme",
    ]));
    ok(hotline(&[
        "pki",
        "--dir",
        dir,
        "issue-server",
        "--dns",
        "localhost",
        "--ip",
        "127.0.0.1",
    ]));
    ok(hotline(&[
        "pki", "--dir", dir, "issue", "--tenant", "inhouse", "--site", "munich",
    ]));
    ok(hotline(&[
        "pki", "--dir", dir, "issue", "--tenant", "newco", "--site", "hamburg",
    ]));
    ok(hotline(&[
        "pki",
        "--dir",
        dir,
        "issue-staff",
        "--role",
        "admin",
        "--name",
        "alice",
    ]));
    ok(hotline(&[
        "pki",
        "--dir",
        dir,
        "issue-staff",
        "--role",
        "auditor",
        "--name",
        "bob",
    ]));
    let carol = ok(hotline(&[
        "pki",
        "--dir",
        dir,
        "issue-staff",
        "--role",
        "admin",
        "--name",
        "carol",
    ]));

    let mut config = GatewayConfig {
        federation: "acme".into(),
        data_dir: tmp.path().join("gateway"),
        tenants: vec![TenantConfig {
            id: "inhouse".into(),
            name: "In-house".into(),
        }],
        sites: vec![SiteConfig {
            id: "munich".into(),
            tenant: "inhouse".into(),
            name: None,
        }],
        focus_teams: vec![FocusTeamConfig {
            id: "dealers-sales".into(),
            name: "Dealers and sales".into(),
            handlers: vec!["inhouse".into()],
            sla_answer_seconds: 25,
            sla_target_percent: 80,
            fcr_target_percent: 75,
            review_cadence: "weekly".into(),
            pii_grants: vec![],
            partner_retention_days: None,
        }],
        ..GatewayConfig::default()
    };
    config.tls.ca_cert = pki.join("ca.pem");
    config.tls.cert = pki.join("gateway.pem");
    config.tls.key = pki.join("gateway.key");
    config.tls.crl = Some(pki.join("federation.crl"));
    config.tls.reload_interval_ms = 50;
    config.web.public_url = "https://status.acme.example".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state: Arc<GatewayState> = GatewayState::open(config).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(hotline_gateway::server::run(
        listener,
        state.clone(),
        shutdown.clone(),
    ));
    let url = format!("https://{addr}");
    let admin = |staff: &str, args: &[&str]| {
        let mut all = vec![
            "admin",
            "--gateway",
            url.as_str(),
            "--pki",
            dir,
            "--as",
            staff,
        ];
        all.extend_from_slice(args);
        hotline(&all)
    };

    // An auditor reads but cannot change; a site certificate cannot administer at all.
    assert!(ok(admin("bob", &["tenants"])).contains("inhouse"));
    let refused = failed(admin(
        "bob",
        &["put-tenant", "--id", "newco", "--name", "NewCo"],
    ));
    assert!(refused.contains("auditor role"), "{refused}");
    let refused = failed(admin("munich", &["tenants"]));
    assert!(refused.contains("needs a staff certificate"), "{refused}");

    // A staff dashboard link for the caller: an admin mints one, an auditor cannot, and an
    // unknown role is named before anything is sent.
    let link = ok(admin("alice", &["dashboard-link", "--role", "auditor"]));
    assert!(
        link.starts_with("https://status.acme.example/staff/signin?token="),
        "{link}"
    );
    assert!(link.contains("works once"), "{link}");
    let refused = failed(admin("bob", &["dashboard-link"]));
    assert!(refused.contains("auditor role"), "{refused}");
    let refused = failed(admin("alice", &["dashboard-link", "--role", "boss"]));
    assert!(refused.contains("known: admin, auditor"), "{refused}");

    // hamburg of newco is unknown until an admin registers it; then it is served at once.
    let mut hamburg = site_client(&pki, "hamburg", addr).await;
    let status = hamburg
        .lease(pb::LeaseRequest { count: 1 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    ok(admin(
        "alice",
        &["put-tenant", "--id", "newco", "--name", "NewCo"],
    ));
    let bad = failed(admin(
        "alice",
        &["put-site", "--id", "hamburg", "--tenant", "nobody"],
    ));
    assert!(
        bad.contains("does not exist; known: inhouse, newco"),
        "{bad}"
    );
    assert!(
        ok(admin(
            "alice",
            &["put-site", "--id", "hamburg", "--tenant", "newco"]
        ))
        .contains("hamburg")
    );
    hamburg.lease(pb::LeaseRequest { count: 1 }).await?;

    // munich opens a dealers-sales ticket; newco does not handle the team yet, so its comment
    // is refused and recorded as a dead letter.
    let mut munich = site_client(&pki, "munich", addr).await;
    let block = munich
        .lease(pb::LeaseRequest { count: 1 })
        .await?
        .into_inner()
        .block
        .expect("block");
    let number = format!("{}-{:04}-{:06}", block.prefix, block.year, block.first);
    let open = hotline_gateway_test_ticket(&number);
    munich
        .push(pb::PushRequest {
            changes: vec![open.into()],
        })
        .await?;
    let comment = Change {
        key: EntityKey::new(EntityKind::Ticket, number.clone()),
        ops: vec![FieldOp::AddComment(Comment {
            id: "hamburg-1".into(),
            author_alias: "Agent 3".into(),
            author_tenant: "newco".into(),
            visibility: Visibility::Federation,
            body: "called the dealer".into(),
            created_at_ms: now(),
            attachments: Vec::new(),
        })],
        origin_site: "hamburg".into(),
        origin_seq: 1,
        hlc: Hlc::new(now(), 0),
    };
    let answer = hamburg
        .push(pb::PushRequest {
            changes: vec![comment.into()],
        })
        .await?
        .into_inner();
    assert!(matches!(
        answer.results[0].outcome,
        Some(pb::change_result::Outcome::Rejected(_))
    ));
    let letters = ok(admin("bob", &["dead-letters", "--site", "hamburg"]));
    assert!(
        letters.contains("forbidden") && letters.contains(&number),
        "{letters}"
    );

    // The admin makes newco a handler; the replay is accepted and the dead letter is gone.
    let put_policy = |extra: &[&str]| {
        let mut args = vec![
            "put-policy",
            "--team",
            "dealers-sales",
            "--name",
            "Dealers and sales",
            "--handlers",
            "inhouse,newco",
        ];
        args.extend_from_slice(extra);
        admin("alice", &args)
    };
    let put = ok(put_policy(&[]));
    assert!(put.contains("inhouse,newco"), "{put}");
    assert!(put.contains("partners keep 90d"), "{put}");
    assert!(ok(admin("bob", &["policies"])).contains("inhouse,newco"));
    // The partners' retention: set, then kept by a put that does not name it.
    let days = put_policy;
    assert!(ok(days(&["--partner-retention-days", "30"])).contains("partners keep 30d"));
    assert!(ok(days(&[])).contains("partners keep 30d"));
    let refused = failed(days(&["--partner-retention-days", "40000"]));
    assert!(
        refused.contains("partner_retention_days") && refused.contains("to 36500 days"),
        "{refused}"
    );
    assert!(ok(admin("bob", &["policies"])).contains("partners keep 30d"));
    // Erasure: an admin erases (a reference without tickets erases none), an auditor may
    // list but not erase, and bad input says what is allowed.
    let erase = |staff: &str, reference: &str, reason: &str| {
        admin(
            staff,
            &["erase", "--customer-ref", reference, "--reason", reason],
        )
    };
    let erased = ok(erase("alice", "E-4711", "request 2026-117"));
    assert!(
        erased.starts_with("erasure 1 of customer ")
            && erased.contains(": 0 tickets, by staff:admin:alice"),
        "{erased}"
    );
    let refused = failed(erase("bob", "E-4711", "again"));
    assert!(refused.contains("auditor"), "{refused}");
    let refused = failed(erase("alice", "E-4711", " "));
    assert!(refused.contains("reason: must say why"), "{refused}");
    let listed = ok(admin("bob", &["erasures"]));
    assert!(listed.contains("reason \"request 2026-117\""), "{listed}");
    assert_eq!(listed.matches("erasure ").count(), 1, "{listed}");
    let replay = ok(admin(
        "alice",
        &["replay", "--site", "hamburg", "--seq", "1"],
    ));
    assert!(replay.contains("accepted"), "{replay}");
    assert_eq!(ok(admin("bob", &["dead-letters"])), "");

    // carol works until her certificate is revoked; then she is refused without a restart.
    ok(admin("carol", &["sites"]));
    let serial = carol
        .rsplit("serial ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    ok(hotline(&[
        "pki", "--dir", dir, "revoke", "--serial", &serial,
    ]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while admin("carol", &["sites"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked certificate is still served after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ok(admin("alice", &["sites"]));

    shutdown.cancel();
    server.await??;
    drop(state);

    // With the gateway gone the error says so.
    let down = failed(admin("alice", &["tenants"]));
    assert!(down.contains("cannot reach the gateway"), "{down}");
    Ok(())
}

/// The change that opens a dealers-sales ticket at munich.
fn hotline_gateway_test_ticket(number: &str) -> Change {
    use hotline_federation::FieldValue;
    use hotline_federation::model::{StatusTransition, TicketField, TicketStatus};
    let set = |f| FieldOp::Set(FieldValue::Ticket(f));
    Change {
        key: EntityKey::new(EntityKind::Ticket, number),
        ops: vec![
            set(TicketField::PublicNumber(number.into())),
            set(TicketField::OriginTenant("inhouse".into())),
            set(TicketField::FocusTeam("dealers-sales".into())),
            set(TicketField::Status(StatusTransition {
                from: None,
                to: TicketStatus::New,
            })),
        ],
        origin_site: "munich".into(),
        origin_seq: 1,
        hlc: Hlc::new(now(), 0),
    }
}
