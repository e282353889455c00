//! The adapter's config as operators write it: the deploy/ example is valid, and mistakes are
//! reported with the field's path.

use std::path::Path;

use hotline_adapter::config::AdapterConfig;

/// The example config shipped in deploy/ parses and validates with the real loader.
#[test]
fn deploy_example_config_is_valid() {
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
