//! The listener of a process without an api of its own (a dispatcher, a worker), on
//! `metrics_host:metrics_port`: `/healthz` and `/readyz` for probes (no login, as on the api),
//! `/metrics` behind `metrics_login` or the api's login.

use std::sync::Arc;

use crowd_shared::{health::Readiness, metrics, shutdown::CancellationToken};
use tokio::net::TcpListener;
use warp::{http::StatusCode, Filter, Rejection, Reply};

use crate::{auth, error, methods};

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    readiness: Readiness,
    credentials: Option<(String, String)>,
    shutdown: CancellationToken,
) {
    metrics::install();
    tracing::info!(addr = ?listener.local_addr().ok(), "metrics and probes listening");
    let readiness = Arc::new(readiness);
    let healthz = warp::path!("healthz")
        .and(methods::only(methods::READ))
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})));
    let readyz = warp::path!("readyz")
        .and(methods::only(methods::READ))
        .and(warp::any().map(move || readiness.clone()))
        .and_then(ready);
    let scrape = warp::path!("metrics")
        .and(methods::only(methods::READ))
        .and(auth::require(credentials))
        .map(|| {
            warp::reply::with_header(
                metrics::render(),
                "content-type",
                "text/plain; version=0.0.4; charset=utf-8",
            )
        });
    let routes = healthz.or(readyz).or(scrape).recover(error::recover);
    warp::serve(routes)
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run()
        .await;
}

async fn ready(readiness: Arc<Readiness>) -> Result<impl Reply, Rejection> {
    let (ready, body) = readiness.check().await;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(warp::reply::with_status(warp::reply::json(&body), code))
}
