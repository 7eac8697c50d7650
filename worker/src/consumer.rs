//! The worker's link to the queue: at most `max_workers` units held (across all its actions'
//! queues), so it never holds a unit an idle worker elsewhere could run; a completion is
//! published and confirmed before its unit is acked.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use crowd_shared::{
    messages::WorkMessage,
    queue::{Delivery, Queue, Reporter},
    retry::keep_running,
    shutdown::CancellationToken,
    storage::AssetStore,
    Config,
};
use futures_util::StreamExt;
use tokio::task::JoinSet;

use crate::{download::Downloader, heartbeat, stage, Registry};

/// What every unit this worker runs shares.
pub struct WorkerEnv {
    pub registry: Registry,
    pub store: Arc<dyn AssetStore>,
    pub downloader: Downloader,
    pub temp_root: PathBuf,
    /// This worker's name in `/status` and in completions.
    pub node: String,
    pub tag: Option<String>,
    pub max_workers: u16,
    /// The actions it consumes.
    pub actions: Vec<String>,
    pub queue: Arc<dyn Queue>,
    pub heartbeat_every: Duration,
    pub grace: Duration,
    /// Longest one stage may run; `None`: no limit.
    pub unit_timeout: Option<Duration>,
    /// Units running now, for heartbeats.
    pub running: Mutex<BTreeSet<i64>>,
}

impl WorkerEnv {
    pub fn new(
        config: &Config,
        registry: Registry,
        queue: Arc<dyn Queue>,
        store: Arc<dyn AssetStore>,
    ) -> anyhow::Result<Self> {
        let actions: Vec<String> = registry
            .names()
            .filter(|name| config.actions.is_empty() || config.actions.iter().any(|a| a == name))
            .filter(|name| !config.disabled_actions.iter().any(|a| a == name))
            .map(String::from)
            .collect();
        for wanted in &config.actions {
            anyhow::ensure!(
                registry.get(wanted).is_some(),
                "unknown action {wanted} in `actions`"
            );
        }
        anyhow::ensure!(!actions.is_empty(), "this worker would consume no action");
        Ok(WorkerEnv {
            downloader: Downloader::new(config, store.clone())?,
            registry,
            store,
            temp_root: config.temp_storage_path.clone(),
            node: config.node_name.clone().unwrap_or_else(default_node_name),
            tag: config.node_tag.clone(),
            max_workers: config.max_workers.max(1),
            actions,
            queue,
            heartbeat_every: config.heartbeat_interval(),
            grace: Duration::from_secs(config.shutdown_grace_secs),
            unit_timeout: (config.unit_timeout_secs > 0)
                .then(|| Duration::from_secs(config.unit_timeout_secs)),
            running: Mutex::new(BTreeSet::new()),
        })
    }

    pub(crate) fn running_now(&self) -> Vec<i64> {
        self.running
            .lock()
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }

    fn set_running(&self, unit_id: i64, running: bool) {
        if let Ok(mut set) = self.running.lock() {
            if running {
                set.insert(unit_id);
            } else {
                set.remove(&unit_id);
            }
        }
    }
}

fn default_node_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Runs until `shutdown`, reconnecting whenever the link to the queue is lost.
pub async fn run(env: Arc<WorkerEnv>, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!(node = %env.node, actions = ?env.actions, max_workers = env.max_workers, "worker starting");
    keep_running("the worker's link to the queue", &shutdown, || {
        session(&env, &shutdown)
    })
    .await;
    Ok(())
}

async fn session(env: &Arc<WorkerEnv>, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut link = env
        .queue
        .worker_link(&env.node, &env.actions, env.max_workers)
        .await?;
    let beats = CancellationToken::new();
    let beating = tokio::spawn(heartbeat::run(
        env.clone(),
        link.reporter.clone(),
        beats.clone(),
    ));
    let mut tasks = JoinSet::new();
    let ended = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "a unit task failed");
                }
            }
            delivery = link.deliveries.next() => match delivery {
                Some(Ok(delivery)) => {
                    tasks.spawn(handle(env.clone(), link.reporter.clone(), delivery));
                }
                Some(Err(e)) => break Err(e),
                None => break Err(anyhow::anyhow!("the queue closed the worker's link")),
            },
        }
    };
    // Stop taking work; let what runs finish (within the grace period) so its results count.
    link.control.stop_taking().await;
    if ended.is_ok() {
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(env.grace, drain).await.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "grace period over; unfinished units go back to the queue"
            );
        }
    }
    tasks.shutdown().await;
    beats.cancel();
    beating.await.ok();
    if ended.is_ok() {
        heartbeat::leave(env, link.reporter.as_ref()).await;
    }
    // Closing hands every unacked unit back to the queue.
    link.control.close().await;
    ended
}

async fn handle(env: Arc<WorkerEnv>, reporter: Arc<dyn Reporter>, delivery: Delivery<WorkMessage>) {
    let msg = match delivery.body {
        Ok(msg) => msg,
        Err(e) => {
            tracing::error!(error = %e, "discarding a work message that does not parse");
            delivery.acker.reject().await.ok();
            return;
        }
    };
    env.set_running(msg.unit_id, true);
    let completion = stage::run(&env, &msg).await;
    env.set_running(msg.unit_id, false);
    match reporter.complete(&completion).await {
        Ok(()) => {
            if let Err(e) = delivery.acker.ack().await {
                // The completion is recorded; the redelivery this causes will be stale.
                tracing::warn!(
                    work_unit.id = msg.unit_id,
                    error = format!("{e:#}"),
                    "ack failed"
                );
            }
        }
        Err(e) => {
            tracing::warn!(
                work_unit.id = msg.unit_id,
                error = format!("{e:#}"),
                "completion not confirmed; unit goes back to the queue"
            );
            delivery.acker.requeue().await.ok();
        }
    }
}
