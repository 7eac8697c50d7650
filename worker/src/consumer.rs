//! The worker's broker session: one channel whose prefetch (shared by every action queue it
//! consumes) is `max_workers`, so it never holds a unit an idle worker elsewhere could run;
//! a completion is published and confirmed before its unit is acked.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use crowd_shared::{
    amqp::{self, QueueNames},
    messages::WorkMessage,
    shutdown::CancellationToken,
    storage::AssetStore,
    Config,
};
use futures_util::StreamExt;
use lapin::{
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicQosOptions, BasicRejectOptions,
    },
    types::FieldTable,
    Channel,
};
use tokio::task::JoinSet;

use crate::{download::Downloader, heartbeat, stage, Registry};

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

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
    pub queues: QueueNames,
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
            queues: QueueNames::new(&config.queue_prefix),
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

/// Runs until `shutdown`, reconnecting to the broker whenever the connection is lost.
pub async fn run(
    env: Arc<WorkerEnv>,
    amqp_url: String,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(200);
    tracing::info!(node = %env.node, actions = ?env.actions, max_workers = env.max_workers, "worker starting");
    loop {
        match session(&env, &amqp_url, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "worker lost the broker; reconnecting"
            ),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn session(
    env: &Arc<WorkerEnv>,
    amqp_url: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let conn = amqp::connect(amqp_url, &format!("crowd worker {}", env.node)).await?;
    let consume = conn
        .create_channel()
        .await
        .context("opening the consuming channel")?;
    // global = true: RabbitMQ shares this limit among every consumer on the channel.
    consume
        .basic_qos(env.max_workers, BasicQosOptions { global: true })
        .await
        .context("setting the prefetch")?;
    let publish = amqp::confirmed_channel(&conn).await?;
    amqp::declare_durable(&publish, &env.queues.completions()).await?;
    amqp::declare_heartbeats(&publish, &env.queues).await?;

    let mut consumers = Vec::new();
    for action in &env.actions {
        let queue = env.queues.work(action);
        amqp::declare_durable(&consume, &queue).await?;
        let consumer = consume
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("consuming {queue}"))?;
        consumers.push(consumer);
    }
    let tags: Vec<_> = consumers.iter().map(|c| c.tag()).collect();
    let mut deliveries = futures_util::stream::select_all(consumers);

    let beats = CancellationToken::new();
    // Heartbeats get a channel without confirms: nobody waits for theirs.
    let beat_channel = conn
        .create_channel()
        .await
        .context("opening the heartbeat channel")?;
    let beating = tokio::spawn(heartbeat::run(
        env.clone(),
        beat_channel.clone(),
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
            delivery = deliveries.next() => match delivery {
                Some(Ok(delivery)) => {
                    tasks.spawn(handle(env.clone(), publish.clone(), delivery));
                }
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("consuming")),
                None => break Err(anyhow::anyhow!("the broker closed the consumers")),
            },
        }
    };
    // Stop taking work; let what runs finish (within the grace period) so its results count.
    for tag in tags {
        consume
            .basic_cancel(tag, BasicCancelOptions::default())
            .await
            .ok();
    }
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
        heartbeat::leave(env, &beat_channel).await;
    }
    // Closing hands every unacked unit back to the broker.
    conn.close(200, "worker stopping".into()).await.ok();
    ended
}

async fn handle(env: Arc<WorkerEnv>, publish: Channel, delivery: Delivery) {
    let msg: WorkMessage = match serde_json::from_slice(&delivery.data) {
        Ok(msg) => msg,
        Err(e) => {
            tracing::error!(error = %e, "discarding a work message that does not parse");
            delivery
                .reject(BasicRejectOptions { requeue: false })
                .await
                .ok();
            return;
        }
    };
    env.set_running(msg.unit_id, true);
    let completion = stage::run(&env, &msg).await;
    env.set_running(msg.unit_id, false);
    match amqp::publish_confirmed(&publish, &env.queues.completions(), &completion).await {
        Ok(()) => {
            if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                // The completion is recorded; the redelivery this causes will be stale.
                tracing::warn!(work_unit.id = msg.unit_id, error = %e, "ack failed");
            }
        }
        Err(e) => {
            tracing::warn!(
                work_unit.id = msg.unit_id,
                error = format!("{e:#}"),
                "completion not confirmed; unit goes back to the queue"
            );
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
                .ok();
        }
    }
}
