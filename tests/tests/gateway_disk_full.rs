//! A full disk under the gateway, on each engine: its data directory sits on a small tmpfs that
//! fills up.
//! Pushes are then refused with UNAVAILABLE, nothing that was acknowledged is lost or
//! damaged, and the gateway takes writes again, without a restart, once space returns.
//!
//! The tmpfs is mounted in a private mount namespace (`unshare`), so the test needs no
//! privileges beyond a user namespace and leaves no mount behind: the parent test re-runs this
//! binary's ignored `disk_full_child` inside the namespace.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use hotline_federation::Change;
use hotline_federation::model::{EntityKey, EntityKind, Visibility};
use hotline_tests::changes::{accepted, comment, number, open_ticket, push};
use hotline_tests::harness::{Pki, RunningGateway, federation_config, gateway_view, lease};

const DIR_VAR: &str = "HOTLINE_DISK_FULL_DIR";
/// The engine the child's gateway stores with.
const ENGINE_VAR: &str = "HOTLINE_DISK_FULL_ENGINE";
/// Size of the tmpfs.
const TMPFS_MIB: usize = 24;
/// Space left free for the store once the filler is written.
const HEADROOM_BYTES: u64 = 768 * 1024;

/// Runs the scenario in its own mount namespace, once per engine (redb, the default for a new
/// store, and sled, which earlier stores keep), and fails with the child's output if a child
/// fails.
#[test]
fn full_disk_refuses_pushes_keeps_data_and_recovers() {
    for engine in ["redb", "sled"] {
        on_a_full_disk(engine);
    }
}

fn on_a_full_disk(engine: &str) {
    let mount_point = tempfile::tempdir().expect("a temporary directory");
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new("unshare");
    // Root only needs a private mount namespace; anyone else maps itself to root in a new user
    // namespace, which may mount a tmpfs there.
    if hotline_runtime::local_postgres::is_root() {
        command.args(["--mount", "--propagation", "private"]);
    } else {
        command.args(["--user", "--map-root-user", "--mount"]);
    }
    let output = command
        .arg(&exe)
        .args([
            "--exact",
            "gateway_disk_full::disk_full_child",
            "--ignored",
            "--nocapture",
        ])
        .env(DIR_VAR, mount_point.path())
        .env(ENGINE_VAR, engine)
        .output()
        .expect("unshare (util-linux) must be installed to run this test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the disk-full scenario failed on {engine} ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

/// Writes zeros to `path` until the file system is full, then gives `headroom` bytes back.
fn fill(path: &Path, headroom: u64) -> std::io::Result<u64> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => return Err(e),
        }
    }
    let _ = file.flush();
    file.set_len(written.saturating_sub(headroom))?;
    Ok(written)
}

/// A change pair (a new ticket and a large comment on it) that takes space in the store.
fn ticket_with_comment(number: &str, seq: u64) -> Vec<Change> {
    let body = format!("{number}: ").repeat(800);
    vec![
        open_ticket(number, "twenty4help", "dortmund", "finance-hr", seq),
        comment(
            number,
            "twenty4help",
            "dortmund",
            seq + 1,
            &format!("dortmund-{seq}"),
            Visibility::Public,
            &body,
        ),
    ]
}

/// Every acknowledged ticket is in the gateway's view with its comment.
fn assert_all_present(
    gateway: &RunningGateway,
    acknowledged: &[String],
    when: &str,
) -> anyhow::Result<()> {
    let view = gateway_view(&gateway.state, "twenty4help")?;
    for number in acknowledged {
        let state = view
            .entities
            .get(&EntityKey::new(EntityKind::Ticket, number.clone()))
            .unwrap_or_else(|| panic!("{when}: acknowledged ticket {number} is missing"));
        assert_eq!(
            state.comments.len(),
            1,
            "{when}: ticket {number} lost its comment"
        );
    }
    Ok(())
}

