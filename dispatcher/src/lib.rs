//! The dispatcher: relays pending units from Postgres to the broker (an outbox), applies
//! completions and moves jobs through their stages, delivers callbacks and keeps the node list
//! from worker heartbeats. Several may run at once: row locks keep them from doing anything
//! twice.

pub mod callbacks;
pub mod completions;
pub mod job_progress;
pub mod nodes;
pub mod relay;
pub mod sweeper;
pub mod wakeup;

use std::sync::Arc;

use crowd_shared::{
    amqp::QueueNames, shutdown::CancellationToken, storage::AssetStore, store::Store, Config,
};

/// What the dispatcher's loops share.
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    /// Where jobs' files are, so a job deleted by its callback loses its files too.
    pub assets: Arc<dyn AssetStore>,
    pub queues: QueueNames,
    pub amqp_url: String,
    pub database_url: String,
    pub max_attempts: i32,
    pub config: Config,
    pub wakeups: wakeup::Wakeups,
}

impl Dispatcher {
    pub fn new(config: &Config, store: Arc<dyn Store>, assets: Arc<dyn AssetStore>) -> Arc<Self> {
        Arc::new(Dispatcher {
            store,
            assets,
            queues: QueueNames::new(&config.queue_prefix),
            amqp_url: config.amqp_url.clone(),
            database_url: config.database_url.clone(),
            max_attempts: config.work_unit_retries.max(1) as i32,
            config: config.clone(),
            wakeups: wakeup::Wakeups::default(),
        })
    }
}

/// Runs every loop until `shutdown`.
pub async fn run(dispatcher: Arc<Dispatcher>, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!("dispatcher starting");
    let mut loops = tokio::task::JoinSet::new();
    loops.spawn(wakeup::listen(dispatcher.clone(), shutdown.clone()));
    loops.spawn(relay::run(dispatcher.clone(), shutdown.clone()));
    loops.spawn(completions::run(dispatcher.clone(), shutdown.clone()));
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

/// Runs `session` until it ends cleanly or `shutdown`, starting it again (after a growing
/// pause) whenever it fails: a lost broker or database connection is retried, never fatal.
pub(crate) async fn keep_running<F, Fut>(what: &str, shutdown: &CancellationToken, mut session: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut backoff = Backoff::new();
    while !shutdown.is_cancelled() {
        let started = tokio::time::Instant::now();
        match session().await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = format!("{e:#}"), "{what} failed; starting again"),
        }
        // A session that lasted was connected: the next failure starts the pauses afresh.
        if started.elapsed() > Backoff::MAX {
            backoff.reset();
        }
        if !backoff.wait(shutdown).await {
            return;
        }
    }
}

/// Exponential backoff for reconnect loops.
pub(crate) struct Backoff(std::time::Duration);

impl Backoff {
    const MAX: std::time::Duration = std::time::Duration::from_secs(10);

    pub fn new() -> Self {
        Backoff(std::time::Duration::from_millis(100))
    }

    pub fn reset(&mut self) {
        *self = Backoff::new();
    }

    /// Waits, unless shutdown comes first; `false` then.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}
