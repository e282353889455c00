//! Tracing set-up: text or JSON, level from config unless `RUST_LOG` is set, with the chatty
//! HTTP/2 and tower internals turned down.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `format` is `text` or `json`; `level` a filter directive.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},h2=warn,tower=warn,hyper=warn,rustls=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let installed = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if installed.is_err() {
        // Already installed (tests run several gateways in one process): keep the first.
    }
}
