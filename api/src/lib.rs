//! The HTTP API, CloudCrowd-compatible: `POST /jobs`, `GET|DELETE /jobs/:id`, `GET /status`,
//! `GET /heartbeat`; and for people: `GET /jobs` (pages), `GET /jobs/:id/units`, `GET /events`
//! (live snapshots) and the operations page at `/`. Connections served in `server`, filters in
//! `routes`, handlers in `handlers`, `listing`, `events` and `ops_page`, one error type in
//! `error`.

mod actions;
mod allowed_hosts;
mod auth;
mod blacklist;
mod body_budget;
mod error;
mod events;
mod handlers;
mod history;
mod idempotency_key;
mod job_body;
mod job_fields;
mod job_request;
mod listing;
mod methods;
mod metrics_page;
mod openapi;
mod ops_page;
pub mod probes;
mod routes;
mod same_origin;
mod server;
mod short;
mod unread_body;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use crowd_shared::{
    catalog::Catalog, health::Readiness, queue::Queue, shutdown::CancellationToken,
    storage::AssetStore, store::Store, Config,
};
use tokio::net::TcpListener;

pub use error::ApiError;

/// What every request handler can reach.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    /// Told of deleted jobs, so workers stop their units.
    pub queue: Arc<dyn Queue>,
    /// Where jobs' files are, so deleting a job deletes them too.
    pub assets: Arc<dyn AssetStore>,
    pub catalog: Catalog,
    pub max_body_bytes: u64,
    pub max_inputs: usize,
    /// Largest work message; a job with a unit bigger is refused.
    pub max_message_bytes: u64,
    /// How long an `Idempotency-Key` names the job it created.
    pub idempotency_retention: Duration,
    /// Outputs a job lists at most, and so the largest page of them.
    pub max_listed_outputs: i64,
    /// Memory for the bodies of posts being read and parsed at once.
    pub body_budget: body_budget::BodyBudget,
    /// A node unheard for this long is no longer listed.
    pub node_ttl: Duration,
    pub credentials: Option<(String, String)>,
    /// Who may read `/metrics` (`metrics_login`, or the api's login).
    pub metrics_credentials: Option<(String, String)>,
    /// What `/readyz` checks.
    pub readiness: Readiness,
    /// Host names the api answers to (any when empty).
    pub allowed_hosts: Arc<Vec<String>>,
    /// What `/events` streams.
    pub snapshots: events::Snapshots,
    /// Ends the open event streams when the api shuts down.
    pub stop_streams: CancellationToken,
}

impl ApiState {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        assets: Arc<dyn AssetStore>,
        catalog: Catalog,
    ) -> Arc<Self> {
        crowd_shared::metrics::install();
        Arc::new(ApiState {
            readiness: Readiness::api(store.clone(), queue.clone()),
            store,
            queue,
            assets,
            catalog,
            max_body_bytes: config.max_body_bytes,
            max_inputs: config.max_inputs,
            max_message_bytes: config.max_message_bytes,
            max_listed_outputs: config.max_listed_outputs,
            idempotency_retention: Duration::from_secs(config.idempotency_key_secs),
            body_budget: body_budget::BodyBudget::for_bodies_of(config.max_body_bytes),
            node_ttl: config.heartbeat_interval() * 3,
            credentials: config
                .credentials()
                .map(|(l, p)| (l.to_string(), p.to_string())),
            metrics_credentials: config
                .metrics_credentials()
                .map(|(l, p)| (l.to_string(), p.to_string())),
            allowed_hosts: Arc::new(config.allowed_hosts.clone()),
            snapshots: events::Snapshots::new(),
            stop_streams: CancellationToken::new(),
        })
    }
}

/// Binds the API's port (`0` picks a free one, as tests do).
pub async fn bind(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind((host, port))
        .await
        .with_context(|| format!("binding {host}:{port}"))
}

/// Serves until `shutdown`, then finishes the requests under way.
pub async fn serve(state: Arc<ApiState>, listener: TcpListener, shutdown: CancellationToken) {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, "api listening");
    let snapshots = {
        let (state, shutdown) = (state.clone(), shutdown.clone());
        tokio::spawn(async move {
            let store = state.store.clone();
            state.snapshots.run(store, state.node_ttl, shutdown).await;
        })
    };
    let stop_streams = state.stop_streams.clone();
    let shutdown_streams = shutdown.clone();
    tokio::spawn(async move {
        shutdown_streams.cancelled().await;
        stop_streams.cancel();
    });
    server::run(state, listener, shutdown).await;
    let _ = snapshots.await;
}
