//! SIGTERM stops a real adapter process whatever state its stdout (where the log goes) is in:
//! piped into a reader that has gone away (`hotline-adapter | head -1`, also with stderr broken
//! as by `2>&1`), or into one that is alive but no longer reading, so the pipe is full.

#![cfg(target_os = "linux")]

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use hotline_tests::harness::{Pki, RunningGateway, federation_config};
use hotline_tests::processes::adapter_toml;
use hotline_tests::sites::{adapter_config, child_adapter_command};

/// `O_NONBLOCK` on Linux (all the architectures the tests run on), so the test can fill a pipe
/// without blocking itself.
const O_NONBLOCK: i32 = 0o4000;

/// What the reader of the adapter's stdout does once the adapter is listening.
#[derive(Clone, Copy, Debug)]
enum StdoutReader {
    /// It goes away (closes its end): every write fails with EPIPE.
    Gone,
    /// It stays but reads no more, and the pipe is filled: every write blocks.
    Stalled,
}

/// An adapter process; SIGKILLed when dropped so a failing test leaves no orphan.
struct AdapterProcess(Child);

impl Drop for AdapterProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a gateway and an adapter process with its stdout on a pipe (and, with `stderr_too`,
/// its stderr on another one whose reader goes away with stdout's); once the adapter logs that
/// its API listens, lets stdout's reader do what `reader` says, sends SIGTERM and returns how
/// the process ended; an error if it still runs 20 s later.
async fn sigterm_with_stdout(reader: StdoutReader, stderr_too: bool) -> anyhow::Result<ExitStatus> {
    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let config = adapter_config(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )?;
    let config_path = pki.dir.path().join("adapter.toml");
    std::fs::write(&config_path, adapter_toml(&config))?;

    let mut child = child_adapter_command(&config_path)?
        .env("RUST_LOG", "warn,hotline_gateway=info,hotline_adapter=info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if stderr_too {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let child = AdapterProcess(child);
    let stdout = stdout.ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let log = tokio::task::spawn_blocking(move || until_listening(stdout)).await??;
    match reader {
        StdoutReader::Gone => drop((log, stderr)),
        StdoutReader::Stalled => fill(&child.0)?,
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -TERM failed");
    let exit = wait_for_exit(child, Duration::from_secs(20)).await;
    gateway.stop().await?;
    exit
}

/// Reads the log from `reader` until the adapter's API listens (at most 30 s: the reading
/// thread is abandoned after that) and returns the reader, unread from there on.
fn until_listening(reader: ChildStdout) -> anyhow::Result<BufReader<ChildStdout>> {
    let (found, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = String::new();
        let outcome = loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break Err(anyhow::anyhow!("the adapter exited before listening")),
                Ok(_) if line.contains("adapter API listening") => break Ok(()),
                Ok(_) => {}
                Err(e) => break Err(e.into()),
            }
        };
        let _ = found.send(outcome.map(|()| reader));
    });
    result
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| anyhow::anyhow!("the adapter did not listen within 30 s"))?
}

/// Fills the pipe on `child`'s stdout until a write would block, through a non-blocking
/// handle of its own, so the adapter's next write blocks.
fn fill(child: &Child) -> anyhow::Result<()> {
    let mut pipe = OpenOptions::new()
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(format!("/proc/{}/fd/1", child.id()))?;
    // Whole pages first, then single bytes for what is left of the last one.
    for chunk in [&[b'.'; 4096][..], b"."] {
        loop {
            match pipe.write(chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Polls `child` until it exits or `deadline` has passed.
async fn wait_for_exit(
    mut child: AdapterProcess,
    deadline: Duration,
) -> anyhow::Result<ExitStatus> {
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(status) = child.0.try_wait()? {
            return Ok(status);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < give_up,
            "the adapter was still running {} s after SIGTERM",
            deadline.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that `exit` is the adapter's own clean exit, not a kill by a signal or an error.
fn assert_stopped_cleanly(exit: ExitStatus) {
    assert_eq!(
        (exit.code(), exit.signal()),
        (Some(0), None),
        "the adapter did not stop cleanly: {exit}"
    );
}

/// `hotline-adapter | head -1` after `head` has exited: SIGTERM still stops the adapter
/// gracefully, although every log line now fails with EPIPE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_adapter_whose_stdout_reader_is_gone() {
    let exit = sigterm_with_stdout(StdoutReader::Gone, false)
        .await
        .unwrap();
    assert_stopped_cleanly(exit);
}

/// As `hotline-adapter 2>&1 | head -1` after `head` has exited: with stderr broken too,
/// SIGTERM still stops the adapter gracefully, although not even a failed log write can be
/// reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_adapter_whose_stdout_and_stderr_reader_is_gone() {
    let exit = sigterm_with_stdout(StdoutReader::Gone, true).await.unwrap();
    assert_stopped_cleanly(exit);
}

/// A reader that is alive but stopped reading (a suspended pager, a stuck log shipper): SIGTERM
/// still stops the adapter gracefully, although every log write would block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_adapter_whose_stdout_pipe_is_full() {
    let exit = sigterm_with_stdout(StdoutReader::Stalled, false)
        .await
        .unwrap();
    assert_stopped_cleanly(exit);
}
