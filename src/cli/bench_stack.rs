//! The stack `crowd bench` measures when it is given no `--url`: `crowd up`'s, started through
//! `run_up` in this process, with its data in a temporary directory that goes when it stops.

use std::path::PathBuf;

use anyhow::Context;
use crowd::shared::{config::StorageKind, shutdown::CancellationToken, Config};
use reqwest::Url;

use super::client;

/// `crowd up`'s stack (the api, a dispatcher and a worker on SQLite and in-process queues),
/// in this process for the length of a run, its data in a temporary directory of its own.
pub struct EmbeddedStack {
    /// The api's base URL.
    pub url: Url,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Removed when the stack is dropped, after it stopped.
    _data: DataDir,
}

impl EmbeddedStack {
    /// Starts it on the configuration (its `max_workers` and other settings count), with its
    /// files in its own directory whatever the configuration says, so nothing of the run stays.
    pub async fn start(mut config: Config, units: u64) -> anyhow::Result<EmbeddedStack> {
        let data = DataDir::create()?;
        config.storage = StorageKind::Filesystem;
        config.local_storage_path = data.0.join("files");
        config.temp_storage_path = data.0.join("tmp");
        // The one name this command reaches it by, as `crowd up` answers only this machine's.
        config.allowed_hosts = vec!["127.0.0.1".into()];
        // Its worker runs every action, `noop` included, whatever `actions` says.
        config.actions.clear();
        config.disabled_actions.clear();
        // The fan-out job goes in one post, however many units are asked for.
        config.max_inputs = config
            .max_inputs
            .max(usize::try_from(units).unwrap_or(usize::MAX));
        let listener = crowd::bind_api("127.0.0.1", 0).await?;
        let url = client::parse_base_url(&listener.local_addr()?.to_string())
            .map_err(anyhow::Error::msg)?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(crowd::run_up(
            config,
            data.0.clone(),
            crowd::Choice::default(),
            listener,
            shutdown.clone(),
        ));
        Ok(EmbeddedStack {
            url,
            shutdown,
            task,
            _data: data,
        })
    }

    /// Waits until the stack ends by itself (it failed): why it did.
    pub async fn ended(&mut self) -> anyhow::Error {
        stopped_early((&mut self.task).await)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task
            .await
            .context("the embedded stack panicked")?
            .context("the embedded stack")
    }
}

/// The embedded stack ended before the run did.
fn stopped_early(ended: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
    match ended {
        Ok(Ok(())) => anyhow::anyhow!("the embedded stack stopped before the run ended"),
        Ok(Err(e)) => e.context("the embedded stack stopped"),
        Err(e) => anyhow::Error::new(e).context("the embedded stack panicked"),
    }
}

/// A directory in the system's temporary directory, readable by this user only, removed when
/// dropped.
struct DataDir(PathBuf);

impl DataDir {
    fn create() -> anyhow::Result<DataDir> {
        let path = std::env::temp_dir().join(format!("crowd-bench-{}", uuid::Uuid::new_v4()));
        crowd::private_dir::make_private(&path)?;
        Ok(DataDir(path))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
