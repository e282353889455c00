//! `hotline pki` as an operator runs it: files land where the gateway config expects them,
//! keys are private, nothing is overwritten by accident, and revocation rewrites the CRL.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn hotline(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("pki")
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("hotline runs")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// init, issue, issue-server and revoke write the files a gateway needs, keys with mode 0600;
/// re-running init without --force is refused; a revoked serial appears in the new CRL.
#[test]
fn pki_commands_write_usable_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    ok(hotline(&dir, &["init", "--federation", "acme"]));
    ok(hotline(
        &dir,
        &["issue-server", "--dns", "localhost", "--ip", "127.0.0.1"],
    ));
    let issued = ok(hotline(
        &dir,
        &["issue", "--tenant", "twenty4help", "--site", "dortmund"],
    ));
    ok(hotline(
        &dir,
        &["issue-staff", "--role", "admin", "--name", "alice"],
    ));
    for key in ["ca.key", "gateway.key", "dortmund.key", "alice.key"] {
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key} has mode {mode:o}");
    }

    let again = hotline(&dir, &["init", "--federation", "acme"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let twice = hotline(
        &dir,
        &["issue", "--tenant", "twenty4help", "--site", "dortmund"],
    );
    assert!(
        !twice.status.success(),
        "issuing over an existing key must need --force"
    );

    let serial = issued.rsplit("serial ").next().unwrap().trim().to_owned();
    let before = std::fs::read_to_string(dir.join("federation.crl")).unwrap();
    let revoked = ok(hotline(&dir, &["revoke", "--serial", &serial]));
    assert!(revoked.contains("CRL number 2"), "{revoked}");
    let after = std::fs::read_to_string(dir.join("federation.crl")).unwrap();
    assert_ne!(before, after);
    assert_eq!(
        std::fs::read_to_string(dir.join("revoked")).unwrap().trim(),
        serial
    );

    let bad = hotline(&dir, &["issue", "--tenant", "Bad Tenant", "--site", "x"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tenant"));
}

/// The (this_update, next_update) of a CRL file, and its revoked serials in hex.
fn crl_contents(path: &Path) -> (i64, i64, Vec<String>) {
    let pem = std::fs::read(path).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let (_, crl) = x509_parser::parse_x509_crl(&pem.contents).unwrap();
    let serials = crl
        .iter_revoked_certificates()
        .map(|revoked| {
            revoked
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    (
        crl.last_update().timestamp(),
        crl.next_update().unwrap().timestamp(),
        serials,
    )
}

/// `hotline pki crl` renews an expired CRL the way an operator fixes a gateway that refuses
/// everyone: same revoked serials, a fresh window of --days, the next CRL number; a
/// validity that is not positive is refused with the allowed range.
#[test]
fn pki_crl_renews_an_expired_crl_with_the_same_serials() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    ok(hotline(&dir, &["init", "--federation", "acme"]));
    let issued = ok(hotline(
        &dir,
        &["issue", "--tenant", "twenty4help", "--site", "dortmund"],
    ));
    let serial = issued.rsplit("serial ").next().unwrap().trim().to_owned();
    ok(hotline(&dir, &["revoke", "--serial", &serial]));
    // Replace the CRL by one that expired yesterday, as if nobody had renewed it for a week.
    let ca = hotline::pki_dir::PkiDir::new(&dir).ca().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = ca
        .crl_pem_between(
            &[hotline::pki::Serial::from_hex(&serial).unwrap()],
            2,
            now - time::Duration::days(8),
            now - time::Duration::days(1),
        )
        .unwrap();
    std::fs::write(dir.join("federation.crl"), expired).unwrap();

    let renewed = ok(hotline(&dir, &["crl", "--days", "30"]));

    assert!(renewed.contains("CRL number 3"), "{renewed}");
    let (this_update, next_update, serials) = crl_contents(&dir.join("federation.crl"));
    let now = now.unix_timestamp();
    assert!(
        (this_update - now).abs() < 300,
        "this_update {this_update}, now {now}"
    );
    assert_eq!(next_update - this_update, 30 * 86_400);
    assert_eq!(serials, [serial]);
    assert_eq!(
        std::fs::read_to_string(dir.join("crl-number"))
            .unwrap()
            .trim(),
        "3"
    );
    let refused = hotline(&dir, &["crl", "--days", "0"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("positive validity"), "{stderr}");
}
