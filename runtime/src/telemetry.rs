//! Tracing set-up: text or JSON, level from config unless `RUST_LOG` is set, with the chatty
//! HTTP/2 and tower internals turned down. Lines go to stdout through one writer thread
//! ([`StdoutLog`]), so a stdout whose reader has gone or stopped reading can neither panic a
//! task nor block the process for good.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// How long a log call waits for its line to reach stdout before stdout counts as stuck.
const STALL: Duration = Duration::from_secs(1);

/// How many bytes of lines may wait for a stuck stdout; further lines are dropped (and
/// counted) until it moves again.
const BACKLOG_BYTES: usize = 1 << 20;

/// Installs the global subscriber. `format` is `text` or `json`; `level` a filter directive.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},h2=warn,tower=warn,hyper=warn,rustls=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(stdout_writer());
    let installed = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if installed.is_err() {
        // Already installed (tests run several gateways in one process): keep the first.
    }
}

/// The process's [`StdoutLog`], or plain stdout if its thread cannot be started.
fn stdout_writer() -> BoxMakeWriter {
    static STARTED: OnceLock<bool> = OnceLock::new();
    let started = *STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("log writer".into())
            .spawn(|| STDOUT_LOG.drain())
            .is_ok()
    });
    if started {
        BoxMakeWriter::new(&STDOUT_LOG)
    } else {
        BoxMakeWriter::new(io::stdout)
    }
}

static STDOUT_LOG: StdoutLog = StdoutLog {
    backlog: Mutex::new(Backlog {
        lines: VecDeque::new(),
        bytes: 0,
        queued: 0,
        written: 0,
        stuck: false,
        dropped: 0,
    }),
    arrived: Condvar::new(),
    written: Condvar::new(),
};

thread_local! {
    /// Set on the writer thread, whose own events must never wait for themselves.
    static ON_WRITER: Cell<bool> = const { Cell::new(false) };
}

/// The log's way to stdout: lines queue for one writer thread. A log call waits until its line
/// is written, as a plain write to stdout would (so the log stays in order with other output
/// and nothing is lost at exit), but at most [`STALL`]: then stdout counts as stuck, and calls
/// only queue their line (or drop it when [`BACKLOG_BYTES`] wait) until a write completes.
/// Write errors are ignored: when the reader has gone (EPIPE) there is nobody left to tell.
struct StdoutLog {
    backlog: Mutex<Backlog>,
    /// Signalled when a line is queued.
    arrived: Condvar,
    /// Signalled when a line has been written.
    written: Condvar,
}

/// The lines waiting for stdout, and how far the writer has got.
struct Backlog {
    lines: VecDeque<Vec<u8>>,
    /// The bytes in `lines`.
    bytes: usize,
    /// Lines queued so far; the number of the newest is its ticket.
    queued: u64,
    /// Lines written (or failed) so far.
    written: u64,
    /// A log call waited [`STALL`] in vain and no write has completed since.
    stuck: bool,
    /// Lines dropped since the last report.
    dropped: u64,
}

impl StdoutLog {
    fn lock(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `line` and waits until it is written, unless stdout is stuck.
    fn submit(&self, line: &[u8]) {
        let mut backlog = self.lock();
        if backlog.bytes + line.len() > BACKLOG_BYTES {
            backlog.dropped += 1;
            return;
        }
        backlog.bytes += line.len();
        backlog.lines.push_back(line.to_vec());
        backlog.queued += 1;
        let ticket = backlog.queued;
        self.arrived.notify_one();
        if backlog.stuck || ON_WRITER.get() {
            return;
        }
        let (mut backlog, wait) = self
            .written
            .wait_timeout_while(backlog, STALL, |b| b.written < ticket)
            .unwrap_or_else(PoisonError::into_inner);
        if wait.timed_out() {
            backlog.stuck = true;
        }
    }

    /// The writer thread: writes the queued lines in order, for the life of the process.
    fn drain(&self) {
        ON_WRITER.set(true);
        let mut stdout = io::stdout();
        loop {
            let line = {
                let mut backlog = self.lock();
                loop {
                    if let Some(line) = backlog.lines.pop_front() {
                        break line;
                    }
                    backlog = self
                        .arrived
                        .wait(backlog)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            let _ = stdout.write_all(&line).and_then(|()| stdout.flush());
            let dropped = {
                let mut backlog = self.lock();
                backlog.bytes -= line.len();
                backlog.written += 1;
                backlog.stuck = false;
                self.written.notify_all();
                std::mem::take(&mut backlog.dropped)
            };
            if dropped > 0 {
                tracing::warn!(dropped, "log lines dropped while stdout was not being read");
            }
        }
    }
}

impl<'a> MakeWriter<'a> for &'static StdoutLog {
    type Writer = &'static StdoutLog;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// The formatter hands over each event in one `write`, so one write is one line.
impl Write for &StdoutLog {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.submit(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
