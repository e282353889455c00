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
