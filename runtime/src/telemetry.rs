//! Tracing set-up: text or JSON, level from config unless `RUST_LOG` is set, with the chatty
//! HTTP/2 and tower internals turned down.
//!
//! Lines go to stdout through tracing-appender's non-blocking writer: one thread writes, log
//! calls only queue their line. When stdout's reader has gone (EPIPE) the writer ignores the
//! error; when it stops reading, the queue fills and further lines are dropped, so a stuck
//! stdout can neither panic a task nor block the process. [`finish`] flushes what is queued
//! (waiting at most about a second) before the process exits.

use parking_lot::Mutex;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// How many lines may wait for a slow stdout before further ones are dropped.
const QUEUED_LINES: usize = 16_384;

/// The writer thread's guard: dropping it flushes the queue and ends the thread.
static WRITER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Installs the global subscriber. `format` is `text` or `json`; `level` a filter directive.
/// A second call (tests run several services in one process) keeps the first subscriber.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},h2=warn,tower=warn,hyper=warn,rustls=warn"))
    });
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log writer")
        .finish(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        // A write error has nowhere to go (stderr may be as broken as stdout).
        .log_internal_errors(false)
        .with_writer(writer);
    let installed = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if installed.is_ok() {
        *WRITER.lock() = Some(guard);
    }
}

/// Writes out the lines still queued, waiting at most about a second for a stuck stdout; call
/// once before the process exits. Later log lines are dropped.
pub fn finish() {
    let guard = WRITER.lock().take();
    drop(guard);
}
