//! The metrics and probes listener of a dispatcher or a worker run on its own: bound at start
//! (a port in use is an error then, not later), served until shutdown; none without
//! `metrics_port`.

use crowd_shared::{health::Readiness, shutdown::CancellationToken, Config};
use tokio::net::TcpListener;

pub async fn bind(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    match config.metrics_port {
        Some(port) => Ok(Some(crowd_api::bind(&config.metrics_host, port).await?)),
        None => Ok(None),
    }
}

/// Serves `listener`, if there is one, until `shutdown`.
pub async fn serve(
    listener: Option<TcpListener>,
    readiness: Readiness,
    config: &Config,
    shutdown: CancellationToken,
) {
    let Some(listener) = listener else {
        return;
    };
    let credentials = config
        .metrics_credentials()
        .map(|(login, password)| (login.to_string(), password.to_string()));
    crowd_api::probes::serve(listener, readiness, credentials, shutdown).await;
}
