//! Tests of the gateway's configuration: defaults, validation errors that name the field.

use super::*;
use hotline_federation::limits::MIN_MESSAGE_BYTES;

fn valid() -> GatewayConfig {
    GatewayConfig {
        tls: TlsConfig {
            ca_cert: "ca.pem".into(),
            cert: "gw.pem".into(),
            key: "gw.key".into(),
            crl: None,
            reload_interval_ms: 1000,
            ..TlsConfig::default()
        },
        ..GatewayConfig::default()
    }
}

/// A valid focus team entry (other modules' tests configure it too).
pub(crate) fn plants() -> FocusTeamConfig {
    FocusTeamConfig {
        id: "plants".into(),
        name: "Plants".into(),
        handlers: vec![],
        sla_answer_seconds: 25,
        sla_target_percent: 80,
        fcr_target_percent: 75,
        review_cadence: "weekly".into(),
        pii_grants: vec![],
        partner_retention_days: None,
    }
}

/// A site of an unknown tenant is refused with the field path and the known tenants.
#[test]
fn unknown_tenant_names_the_field() {
    let mut config = valid();
    config.sites.push(SiteConfig {
        id: "dortmund".into(),
        tenant: "nobody".into(),
        name: None,
    });
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("sites[0].tenant"), "{err}");
    assert!(err.contains("known: inhouse"), "{err}");
}

/// A message limit too small for the largest entity is refused naming the field and the
/// smallest allowed value; that smallest value passes.
#[test]
fn message_limit_must_carry_the_largest_entity() {
    let mut config = valid();
    config.limits.max_push_bytes = 1024;
    config.limits.max_message_bytes = 4 * 1024 * 1024;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("limits.max_message_bytes"), "{err}");
    assert!(
        err.contains(&format!("allowed: {MIN_MESSAGE_BYTES} or more")),
        "{err}"
    );
    config.limits.max_message_bytes = MIN_MESSAGE_BYTES;
    config.validate().expect("the smallest allowed limit");
}

/// Environment overrides win over the file, and only known names are read.
#[test]
fn env_overrides_listen_and_data_dir() {
    let mut config = valid();
    let env = vec![
        ("HOTLINE_LISTEN".to_owned(), "127.0.0.1:9000".to_owned()),
        ("HOTLINE_DATA_DIR".to_owned(), "/srv/gw".to_owned()),
        ("HOTLINE_UNRELATED".to_owned(), "x".to_owned()),
    ];
    config.apply_env(&env).unwrap();
    assert_eq!(config.listen, "127.0.0.1:9000");
    assert_eq!(config.data_dir, PathBuf::from("/srv/gw"));
}

/// Unknown keys in the TOML file are an error, so a typo does not silently use a default.
#[test]
fn unknown_toml_keys_are_refused() {
    let err = toml::from_str::<GatewayConfig>("listen_addr = \"x\"").unwrap_err();
    assert!(err.to_string().contains("listen_addr"), "{err}");
}

/// A bad review cadence names its focus team entry and the known cadences.
#[test]
fn bad_cadence_is_refused() {
    let mut config = valid();
    config.focus_teams.push(FocusTeamConfig {
        review_cadence: "daily".into(),
        ..plants()
    });
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("focus_teams[0].review_cadence"), "{err}");
    assert!(err.contains("weekly, biweekly, monthly"), "{err}");
}

/// Each new accept and CRL limit is checked at start, and the error names the field and
/// what is allowed, so a typo cannot switch off the flood protection or fail-closed CRLs.
#[test]
fn accept_and_crl_limits_name_the_field() {
    type Spoil = fn(&mut GatewayConfig);
    let cases: [(&str, Spoil, &str); 6] = [
        (
            "limits.first_byte_timeout_ms",
            |c| c.limits.first_byte_timeout_ms = 0,
            "at least 1",
        ),
        (
            "limits.first_byte_timeout_ms",
            |c| c.limits.first_byte_timeout_ms = c.limits.handshake_timeout_ms + 1,
            "allowed: 1 to 10000",
        ),
        (
            "limits.max_handshakes_per_peer",
            |c| c.limits.max_handshakes_per_peer = c.limits.max_pending_connections + 1,
            "allowed: 1 to 4096",
        ),
        (
            "limits.max_handshakes",
            |c| c.limits.max_handshakes = 0,
            "at least 1",
        ),
        (
            "tls.crl_expired",
            |c| c.tls.crl_expired = "ignore".into(),
            "known: refuse, warn",
        ),
        (
            "tls.crl_warn_remaining_percent",
            |c| c.tls.crl_warn_remaining_percent = 101,
            "allowed: 0 to 100",
        ),
    ];
    valid().validate().unwrap();
    for (field, spoil, allowed) in cases {
        let mut config = valid();
        spoil(&mut config);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(&format!("`{field}`")), "{err}");
        assert!(err.contains(allowed), "{err}");
    }
}

