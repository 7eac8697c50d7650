//! Accepting connections and serving HTTP/1.1 on them. warp's own server offers no hyper
//! settings, and without a header read timeout a client that sends half a request head keeps
//! its connection, and a task, forever; a few thousand such clients exhaust the process's file
//! descriptors. So the api runs its routes on hyper itself, as warp does, with a timeout.

use std::{
    convert::Infallible,
    panic::AssertUnwindSafe,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use crowd_shared::shutdown::CancellationToken;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tracing::Instrument;

use futures_util::{future::BoxFuture, FutureExt};

use crate::{routes, unread_body::AnnouncesClose, ApiError, ApiState};

/// How long a client may take to send a request's head (the request line and headers), from
/// its first byte, or from the end of the previous response on a kept-alive connection; then
/// the connection is closed without an answer. hyper applies it to idle kept-alive connections
/// too, so it is also their idle timeout. A head is a few hundred bytes: any live client sends
/// it in well under a second.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait before accepting again after an error that is not about one connection
/// (out of file descriptors): the next accept would fail the same way at once.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves the api's routes on `listener` until `shutdown`, then stops accepting and waits for
/// the connections open to finish their requests under way (idle ones close at once).
pub async fn run(state: Arc<ApiState>, listener: TcpListener, shutdown: CancellationToken) {
    let routes = routes::routes(state);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = GracefulShutdown::new();
    loop {
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    pause_after(e, &shutdown).await;
                    continue;
                }
            },
        };
        let service = warp::service(routes.clone());
        let service = TowerToHyperService::new(AnnouncesClose(Unwinding(service)));
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        // Each connection on a task of its own, so that a slow one holds up no other.
        tokio::spawn(
            async move {
                if let Err(e) = connection.await {
                    // A client that stalled, sent what is not HTTP or went away: its problem,
                    // not the api's.
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            // warp's `addr::remote()` cannot be fed from outside warp, and no route uses it;
            // log lines of the connection's requests carry the address instead.
            .instrument(tracing::info_span!("connection", remote.addr = %remote)),
        );
    }
    drop(listener);
    connections.shutdown().await;
}

/// A request whose handler panics (a bug) gets a 500 in the api's JSON, instead of its
/// connection closing without an answer.
#[derive(Clone)]
struct Unwinding<S>(S);

impl<S, R> tower_service::Service<R> for Unwinding<S>
where
    S: tower_service::Service<R, Response = warp::reply::Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = warp::reply::Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let handling = self.0.call(request);
        Box::pin(async move {
            match AssertUnwindSafe(handling).catch_unwind().await {
                Ok(response) => response,
                Err(_) => {
                    let bug = ApiError::Internal(anyhow::anyhow!("a request handler panicked"));
                    crate::error::recover(warp::reject::custom(bug)).await
                }
            }
        })
    }
}

/// After a failed accept: errors about the one connection are the client's, and the next
/// accept is fine; others (too many open files) are logged and waited out.
async fn pause_after(e: std::io::Error, shutdown: &CancellationToken) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service;

    /// A service whose handler has a bug.
    #[derive(Clone)]
    struct Panics;

    impl Service<()> for Panics {
        type Response = warp::reply::Response;
        type Error = Infallible;
        type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: ()) -> Self::Future {
            Box::pin(async { panic!("a bug") })
        }
    }

    #[tokio::test]
    async fn a_handler_that_panics_answers_500_in_json() {
        let response = Unwinding(Panics).call(()).await.expect("infallible");
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
    }
}
