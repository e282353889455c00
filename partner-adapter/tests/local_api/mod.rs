//! The local API in this process, without a gateway: a site's router over a fresh store, and
//! requests sent straight to it. For the tests of the API's own behaviour (routes, document,
//! errors); the end-to-end suites in `tests/` run it behind real sockets.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use hotline_adapter::api::{App, router};
use hotline_adapter::config::{AdapterConfig, ToolToken};
use hotline_adapter::events::TicketEvents;
use hotline_adapter::kb::KnowledgeIndex;
use hotline_adapter::mapping::{Mapping, MappingConfig};
use hotline_adapter::replica::{LocalWriter, Replica};
use hotline_adapter::sync::SyncStatus;
use http_body_util::BodyExt;
use serde_json::Value;
use tower_service::Service;

/// The token the site's one tool holds.
pub(crate) const TOKEN: &str = "local-api-token-0123456789";

/// A site's API over a store in a temporary directory.
pub(crate) struct LocalApi {
    /// The router, as served.
    pub(crate) router: Router,
    /// The site's state (not every suite reads it).
    #[allow(dead_code)]
    pub(crate) app: Arc<App>,
    _dir: tempfile::TempDir,
}

/// One answer: status, headers and JSON body (`Null` when empty).
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The headers (not every suite reads them).
    #[allow(dead_code)]
    pub(crate) headers: HeaderMap,
    pub(crate) json: Value,
}

impl LocalApi {
    /// The API of dortmund (twenty4help) with `mapping`.
    pub(crate) fn new(mapping: MappingConfig) -> LocalApi {
        Self::of_site("twenty4help", "dortmund", mapping)
    }

    /// The API of `site` of `tenant` with `mapping`.
    pub(crate) fn of_site(tenant: &str, site: &str, mapping: MappingConfig) -> LocalApi {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = AdapterConfig {
            tenant: tenant.into(),
            site: site.into(),
            data_dir: dir.path().to_path_buf(),
            tools: vec![ToolToken {
                name: "crm".into(),
                token: TOKEN.into(),
            }],
            ..AdapterConfig::default()
        };
        config.mapping = mapping;
        let mapping = Mapping::new(&config.mapping).expect("mapping");
        let replica = Replica::open(dir.path(), site, tenant, 60_000).expect("store");
        let knowledge = KnowledgeIndex::in_memory(&replica).expect("knowledge index");
        let replica = Arc::new(replica);
        let files = hotline_adapter::files::Files::open(dir.path(), &config.files).expect("files");
        let app = Arc::new(App {
            files: Arc::new(files),
            knowledge: Arc::new(knowledge),
            writer: LocalWriter::start(&replica).expect("writer"),
            replica,
            events: Arc::new(TicketEvents::new(
                Vec::new(),
                mapping.clone(),
                site.into(),
                Arc::default(),
            )),
            mapping,
            config: Arc::new(config),
            status: Arc::new(SyncStatus::default()),
            outbox: Arc::default(),
            metrics: Arc::new(hotline_adapter::metrics::AdapterMetrics::new(tenant, site)),
            decisions: Default::default(),
        });
        LocalApi {
            router: router(app.clone()),
            app,
            _dir: dir,
        }
    }

    /// Sends `body` with `authorization` (none when `None`).
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let request = request.body(Body::from(body.to_vec())).expect("request");
        let response = self.router.clone().call(request).await.expect("infallible");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {bytes:?}"))
        };
        Answer {
            status,
            headers,
            json,
        }
    }

    /// Sends `body` with the tool's token.
    pub(crate) async fn call(&self, method: &str, path: &str, body: &[u8]) -> Answer {
        self.send(method, path, Some(&format!("Bearer {TOKEN}")), body)
            .await
    }
}
