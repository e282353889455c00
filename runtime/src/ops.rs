//! The operations port every service serves beside its real work (DESIGN.md section 9): plain
//! HTTP on its own listener with `/metrics` (Prometheus scrape, OpenMetrics text), `/healthz`
//! (the process runs) and `/readyz` (it can do its work; 503 with the reasons otherwise).
//!
//! The service decides what its metrics are and when it is ready ([`Probe`]); this module only
//! speaks HTTP. Like every server here it is handed an already bound listener.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of `/metrics`: the OpenMetrics text format, which Prometheus scrapes.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a service tells its operations port.
pub trait Probe: Send + Sync + 'static {
    /// The metrics exposition, refreshed as of now.
    fn metrics(&self) -> impl Future<Output = String> + Send;
    /// Each readiness check by name with its result (`Err` says what is wrong).
    fn readiness(&self) -> impl Future<Output = Vec<Check>> + Send;
}

/// One readiness check and its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `store` or `writer`.
    pub name: &'static str,
    /// `Ok` or what is wrong.
    pub result: Result<(), String>,
}

impl Check {
    /// A check that passed.
    pub fn ok(name: &'static str) -> Check {
        Check {
            name,
            result: Ok(()),
        }
    }

    /// A check that failed because of `problem`.
    pub fn failed(name: &'static str, problem: impl Into<String>) -> Check {
        Check {
            name,
            result: Err(problem.into()),
        }
    }
}

/// The `/readyz` answer for `checks`: 200 and `ready` when every check passed, else 503 with
/// one line per failed check (`not ready: <name>: <problem>`). No checks at all is not ready:
/// a service that checked nothing cannot claim to be ready.
pub fn readiness_answer(checks: &[Check]) -> (StatusCode, String) {
    if checks.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: nothing was checked\n".into(),
        );
    }
    let failed: String = checks
        .iter()
        .filter_map(|check| match &check.result {
            Ok(()) => None,
            Err(problem) => Some(format!("not ready: {}: {problem}\n", check.name)),
        })
        .collect();
    if failed.is_empty() {
        let names: Vec<&str> = checks.iter().map(|check| check.name).collect();
        (StatusCode::OK, format!("ready ({})\n", names.join(", ")))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, failed)
    }
}

/// The routes of the operations port over `probe`.
pub fn router<P: Probe>(probe: Arc<P>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::<P>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz::<P>))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found; the operations port serves /metrics, /healthz and /readyz\n",
            )
        })
        .with_state(probe)
}

/// Serves the operations port on `listener` until `shutdown`.
pub async fn serve<P: Probe>(
    listener: TcpListener,
    probe: Arc<P>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "operations port listening (/metrics, /healthz, /readyz)");
    axum::serve(listener, router(probe))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn metrics<P: Probe>(State(probe): State<Arc<P>>) -> Response {
    let body = probe.metrics().await;
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response()
}

async fn readyz<P: Probe>(State(probe): State<Arc<P>>) -> Response {
    let checks = probe.readiness().await;
    let (status, body) = readiness_answer(&checks);
    if status != StatusCode::OK {
        tracing::warn!(answer = %body.trim_end(), "not ready");
    }
    (status, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every check passing answers 200 and names what was checked; one failing answers 503
    /// naming only it and why, so a probe's log tells an operator what to fix.
    #[test]
    fn readiness_names_the_failed_check_and_why() {
        let (status, body) = readiness_answer(&[Check::ok("store"), Check::ok("writer")]);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ready (store, writer)\n");

        let (status, body) = readiness_answer(&[
            Check::ok("store"),
            Check::failed("writer", "the writer has stopped"),
        ]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: writer: the writer has stopped\n");
    }

    /// A service that checked nothing is not ready: an empty list must not read as "all fine".
    #[test]
    fn no_checks_is_not_ready() {
        let (status, body) = readiness_answer(&[]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("nothing was checked"), "{body}");
    }
}
