//! Wiring: builds each service from a `Config` and its backends (store, queue, asset store)
//! and runs it until the shutdown token is cancelled. `main` and the tests both start
//! services here.

mod backends;
pub mod exposure;
pub mod one_machine;
pub mod private_dir;
mod probes;
mod worker_flags;

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use crowd_shared::{
    health::Readiness,
    jobs,
    queue::{AmqpQueue, Queue},
    retry,
    shutdown::CancellationToken,
    storage::{self, AssetStore},
    Config,
};
use crowd_worker::{Registry, WorkerEnv};
use tokio::net::TcpListener;

pub use backends::{Backends, Choice};
pub use crowd_shared as shared;
pub use crowd_worker as worker;
pub use worker_flags::WorkerFlags;

/// Binds the api's address from `port` and `host` (flags; the configuration's otherwise), if
/// it may listen there (`exposure::check`), warning when it is open to anyone.
pub async fn bind_checked(
    config: &mut Config,
    port: Option<u16>,
    host: Option<String>,
) -> anyhow::Result<TcpListener> {
    if let Some(port) = port {
        config.port = port;
    }
    if let Some(host) = host {
        config.host = host;
    }
    if exposure::check(&config.host, config)? == exposure::Exposure::Anonymous {
        tracing::warn!(
            host = %config.host,
            "THE API IS OPEN TO ANYONE WHO CAN REACH {}: no login is set and allow_anonymous is on",
            config.host
        );
    }
    bind_api(&config.host, config.port).await
}

/// Binds the API's port (`0` picks a free one).
pub async fn bind_api(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    crowd_api::bind(host, port).await
}

/// Serves the API on `backends`: jobs for the built-in actions and those in `actions_path`.
pub async fn api_on(
    config: &Config,
    backends: &Backends,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = crowd_api::ApiState::new(
        config,
        backends.store.clone(),
        backends.queue.clone(),
        backends.assets.clone(),
        Registry::from_config(config)?.catalog(),
    );
    crowd_api::serve(state, listener, shutdown).await;
    Ok(())
}

/// Runs a dispatcher on `backends`.
pub async fn dispatcher_on(
    config: &Config,
    backends: &Backends,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let dispatcher = crowd_dispatcher::Dispatcher::new(
        config,
        backends.store.clone(),
        backends.queue.clone(),
        backends.assets.clone(),
    );
    crowd_dispatcher::run(dispatcher, shutdown).await
}

/// Runs a worker with the built-in actions and those in `actions_path`; it needs only the
/// queue and the asset store.
pub async fn worker_on(
    config: &Config,
    queue: Arc<dyn Queue>,
    assets: Arc<dyn AssetStore>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let env = WorkerEnv::new(config, Registry::from_config(config)?, queue, assets)?;
    crowd_worker::run(Arc::new(env), shutdown).await
}

/// What `crowd cleanup` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanedUp {
    /// Complete jobs older than the age asked for, with their units and files.
    pub jobs: u64,
    /// Jobs that no longer exist whose stored files were still there.
    pub orphaned: u64,
}

/// `crowd cleanup`: on the store `choice` names (Postgres, or SQLite in `data_dir`), deletes the
/// complete jobs that completed more than `age` ago, with their files, and the stored files of
/// jobs that no longer exist.
pub async fn cleanup(
    config: &Config,
    data_dir: &Path,
    choice: Choice,
    age: Duration,
) -> anyhow::Result<CleanedUp> {
    let store = backends::open_store(config, data_dir, choice).await?;
    let assets = storage::from_config(config).await?;
    Ok(CleanedUp {
        jobs: jobs::cleanup_older_than(store.as_ref(), assets.as_ref(), age).await?,
        orphaned: jobs::remove_orphaned_files(store.as_ref(), assets.as_ref()).await?,
    })
}

/// The distributed backends, once Postgres (migrated) and the asset store answer: a service
/// started while they are away waits for them. `None` if stopped first.
async fn distributed_when_ready(config: &Config, shutdown: &CancellationToken) -> Option<Backends> {
    retry::until_ready("reaching Postgres and the asset store", shutdown, || {
        Backends::distributed(config)
    })
    .await
}

/// Runs the API on Postgres, after applying migrations.
pub async fn run_api(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if let Some(backends) = distributed_when_ready(&config, &shutdown).await {
        api_on(&config, &backends, listener, shutdown).await?;
    }
    Ok(())
}

/// Runs a dispatcher on Postgres and RabbitMQ, after applying migrations; with its metrics
/// and probes listener when `metrics_port` is set.
pub async fn run_dispatcher(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let probes = probes::bind(&config).await?;
    match distributed_when_ready(&config, &shutdown).await {
        Some(backends) => {
            let readiness = Readiness::dispatcher(backends.store.clone(), backends.queue.clone());
            let (ran, ()) = tokio::join!(
                dispatcher_on(&config, &backends, shutdown.clone()),
                probes::serve(probes, readiness, &config, shutdown.clone()),
            );
            ran
        }
        None => Ok(()),
    }
}

/// Runs a worker on RabbitMQ (which it reconnects to by itself) and the configured asset
/// store; with its metrics and probes listener when `metrics_port` is set.
pub async fn run_worker(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let queue: Arc<dyn Queue> = Arc::new(AmqpQueue::from_config(&config));
    let probes = probes::bind(&config).await?;
    let served = probes::serve(
        probes,
        Readiness::worker(queue.clone()),
        &config,
        shutdown.clone(),
    );
    let ran = async {
        let assets = retry::until_ready("reaching the asset store", &shutdown, || {
            storage::from_config(&config)
        })
        .await;
        match assets {
            Some(assets) => worker_on(&config, queue.clone(), assets, shutdown.clone()).await,
            None => Ok(()),
        }
    };
    let (ran, ()) = tokio::join!(ran, served);
    ran
}

/// The api, a dispatcher and a worker in one process, on Postgres and RabbitMQ.
pub async fn run_all(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    match distributed_when_ready(&config, &shutdown).await {
        Some(backends) => run_together(&config, &backends, listener, shutdown).await,
        None => Ok(()),
    }
}

/// The api, a dispatcher and a worker in one process on the backends `choice` picks, embedded
/// by default: SQLite in `data_dir`, in-process queues, files on disk. Nothing to install.
pub async fn run_up(
    config: Config,
    data_dir: PathBuf,
    choice: Choice,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let backends = Backends::up(&config, &data_dir, choice).await?;
    run_together(&config, &backends, listener, shutdown).await
}

/// The three parts side by side; the first to fail stops the others, so the process never
/// runs half a system.
async fn run_together(
    config: &Config,
    backends: &Backends,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (api, dispatcher, worker) = tokio::join!(
        stop_all_on_error(
            &shutdown,
            api_on(config, backends, listener, shutdown.clone())
        ),
        stop_all_on_error(&shutdown, dispatcher_on(config, backends, shutdown.clone())),
        stop_all_on_error(
            &shutdown,
            worker_on(
                config,
                backends.queue.clone(),
                backends.assets.clone(),
                shutdown.clone()
            )
        ),
    );
    api.and(dispatcher).and(worker)
}

async fn stop_all_on_error(
    shutdown: &CancellationToken,
    part: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let result = part.await;
    if result.is_err() {
        shutdown.cancel();
    }
    result
}
