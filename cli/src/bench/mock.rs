//! The baselines' server: the Federation service with no gateway behind it, on the same mTLS
//! accept loop. `Push` answers every change as accepted without storing anything (B1: raw
//! unary cost); `Subscribe` streams one prepared event as fast as the client takes it (B2: raw
//! server-stream cost).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hotline_gateway::tls::{AcceptLimits, ServerTls, TlsFiles, incoming};
use hotline_proto::prepared::PreparedSyncEvent;
use hotline_proto::v1 as pb;
use pb::federation_server::{Federation, FederationServer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// The mock service.
#[derive(Debug, Default)]
pub struct MockFederation {
    seq: AtomicU64,
    /// The event every subscription repeats.
    pub event: pb::SyncEvent,
}

#[tonic::async_trait]
impl Federation for MockFederation {
    async fn push(
        &self,
        request: Request<pb::PushRequest>,
    ) -> Result<Response<pb::PushResponse>, Status> {
        let results = request
            .into_inner()
            .changes
            .iter()
            .map(|c| pb::ChangeResult {
                origin_seq: c.origin_seq,
                outcome: Some(pb::change_result::Outcome::Accepted(pb::Accepted {
                    global_seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
                    duplicate: false,
                    ..pb::Accepted::default()
                })),
            })
            .collect();
        Ok(Response::new(pb::PushResponse {
            results,
            checkpoint: None,
        }))
    }

    type SubscribeStream =
        tokio_stream::wrappers::ReceiverStream<Result<PreparedSyncEvent, Status>>;

    async fn subscribe(
        &self,
        _: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let event = self.event.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            loop {
                cursor += 1;
                let mut event = event.clone();
                event.cursor = cursor;
                // Encoded per event, as each carries its own cursor.
                if tx.send(Ok(PreparedSyncEvent::new(&event))).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn lease(
        &self,
        _: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseResponse>, Status> {
        Err(Status::unimplemented("the baseline server leases nothing"))
    }

    async fn fetch(
        &self,
        _: Request<pb::FetchRequest>,
    ) -> Result<Response<pb::FetchResponse>, Status> {
        Err(Status::unimplemented(
            "the baseline server holds no entities",
        ))
    }
    async fn report(
        &self,
        _: Request<pb::SiteReport>,
    ) -> Result<Response<pb::SiteReportResponse>, Status> {
        Err(Status::unimplemented(
            "the baseline server keeps no site reports",
        ))
    }

    async fn file_status(
        &self,
        _: Request<pb::FileStatusRequest>,
    ) -> Result<Response<pb::FileStatusResponse>, Status> {
        Err(Status::unimplemented("the baseline server keeps no files"))
    }

    async fn put_file(
        &self,
        _: Request<tonic::Streaming<pb::FilePiece>>,
    ) -> Result<Response<pb::PutFileResponse>, Status> {
        Err(Status::unimplemented("the baseline server keeps no files"))
    }

    type GetFileStream = tokio_stream::Empty<Result<pb::FileChunk, Status>>;

    async fn get_file(
        &self,
        _: Request<pb::GetFileRequest>,
    ) -> Result<Response<Self::GetFileStream>, Status> {
        Err(Status::unimplemented("the baseline server keeps no files"))
    }
}

/// Serves the mock on `listener` with the TLS files until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    files: TlsFiles,
    event: pb::SyncEvent,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tls = Arc::new(ServerTls::load(&files)?);
    let connections = incoming(listener, tls, AcceptLimits::default(), shutdown.clone());
    let service = MockFederation {
        seq: AtomicU64::new(0),
        event,
    };
    tonic::transport::Server::builder()
        .max_concurrent_streams(Some(1024))
        .add_service(FederationServer::new(service).max_decoding_message_size(16 * 1024 * 1024))
        .serve_with_incoming_shutdown(connections, shutdown.cancelled())
        .await?;
    Ok(())
}