/// The scenario; runs only inside the namespace the parent test makes.
#[tokio::test]
#[ignore = "run by full_disk_refuses_pushes_keeps_data_and_recovers inside a mount namespace"]
async fn disk_full_child() -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::var(DIR_VAR)?);
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_MIB}m"), "tmpfs"])
        .arg(&root)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "cannot mount a tmpfs on {}",
        root.display()
    );

    let pki = Pki::new()?;
    let data = root.join("gateway");
    let mut config = federation_config(&pki, &data);
    config.storage = std::env::var(ENGINE_VAR)?;
    let gateway = RunningGateway::start(config.clone()).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund, 1000).await?;

    let filler = root.join("filler");
    let filled = fill(&filler, HEADROOM_BYTES)?;
    println!("filler wrote {filled} bytes, gave back {HEADROOM_BYTES}");

    // Push until the disk is full. Each push is either acknowledged or refused with
    // UNAVAILABLE; nothing else is acceptable.
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..block.count as u64 {
        let number = number(&block, i);
        let changes = ticket_with_comment(&number, 2 * i + 1);
        match dortmund.push(push(&changes)).await {
            Ok(response) => {
                accepted(&response.into_inner())?;
                acknowledged.push(number);
            }
            Err(status) => {
                assert_eq!(
                    status.code(),
                    tonic::Code::Unavailable,
                    "a full disk must give UNAVAILABLE: {status:?}"
                );
                println!(
                    "refused after {} pushes: {}",
                    acknowledged.len(),
                    status.message()
                );
                refused = Some((i, changes));
                break;
            }
        }
    }
    let Some((refused_at, refused_changes)) = refused else {
        anyhow::bail!("the disk never filled after {} pushes", acknowledged.len());
    };
    anyhow::ensure!(
        !acknowledged.is_empty(),
        "the very first push was refused; the headroom is too small to show anything"
    );

    // While the disk stays full, a retry is refused the same way, or, on redb, may be
    // acknowledged: redb reuses pages freed inside its file, so a small batch can commit (and
    // fsync) without the file growing. Either answer is correct; anything else is not.
    for _ in 0..3 {
        match dortmund.push(push(&refused_changes)).await {
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            }
            Ok(response) => {
                assert_eq!(
                    std::env::var(ENGINE_VAR)?,
                    "redb",
                    "only redb can commit into free pages of its file"
                );
                accepted(&response.into_inner())?;
                println!("a retry was committed into free pages of the file");
                break;
            }
        }
    }

    // An adapter whose disk is full is told so, not sent to quarantine a healthy store.
    match hotline_adapter::integrity::open_db(&root.join("adapter")) {
        Err(hotline_adapter::error::Error::File { problem, .. }) => assert!(
            problem.contains("not damaged"),
            "a full disk must not read as damage: {problem}"
        ),
        Err(other) => panic!("a full disk read as {other}"),
        Ok(_) => panic!("sled opened a new store on a full disk; the headroom check is wrong"),
    }

    // Space returns: the refused push goes through without a restart (as new, or as a
    // duplicate if its batch reached the disk before the failure).
    std::fs::remove_file(&filler)?;
    let response = dortmund.push(push(&refused_changes)).await?.into_inner();
    accepted(&response)?;
    acknowledged.push(number(&block, refused_at));
    let more = ticket_with_comment(&number(&block, refused_at + 1), 2 * refused_at + 3);
    accepted(&dortmund.push(push(&more)).await?.into_inner())?;
    acknowledged.push(number(&block, refused_at + 1));
    assert_all_present(&gateway, &acknowledged, "after space returned")?;

    // Nothing stored was damaged: a restart reads every acknowledged change back.
    gateway.stop().await?;
    let gateway = RunningGateway::start(config).await?;
    assert_all_present(&gateway, &acknowledged, "after a restart")?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let again = dortmund.push(push(&more)).await?.into_inner();
    assert!(
        accepted(&again)?.iter().all(|(_, duplicate)| *duplicate),
        "the last acknowledged push must be known as a duplicate after the restart"
    );
    println!("acknowledged {} pushes in all", acknowledged.len());
    gateway.stop().await
}
