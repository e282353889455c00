//! The shutdown signal: the first SIGINT or SIGTERM starts a graceful shutdown (logged with the
//! signal's name); a second one exits at once.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT/SIGTERM; exits the process on the second.
pub fn install(token: CancellationToken) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        // The shutdown starts before the log line, so it never depends on the log getting out.
        token.cancel();
        announce(|| {
            tracing::info!(
                signal = name,
                "shutting down gracefully; send it again to exit at once"
            );
        });
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        announce(|| tracing::warn!("second signal: exiting now"));
        std::process::exit(130);
    });
    Ok(())
}

/// Runs `log`, surviving a panic in it: this task has to live on to turn the second signal into
/// an exit, whatever the installed subscriber does with a stdout that has gone away. (Once
/// tokio handles a signal, the default action, termination, never comes back.)
fn announce(log: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(log));
}