/// Each bad `[web]` field is refused naming it and saying what is allowed, so an operator
/// fixes the status page's config before customers meet it; an empty `web.listen` is off.
#[test]
fn web_fields_name_the_field() {
    type Spoil = fn(&mut GatewayConfig);
    let cases: [(&str, Spoil, &str); 6] = [
        (
            "web.listen",
            |c| c.web.listen = "nowhere".into(),
            "0.0.0.0:8080",
        ),
        (
            "web.tls_key",
            |c| c.web.tls_cert = Some("web.pem".into()),
            "when tls_cert is",
        ),
        (
            "web.public_url",
            |c| c.web.public_url = "status.example.com".into(),
            "https://",
        ),
        (
            "web.attempts_per_client_per_minute",
            |c| c.web.attempts_per_client_per_minute = 0,
            "at least 1",
        ),
        (
            "web.max_reply_bytes",
            |c| c.web.max_reply_bytes = 1 << 20,
            "allowed: 1 to 16384",
        ),
        (
            "sites[0].id",
            |c| {
                c.sites.push(SiteConfig {
                    id: "customer".into(),
                    tenant: "inhouse".into(),
                    name: None,
                })
            },
            "reserved",
        ),
    ];
    let config = valid();
    assert_eq!(config.web.listen_addr().unwrap(), None);
    for (field, spoil, allowed) in cases {
        let mut config = valid();
        spoil(&mut config);
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(&format!("`{field}`")), "{err}");
        assert!(err.contains(allowed), "{err}");
    }
    let mut config = valid();
    config
        .apply_env(&[("HOTLINE_WEB_LISTEN".into(), "127.0.0.1:8080".into())])
        .unwrap();
    assert_eq!(
        config.web.listen_addr().unwrap(),
        Some("127.0.0.1:8080".parse().unwrap())
    );
}

/// `[ops] listen`: on at 127.0.0.1:9464 by default, off when empty, moved by
/// `HOTLINE_OPS_LISTEN`, and a bad address is refused naming `ops.listen` and the expected
/// form, so a typo cannot silently leave Kubernetes probing a closed port.
#[test]
fn ops_listen_is_validated_and_can_be_turned_off() {
    let mut config = valid();
    assert_eq!(
        config.ops_listen_addr().unwrap(),
        Some("127.0.0.1:9464".parse().unwrap())
    );
    config.ops.listen = String::new();
    config
        .validate()
        .expect("an empty address turns the port off");
    assert_eq!(config.ops_listen_addr().unwrap(), None);
    config
        .apply_env(&[("HOTLINE_OPS_LISTEN".into(), "0.0.0.0:9999".into())])
        .unwrap();
    assert_eq!(
        config.ops_listen_addr().unwrap(),
        Some("0.0.0.0:9999".parse().unwrap())
    );
    config.ops.listen = "localhost:9464".into();
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("ops.listen")
            && err.contains("localhost:9464")
            && err.contains("127.0.0.1:9464"),
        "{err}"
    );
}

/// A checkpoint interval of 0 would sign in a busy loop: refused naming the field; a TOML
/// `[audit]` table is read with its default for what it leaves out.
#[test]
fn audit_checkpoint_interval_must_be_positive() {
    let mut config = valid();
    config.audit.checkpoint_interval_secs = 0;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("audit.checkpoint_interval_secs"), "{err}");
    let parsed: GatewayConfig = toml::from_str("[audit]\nsigning_key = \"/k\"\n").unwrap();
    assert_eq!(parsed.audit.checkpoint_interval_secs, 60);
    assert_eq!(parsed.audit_key_path(), std::path::PathBuf::from("/k"));
}

