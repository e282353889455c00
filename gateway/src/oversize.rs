//! Answers `RESOURCE_EXHAUSTED` where tonic answers `OUT_OF_RANGE` for a message over the size
//! limit, on every service of the gateway.
//!
//! tonic checks a message's length as soon as its 5-byte gRPC header arrives, before buffering
//! the body, and that early check is what keeps a huge message from costing memory; but it
//! reports `OUT_OF_RANGE`, which says "this value is outside the valid range" rather than "this
//! is bigger than we accept". The check stays; this layer rewrites the code on the way out. It
//! is exact because nothing of ours answers `OUT_OF_RANGE` (the gateway's `Error` has no such
//! variant, see `error.rs`), so every `OUT_OF_RANGE` leaving the server is tonic's size limit,
//! for a request (status in the headers) or an answer (status in the trailers).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::future::Map;
use http_body::{Body, Frame, SizeHint};
use tonic::codegen::http::{HeaderMap, HeaderValue, Request, Response};

/// The tower layer; see the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct OversizeLayer;

impl<S> tower_layer::Layer<S> for OversizeLayer {
    type Service = Oversize<S>;

    fn layer(&self, inner: S) -> Oversize<S> {
        Oversize { inner }
    }
}

/// A service whose size-limit statuses say `RESOURCE_EXHAUSTED`.
#[derive(Clone, Debug)]
pub struct Oversize<S> {
    inner: S,
}

type Rewrite<B, E> = fn(Result<Response<B>, E>) -> Result<Response<OversizeBody<B>>, E>;

impl<S, ReqBody, B> tower_service::Service<Request<ReqBody>> for Oversize<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<B>>,
{
    type Response = Response<OversizeBody<B>>;
    type Error = S::Error;
    type Future = Map<S::Future, Rewrite<B, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let rewrite: Rewrite<B, S::Error> = |answer| {
            answer.map(|response| {
                let (mut parts, inner) = response.into_parts();
                rewrite_status(&mut parts.headers);
                Response::from_parts(parts, OversizeBody { inner })
            })
        };
        self.inner.call(request).map(rewrite)
    }
}

/// A response body whose trailers get the same rewrite.
#[derive(Debug)]
pub struct OversizeBody<B> {
    inner: B,
}

impl<B: Body + Unpin> Body for OversizeBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &mut polled {
            if let Some(trailers) = frame.trailers_mut() {
                rewrite_status(trailers);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `grpc-status: 11` (OUT_OF_RANGE) becomes `8` (RESOURCE_EXHAUSTED); the message (which
/// names the size and the limit) stays.
fn rewrite_status(headers: &mut HeaderMap) {
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    if headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes())
    {
        let exhausted = (tonic::Code::ResourceExhausted as i32).to_string();
        if let Ok(value) = HeaderValue::from_str(&exhausted) {
            headers.insert("grpc-status", value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only OUT_OF_RANGE is rewritten; every other code (and a missing one) passes unchanged.
    #[test]
    fn only_out_of_range_becomes_resource_exhausted() {
        let status = |code: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-status", HeaderValue::from_str(code).unwrap());
            rewrite_status(&mut headers);
            headers["grpc-status"].to_str().unwrap().to_owned()
        };
        assert_eq!(status("11"), "8");
        assert_eq!(status("13"), "13");
        assert_eq!(status("3"), "3");
        assert_eq!(status("1"), "1");
        let mut none = HeaderMap::new();
        rewrite_status(&mut none);
        assert!(none.is_empty());
    }
}
