//! Values a unit's message names by key in the asset store instead of carrying them: a merge's
//! input (every process output), read into the unit's work directory, and a job's big options,
//! read once and kept for the job's next units here.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use crowd_shared::{messages::WorkMessage, storage::AssetStore};
use serde_json::Value;

use crate::{scratch::Scratch, ActionError};

/// Jobs whose options are kept: a worker runs units of only a few jobs at once.
const OPTIONS_KEPT: usize = 16;

/// The big options of the jobs whose units ran here last.
#[derive(Default)]
pub struct OptionsCache(Mutex<VecDeque<(String, Arc<Value>)>>);

impl OptionsCache {
    /// The unit's options: those it carries, or those its key names (read once per job).
    pub async fn of(
        &self,
        msg: &WorkMessage,
        store: &dyn AssetStore,
        scratch: &Scratch,
    ) -> Result<Arc<Value>, ActionError> {
        let Some(key) = &msg.options_key else {
            return Ok(Arc::new(msg.options.clone()));
        };
        if let Some(options) = self.get(key) {
            return Ok(options);
        }
        let options =
            Arc::new(read(store, key, &scratch.path().await?.join("options.json")).await?);
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.push_front((key.clone(), options.clone()));
        kept.truncate(OPTIONS_KEPT);
        Ok(options)
    }

    fn get(&self, key: &str) -> Option<Arc<Value>> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

/// The merge input `msg` names, read into the unit's scratch directory: the value, and the file it is in.
pub async fn input(
    msg: &WorkMessage,
    store: &dyn AssetStore,
    scratch: &Scratch,
) -> Result<Option<(Value, PathBuf)>, ActionError> {
    let Some(key) = &msg.input_key else {
        return Ok(None);
    };
    let path = scratch.path().await?.join("input.json");
    let value = read(store, key, &path).await?;
    Ok(Some((value, path)))
}

/// Reads the JSON stored under `key` through the file at `path`.
async fn read(store: &dyn AssetStore, key: &str, path: &Path) -> Result<Value, ActionError> {
    store.fetch(key, path).await.map_err(|e| {
        ActionError::Retryable(format!("reading {key} from the asset store: {e:#}"))
    })?;
    let bytes = tokio::fs::read(path).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ActionError::Retryable(format!("{key} is not the JSON it should be: {e}")))
}
