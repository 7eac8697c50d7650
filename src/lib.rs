//! Wiring: builds each service from a `Config` (pool, store, registry) and runs it until the
//! shutdown token is cancelled. `main` and the end-to-end tests both start services here.

use std::sync::Arc;

use crowd_shared::{
    db, queue::AmqpQueue, shutdown::CancellationToken, storage, store::PgStore, Config,
};
use crowd_worker::{Registry, WorkerEnv};
use futures_util::FutureExt;
use tokio::net::TcpListener;

pub use crowd_shared as shared;
pub use crowd_worker as worker;

/// Binds the API's port (`0` picks a free one).
pub async fn bind_api(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    crowd_api::bind(host, port).await
}

/// Runs the API on `listener`, after applying migrations.
pub async fn run_api(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    db::migrate(&config.database_url).await?;
    let store = Arc::new(PgStore::new(&config.database_url, config.db_pool_size)?);
    let assets = storage::from_config(&config).await?;
    let state = crowd_api::ApiState::new(&config, store, assets, Registry::builtin().catalog());
    crowd_api::serve(state, listener, shutdown).await;
    Ok(())
}

/// Runs a dispatcher, after applying migrations.
pub async fn run_dispatcher(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    db::migrate(&config.database_url).await?;
    let store = Arc::new(PgStore::new(&config.database_url, config.db_pool_size)?);
    let assets = storage::from_config(&config).await?;
    let queue = Arc::new(AmqpQueue::new(&config.amqp_url, &config.queue_prefix));
    let dispatcher = crowd_dispatcher::Dispatcher::new(&config, store, queue, assets);
    crowd_dispatcher::run(dispatcher, shutdown).await
}

/// Runs a worker with the built-in actions.
pub async fn run_worker(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let assets = storage::from_config(&config).await?;
    let queue = Arc::new(AmqpQueue::new(&config.amqp_url, &config.queue_prefix));
    let env = Arc::new(WorkerEnv::new(&config, Registry::builtin(), queue, assets)?);
    crowd_worker::run(env, shutdown).await
}

/// The api, a dispatcher and a worker in one process (still on Postgres and RabbitMQ). The
/// first part to fail stops the others, so the process never runs half a system.
pub async fn run_all(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Migrate once up front rather than race two services at it.
    db::migrate(&config.database_url).await?;
    let stop_all_on_error = |shutdown: CancellationToken| {
        move |result: anyhow::Result<()>| {
            if result.is_err() {
                shutdown.cancel();
            }
            result
        }
    };
    let (api, dispatcher, worker) = tokio::join!(
        async { run_api(config.clone(), listener, shutdown.clone()).await }
            .map(stop_all_on_error(shutdown.clone())),
        async { run_dispatcher(config.clone(), shutdown.clone()).await }
            .map(stop_all_on_error(shutdown.clone())),
        async { run_worker(config.clone(), shutdown.clone()).await }
            .map(stop_all_on_error(shutdown.clone())),
    );
    api.and(dispatcher).and(worker)
}