/// `storage` defaults to "auto"; every engine is accepted, and an unknown one is refused
/// naming the field and every allowed value, so a typo does not silently pick an engine.
#[test]
fn storage_accepts_redb_and_lists_the_engines() {
    assert_eq!(GatewayConfig::default().storage, "auto");
    let mut config = valid();
    for engine in ["auto", "redb", "sled", "memory"] {
        config.storage = engine.into();
        config.validate().expect("a known engine");
    }
    config.storage = "rocksdb".into();
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("storage"), "{err}");
    assert!(
        err.contains("known: auto, sled, redb, postgres, memory"),
        "{err}"
    );
}

/// `storage = "postgres"` needs a URL that parses and a pool of 1 to 64; the errors name the
/// field and never repeat the URL, which may hold a password; the environment sets the URL and
/// the config's debug form hides it.
#[test]
fn postgres_needs_a_url_and_a_bounded_pool() {
    let mut config = valid();
    config.storage = "postgres".into();
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("postgres.url") && err.contains("must be set"),
        "{err}"
    );

    config.postgres.url = "postgres://hotline:s3cret@127.0.0.1:5432/hotline?bogus=1".into();
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("postgres.url"), "{err}");
    assert!(!err.contains("s3cret"), "the password leaked: {err}");

    config.postgres.url = "postgres://hotline:s3cret@127.0.0.1:5432/hotline".into();
    config.validate().expect("a good url");
    assert!(!format!("{config:?}").contains("s3cret"));

    // TLS: asked for without a CA, or an empty CA path, is refused at start naming the field;
    // a CA file is read when the store connects, not here.
    config.postgres.url = "postgres://hotline:s3cret@db:5432/hotline?sslmode=verify-full".into();
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("postgres.ca_cert") && !err.contains("s3cret"),
        "{err}"
    );
    config.postgres.ca_cert = Some("".into());
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("postgres.ca_cert") && err.contains("empty"),
        "{err}"
    );
    config.postgres.ca_cert = Some("/etc/hotline/pki/postgres-ca.pem".into());
    config.validate().expect("TLS with a CA named");
    config.postgres.ca_cert = None;
    config.postgres.url = "postgres://hotline:s3cret@127.0.0.1:5432/hotline".into();
    for size in [0, 65] {
        config.postgres.pool_size = size;
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("postgres.pool_size") && err.contains("1 to 64"),
            "{err}"
        );
    }

    let mut from_env = valid();
    from_env
        .apply_env(&[(
            "HOTLINE_POSTGRES_URL".to_string(),
            "postgres://a@b/c".to_string(),
        )])
        .expect("env");
    assert_eq!(from_env.postgres.url, "postgres://a@b/c");
}

/// The sled page cache is bounded both ways, and a value outside says the field and the range.
#[test]
fn storage_cache_is_bounded() {
    let mut config = valid();
    for mib in [8, 256, 65536] {
        config.storage_cache_mib = mib;
        config.validate().expect("inside the range");
    }
    for mib in [0, 7, 65537] {
        config.storage_cache_mib = mib;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("storage_cache_mib"), "{err}");
        assert!(err.contains("allowed are 8 to 65536"), "{err}");
    }
}

/// Retention settings out of range are refused naming the field and the allowed range; a
/// team's days beyond the maximum name the team's entry.
#[test]
fn retention_out_of_range_names_the_field() {
    let mut config = valid();
    config.retention.sweep_interval_secs = 0;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("retention.sweep_interval_secs"), "{err}");
    assert!(err.contains("allowed: 1 to 86400"), "{err}");

    let mut config = valid();
    config.retention.archive_batch = 5000;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("retention.archive_batch"), "{err}");
    assert!(err.contains("allowed: 1 to 1024"), "{err}");

    let mut config = valid();
    config.focus_teams.push(FocusTeamConfig {
        partner_retention_days: Some(36_501),
        ..plants()
    });
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("focus_teams[0].partner_retention_days"),
        "{err}"
    );
    assert!(err.contains("to 36500 days"), "{err}");
    config.focus_teams[0].partner_retention_days = Some(36_500);
    assert!(config.validate().is_ok());
}
