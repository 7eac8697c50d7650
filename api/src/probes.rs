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
        .map(alive);
    let readyz = warp::path!("readyz")
        .and(methods::only(methods::READ))
        .and(warp::any().map(move || readiness.clone()))
        .and_then(|readiness: Arc<Readiness>| async move { ready(&readiness).await });
    let scrape = warp::path!("metrics")
        .and(methods::only(methods::READ))
        .and(auth::require(credentials))
        .map(|| prometheus_text(metrics::render()));
    let routes = healthz.or(readyz).or(scrape).recover(error::recover);
    warp::serve(routes)
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run()
        .await;
}

/// `/healthz`: the process answers.
pub(crate) fn alive() -> impl Reply {
    warp::reply::json(&serde_json::json!({"status": "ok"}))
}

/// `/readyz`: 200 when `readiness` holds, 503 otherwise; the body says what was checked.
pub(crate) async fn ready(readiness: &Readiness) -> Result<impl Reply, Rejection> {
    let (ready, body) = readiness.check().await;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(warp::reply::with_status(warp::reply::json(&body), code))
}

/// `/metrics`'s answer: Prometheus' text format.
pub(crate) fn prometheus_text(text: String) -> impl Reply {
    warp::reply::with_header(
        text,
        "content-type",
        "text/plain; version=0.0.4; charset=utf-8",
    )
}
