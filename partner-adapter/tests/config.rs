//! The adapter's config as operators write it: the deploy/ example is valid, and mistakes are
//! reported with the field's path.

use std::path::Path;

use hotline_adapter::config::AdapterConfig;

/// Every adapter example in deploy/ parses and validates with the real loader, and each names
/// the site its file is named after.
#[test]
fn every_deploy_adapter_config_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/ exists") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(site) = name
            .strip_prefix("adapter-")
            .and_then(|n| n.strip_suffix(".toml"))
        else {
            continue;
        };
        let config =
            AdapterConfig::load(Some(&path), &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.site, site, "{name} configures another site");
        checked += 1;
    }
    assert!(checked >= 1, "no adapter-*.toml found in deploy/");
}

/// The Dortmund example carries a full mapping and a webhook.
#[test]
fn dortmund_example_has_mapping_and_webhook() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/adapter-dortmund.toml");
    let config =
        AdapterConfig::load(Some(&path), &[]).expect("deploy/adapter-dortmund.toml is valid");
    assert_eq!(config.site, "dortmund");
    assert_eq!(config.mapping.status.len(), 6);
    assert_eq!(config.webhooks.len(), 1);
}

/// Environment overrides win over the file and a short token is refused by path.
#[test]
fn env_overrides_and_field_errors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/adapter-dortmund.toml");
    let env = vec![("HOTLINE_API_LISTEN".to_owned(), "127.0.0.1:9999".to_owned())];
    let config = AdapterConfig::load(Some(&path), &env).expect("valid");
    assert_eq!(config.api.listen, "127.0.0.1:9999");

    let mut bad = config.clone();
    bad.tools[1].token = "short".into();
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("tools[1].token"), "{err}");

    let mut bad = config.clone();
    bad.mapping.status.remove("Eskaliert");
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.contains("mapping.status") && err.contains("escalated"),
        "{err}"
    );
}

/// A message limit below what the largest entity or change needs is refused by path, so an
/// adapter cannot be set up to choke on an entry the gateway may send.
#[test]
fn message_limit_below_the_largest_entity_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/adapter-dortmund.toml");
    let mut config = AdapterConfig::load(Some(&path), &[]).expect("valid");
    assert_eq!(config.sync.max_message_bytes, 16 * 1024 * 1024);
    config.sync.max_message_bytes = 4 * 1024 * 1024;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("sync.max_message_bytes"), "{err}");
    config.sync.max_message_bytes = hotline_federation::limits::MIN_MESSAGE_BYTES;
    config.validate().expect("the smallest allowed limit");
}

/// `[ops] listen`: the example opens the operations port, `HOTLINE_OPS_LISTEN` moves it, an
/// empty address turns it off, and a bad one is refused naming `ops.listen`, so a typo cannot
/// leave the probes knocking on a closed port.
#[test]
fn ops_listen_is_validated() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/adapter-dortmund.toml");
    let config = AdapterConfig::load(Some(&path), &[]).expect("valid");
    assert_eq!(config.ops_addr().unwrap(), "0.0.0.0:9465".parse().ok());
    let env = vec![("HOTLINE_OPS_LISTEN".to_owned(), String::new())];
    let off = AdapterConfig::load(Some(&path), &env).expect("valid");
    assert_eq!(off.ops_addr().unwrap(), None);

    let mut bad = config.clone();
    bad.ops.listen = "0.0.0.0".into();
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.contains("ops.listen") && err.contains("\"0.0.0.0\"") && err.contains("127.0.0.1:9465"),
        "{err}"
    );
}

/// `gateway.replicas` lists further gateways, tried in turn after `url`; each must be an
/// https:// address, named by its position when not, and at most 16 are taken.
#[test]
fn gateway_replicas_are_checked_and_tried_after_the_url() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/adapter-dortmund.toml");
    let mut config = AdapterConfig::load(Some(&path), &[]).expect("valid");
    config.gateway.replicas = vec![
        "https://gw-2.example:7443".into(),
        "https://gw-3.example:7443".into(),
    ];
    config.validate().expect("replicas");
    assert_eq!(
        config.gateway.urls()[1..],
        ["https://gw-2.example:7443", "https://gw-3.example:7443"]
    );
    assert_eq!(config.gateway.urls()[0], config.gateway.url);

    config.gateway.replicas[1] = "http://gw-3.example:7443".into();
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("gateway.replicas[1]") && err.contains("https://"),
        "{err}"
    );
    config.gateway.replicas = vec!["https://gw.example:7443".to_string(); 17];
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("at most 16"), "{err}");
}
