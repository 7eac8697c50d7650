//! The dispatcher: relays pending units from Postgres to the broker (an outbox), applies
//! completions and moves jobs through their stages, delivers callbacks and keeps the node list
//! from worker heartbeats. Several may run at once: row locks keep them from doing anything
//! twice.

pub mod by_reference;
pub mod callbacks;
pub mod completions;
pub mod delivery;
pub mod job_progress;
pub mod nodes;
mod paused;
mod poison;
pub mod relay;
pub mod sweeper;

pub(crate) use crowd_shared::retry::{keep_running, Backoff};

use std::sync::Arc;

use crowd_shared::{
    queue::Queue,
    shutdown::CancellationToken,
    storage::AssetStore,
    store::{Store, Wakeups},
    Config,
};

/// What the dispatcher's loops share.
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    /// Where jobs' files are, so a job deleted by its callback loses its files too.
    pub assets: Arc<dyn AssetStore>,
    pub queue: Arc<dyn Queue>,
    pub max_attempts: i32,
    pub config: Config,
    /// Woken by the store when new work or a due callback may be waiting.
    pub wakeups: Arc<Wakeups>,
}

impl Dispatcher {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        assets: Arc<dyn AssetStore>,
    ) -> Arc<Self> {
        crowd_shared::metrics::install();
        Arc::new(Dispatcher {
            store,
            queue,
            assets,
            max_attempts: config.work_unit_retries.max(1) as i32,
            config: config.clone(),
            wakeups: Arc::new(Wakeups::default()),
        })
    }
}

/// Runs every loop until `shutdown`.
pub async fn run(dispatcher: Arc<Dispatcher>, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!("dispatcher starting");
    let mut loops = tokio::task::JoinSet::new();
    {
        let (store, wakeups, shutdown) = (
            dispatcher.store.clone(),
            dispatcher.wakeups.clone(),
            shutdown.clone(),
        );
        loops.spawn(async move { store.watch(wakeups, shutdown).await });
    }
    loops.spawn(relay::run(dispatcher.clone(), shutdown.clone()));
    loops.spawn(completions::run(dispatcher.clone(), shutdown.clone()));
    loops.spawn(poison::run(dispatcher.clone(), shutdown.clone()));
    loops.spawn(paused::run(dispatcher.clone(), shutdown.clone()));
    loops.spawn(callbacks::run(dispatcher.clone(), shutdown.clone()));
    loops.spawn(nodes::run(dispatcher.clone(), shutdown.clone()));
    loops.spawn(sweeper::run(dispatcher.clone(), shutdown.clone()));
    while let Some(ended) = loops.join_next().await {
        if let Err(e) = ended {
            // A loop that panicked: stop everything rather than run half a dispatcher.
            shutdown.cancel();
            anyhow::bail!("a dispatcher loop failed: {e}");
        }
    }
    tracing::info!("dispatcher stopped");
    Ok(())
}
