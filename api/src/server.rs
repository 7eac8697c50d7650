//! Accepting connections and serving HTTP/1.1 on them. warp's own server offers no hyper
//! settings, and without a header read timeout a client that sends half a request head keeps
//! its connection, and a task, forever; a few thousand such clients exhaust the process's file
//! descriptors. So the api runs its routes on hyper itself, as warp does, with a timeout.

use std::{sync::Arc, time::Duration};

use crowd_shared::shutdown::CancellationToken;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::{routes, ApiState};

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
        let service = TowerToHyperService::new(warp::service(routes.clone()));
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
