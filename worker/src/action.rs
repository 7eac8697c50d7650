//! The `Action` trait users implement, what a stage is given, and how it fails.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use crowd_shared::{
    catalog::Stages,
    ids::{JobId, UnitId},
    storage::{unit_key, AssetStore},
};
use serde_json::Value;
use tokio::io::{AsyncBufRead, BufReader};

use crate::{download::Downloader, running::Progress, scratch::Scratch};

/// An action: `process` is required; `split` and `merge` are optional stages, declared by
/// `stages()`.
#[async_trait]
pub trait Action: Send + Sync + 'static {
    /// The stable name jobs use (`"word_count"`).
    fn name(&self) -> &str;

    fn stages(&self) -> Stages {
        Stages::default()
    }

    /// Programs it runs, which must be on `PATH`: a worker without one says so at start and
    /// does not consume the action.
    fn tools(&self) -> &[&str] {
        &[]
    }

    /// Turns one input into many: each element of the returned array (flattened) becomes a
    /// `process` unit.
    async fn split(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        let _ = ctx;
        Err(ActionError::Permanent(format!(
            "{} has no split stage",
            self.name()
        )))
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError>;

    /// Gets the array of every `process` output, in unit order; its result is the job's.
    async fn merge(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        let _ = ctx;
        Err(ActionError::Permanent(format!(
            "{} has no merge stage",
            self.name()
        )))
    }
}

/// Why a stage failed, which decides whether it is tried again.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Might work next time (a timeout, a 503, a flaky tool): retried up to the limit.
    #[error("{0}")]
    Retryable(String),
    /// Will never work (a bad input, a forbidden path): fails the unit at once.
    #[error("{0}")]
    Permanent(String),
}

impl ActionError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ActionError::Retryable(_) => true,
            ActionError::Permanent(_) => false,
        }
    }
}

impl From<anyhow::Error> for ActionError {
    fn from(e: anyhow::Error) -> Self {
        ActionError::Retryable(format!("{e:#}"))
    }
}

impl From<std::io::Error> for ActionError {
    fn from(e: std::io::Error) -> Self {
        ActionError::Retryable(e.to_string())
    }
}

/// Everything one stage of one unit gets.
pub struct StageContext {
    /// The unit's input: one of the job's inputs, a split output, or (merge) every output.
    pub input: Value,
    /// Where a URL input was downloaded to, inside `work_dir`.
    pub input_path: Option<PathBuf>,
    /// The job's options plus `job_id`, `work_unit_id` and `attempts`.
    pub options: Value,
    /// Failed attempts before this one.
    pub attempt: i32,
    /// Total attempts the unit gets.
    pub max_attempts: i32,
    /// This unit's scratch directory (see `work_dir`).
    pub(crate) scratch: Arc<Scratch>,
    pub(crate) downloader: Arc<Downloader>,
    pub(crate) progress: Progress,
    pub(crate) saver: Saver,
}

impl StageContext {
    /// A scratch directory of this unit's own, made on first use and removed when the stage
    /// ends.
    pub async fn work_dir(&self) -> Result<&Path, ActionError> {
        Ok(self.scratch.path().await?)
    }

    /// Says how far the stage has got, in percent: shown beside the unit in `/status` and on
    /// the operations page while it runs.
    pub fn report_progress(&self, percent: u8) {
        self.progress.report(percent);
    }

    /// Downloads `url` (one `save` returned, or any URL an input may be) into `dir` and returns
    /// the file's path; bounded and checked as inputs are.
    pub async fn fetch(&self, url: &str, dir: &Path) -> Result<PathBuf, ActionError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| ActionError::Permanent(format!("{url:?} is not a URL: {e}")))?;
        tokio::fs::create_dir_all(dir).await?;
        self.downloader.fetch(&parsed, dir).await
    }

    /// Stores `path` under `<action>/job_<id>/unit_<id>/<file name>` and returns its URL.
    pub async fn save(&self, path: &Path) -> Result<String, ActionError> {
        self.saver.save(path).await
    }

    /// The input as a stream of bytes: the downloaded file, read a buffer at a time, or the
    /// input string itself. What an action that goes through its input once should use: its
    /// memory stays one buffer however large the input (up to `max_download_bytes`) is.
    pub async fn input_reader(&self) -> Result<InputReader<'_>, ActionError> {
        match (&self.input_path, &self.input) {
            (Some(path), _) => {
                let file = tokio::fs::File::open(path).await?;
                Ok(Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)))
            }
            (None, Value::String(text)) => Ok(Box::new(text.as_bytes())),
            (None, other) => Err(not_text(other)),
        }
    }

    /// The input as text: the downloaded file's contents (invalid UTF-8 replaced by U+FFFD),
    /// or the input string itself. It holds the whole input in memory, twice over while the
    /// file is decoded: up to `max_download_bytes` each time. Prefer `input_reader` for
    /// anything that can be read as it streams.
    pub async fn input_text(&self) -> Result<String, ActionError> {
        match (&self.input_path, &self.input) {
            (Some(path), _) => {
                let bytes = tokio::fs::read(path).await?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            (None, Value::String(text)) => Ok(text.clone()),
            (None, other) => Err(not_text(other)),
        }
    }
}

/// A stage's input, as `StageContext::input_reader` streams it.
pub type InputReader<'a> = Box<dyn AsyncBufRead + Send + Unpin + 'a>;

/// Bytes read from a downloaded input at a time.
const READ_BUFFER_BYTES: usize = 64 * 1024;

fn not_text(input: &Value) -> ActionError {
    ActionError::Permanent(format!("expected a URL or a text input, got {input}"))
}

pub(crate) struct Saver {
    pub store: Arc<dyn AssetStore>,
    pub action: String,
    pub job_id: JobId,
    pub unit_id: UnitId,
}

impl Saver {
    async fn save(&self, path: &Path) -> Result<String, ActionError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(crate::download::safe_filename)
            .ok_or_else(|| {
                ActionError::Permanent(format!("cannot save {}: no file name", path.display()))
            })?;
        let key = unit_key(&self.action, self.job_id, self.unit_id, &name);
        Ok(self.store.save(&key, path).await?)
    }
}
