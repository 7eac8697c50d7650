//! What every unit a worker runs shares: its actions, stores and settings, the units running
//! now, and the link to the queue they report on.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use crowd_shared::{
    ids::JobId,
    queue::{Queue, Reporter},
    recent::RecentIds,
    shutdown::CancellationToken,
    storage::AssetStore,
    Config,
};
use tokio::sync::{watch, Semaphore};

use crate::{
    download::Downloader, referenced::OptionsCache, reporting::Reports, running::Running,
    throttle::Limits, Registry,
};

pub struct WorkerEnv {
    pub registry: Registry,
    pub store: Arc<dyn AssetStore>,
    pub downloader: Arc<Downloader>,
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
    /// Largest completion sent; a bigger result fails its unit instead.
    pub max_message_bytes: usize,
    /// Units held now (running, or waiting for a slot): what heartbeats report, and what
    /// outlives a dropped link.
    pub running: Running,
    /// `max_workers` slots: a message may bring several units, but no more than this many
    /// run at once.
    pub slots: Arc<Semaphore>,
    /// Jobs deleted lately, whose units are dropped when they arrive.
    pub deleted: DeletedJobs,
    /// Big options of the jobs whose units ran here last.
    pub options: OptionsCache,
    /// Where units hand in their completions, published in batches.
    pub reports: Reports,
    /// The link completions go out on now; `None` while reconnecting.
    pub link: watch::Sender<Option<Link>>,
    /// Cancelled when the worker has stopped: nothing waits for a link any more.
    pub closing: CancellationToken,
    /// `max_load` and `min_free_memory`.
    pub limits: Limits,
    /// Why it takes no new units now (see `throttle.rs`); none while it takes them.
    pub throttled: watch::Sender<Option<String>>,
}

/// A link's way back, and how a unit that could not use it says so.
#[derive(Clone)]
pub struct Link {
    pub reporter: Arc<dyn Reporter>,
    /// Cancelled when publishing on this link failed: the session ends and reconnects.
    pub broken: CancellationToken,
}

impl WorkerEnv {
    pub fn new(
        config: &Config,
        registry: Registry,
        queue: Arc<dyn Queue>,
        store: Arc<dyn AssetStore>,
    ) -> anyhow::Result<Self> {
        crowd_shared::metrics::install();
        let actions: Vec<String> = registry
            .names()
            .filter(|name| config.actions.is_empty() || config.actions.iter().any(|a| a == name))
            .filter(|name| !config.disabled_actions.iter().any(|a| a == name))
            .filter(|name| {
                let missing = registry.missing_tools(name);
                if !missing.is_empty() {
                    tracing::warn!(action = %name, missing = %missing.join(", "),
                        "this worker does not consume an action whose programs are not on PATH");
                }
                missing.is_empty()
            })
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
            downloader: Arc::new(Downloader::new(config, store.clone())?),
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
            max_message_bytes: usize::try_from(config.max_message_bytes).unwrap_or(usize::MAX),
            running: Running::default(),
            slots: Arc::new(Semaphore::new(usize::from(config.max_workers.max(1)))),
            deleted: DeletedJobs::default(),
            options: OptionsCache::default(),
            reports: Reports::default(),
            link: watch::Sender::new(None),
            closing: CancellationToken::new(),
            limits: Limits::of(config),
            throttled: watch::Sender::new(None),
        })
    }
}

/// The last few thousand deleted jobs: enough for the units they had queued to drain past.
pub struct DeletedJobs(Mutex<RecentIds>);

impl Default for DeletedJobs {
    fn default() -> Self {
        DeletedJobs(Mutex::new(RecentIds::new(10_000)))
    }
}

impl DeletedJobs {
    pub fn insert(&self, job_id: JobId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(job_id.0);
    }

    pub fn contains(&self, job_id: JobId) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(job_id.0)
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
