//! One stage of one action run here and now, with no queue and no job store: what
//! `crowd run-action` does for someone developing an action. The input is downloaded as a
//! worker would, files the action saves go to the configured asset store (under job 0, unit 0),
//! and the output comes back as the stage returned it.

use std::sync::Arc;

use crowd_shared::{
    ids::{JobId, UnitId},
    status::Stage,
    storage::AssetStore,
    Config,
};
use serde_json::Value;

use crate::{
    action::Saver, download::Downloader, scratch::Scratch, stage::unit_options, ActionError,
    Registry, StageContext,
};

/// A stage to run: of which action, on what input, with which options.
pub struct LocalStage {
    pub action: String,
    pub stage: Stage,
    pub input: Value,
    pub options: Value,
}

pub async fn run_stage(
    config: &Config,
    registry: &Registry,
    assets: Arc<dyn AssetStore>,
    asked: LocalStage,
) -> Result<Value, ActionError> {
    let action = registry.get(&asked.action).ok_or_else(|| {
        let known: Vec<&str> = registry.names().collect();
        ActionError::Permanent(format!(
            "there is no action named {}; there are: {}",
            asked.action,
            known.join(", ")
        ))
    })?;
    if !action.stages().has(asked.stage) {
        return Err(ActionError::Permanent(format!(
            "{} has no {} stage",
            asked.action,
            asked.stage.as_str()
        )));
    }
    let scratch = Arc::new(Scratch::new(
        config.temp_storage_path.join(&asked.action),
        UnitId(0),
    ));
    let downloader = Arc::new(Downloader::new(config, assets.clone())?);
    let input_path = match (asked.stage, Downloader::input_url(&asked.input)) {
        (Stage::Split | Stage::Process, Some(url)) => {
            Some(downloader.fetch(&url, scratch.path().await?).await?)
        }
        _ => None,
    };
    let ctx = StageContext {
        input: asked.input,
        input_path,
        options: unit_options(&asked.options, JobId(0), UnitId(0), 0),
        attempt: 0,
        max_attempts: 1,
        scratch,
        downloader,
        progress: crate::running::Progress::none(),
        saver: Saver {
            store: assets,
            action: asked.action,
            job_id: JobId(0),
            unit_id: UnitId(0),
        },
    };
    match asked.stage {
        Stage::Split => action.split(&ctx).await,
        Stage::Process => action.process(&ctx).await,
        Stage::Merge => action.merge(&ctx).await,
    }
}
