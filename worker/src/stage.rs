//! Running one stage of one unit: a scratch directory, the input downloaded, the action
//! called (a panic is caught), and the result turned into a completion.

use std::{sync::Arc, time::Instant};

use crowd_shared::{
    ids::{JobId, UnitId},
    messages::{Completion, Outcome, WorkMessage},
    status::Stage,
};
use serde_json::{json, Value};

use crate::{
    action::Saver, download::Downloader, env::WorkerEnv, referenced, scratch::Scratch, ActionError,
    StageContext,
};

pub async fn run(env: &Arc<WorkerEnv>, msg: &WorkMessage) -> Completion {
    let started = Instant::now();
    let result = match env.unit_timeout {
        // Dropping `execute` on timeout aborts the action's task and removes its directory.
        Some(limit) => tokio::time::timeout(limit, execute(env, msg))
            .await
            .unwrap_or_else(|_| {
                Err(ActionError::Retryable(format!(
                    "the stage timed out after {} s",
                    limit.as_secs()
                )))
            }),
        None => execute(env, msg).await,
    };
    let outcome = match result {
        Ok(output) => Outcome::Succeeded {
            output: without_nul(output),
        },
        Err(e) => {
            tracing::info!(job.id = msg.job_id.0, work_unit.id = msg.unit_id.0, action = %msg.action,
                attempt = msg.attempt, error = %e, "stage failed");
            Outcome::failed(e.to_string().replace('\0', "\u{FFFD}"), e.is_retryable())
        }
    };
    Completion {
        unit_id: msg.unit_id,
        job_id: msg.job_id,
        attempt: msg.attempt,
        outcome,
        time: started.elapsed().as_secs_f64(),
        node: env.node.clone(),
        action: Some(msg.action.clone()),
    }
}

async fn execute(env: &Arc<WorkerEnv>, msg: &WorkMessage) -> Result<Value, ActionError> {
    let action = env.registry.get(&msg.action).ok_or_else(|| {
        ActionError::Permanent(format!("this worker has no action named {}", msg.action))
    })?;
    // Made only if a download, a stored value or the action itself needs it; removed when
    // the last of this frame and the action's context lets go of it.
    let scratch = Arc::new(Scratch::new(env.temp_root.join(&msg.action), msg.unit_id));
    let (input, input_path) = match referenced::input(msg, env.store.as_ref(), &scratch).await? {
        Some((input, path)) => (input, Some(path)),
        None => match (msg.stage, Downloader::input_url(&msg.input)) {
            (Stage::Split | Stage::Process, Some(url)) => (
                msg.input.clone(),
                Some(env.downloader.fetch(&url, scratch.path().await?).await?),
            ),
            _ => (msg.input.clone(), None),
        },
    };
    let options = env.options.of(msg, env.store.as_ref(), &scratch).await?;
    let ctx = StageContext {
        input,
        input_path,
        options: unit_options(&options, msg.job_id, msg.unit_id, msg.attempt),
        attempt: msg.attempt,
        max_attempts: msg.max_attempts,
        scratch: scratch.clone(),
        downloader: env.downloader.clone(),
        progress: env.running.progress_of(msg.unit_id),
        saver: Saver {
            store: env.store.clone(),
            action: msg.action.clone(),
            job_id: msg.job_id,
            unit_id: msg.unit_id,
        },
    };
    let stage = msg.stage;
    // Its own task, so a panicking action fails its unit instead of the worker; aborted with
    // the unit's handler, so an abandoned unit does not run on unseen.
    let mut task = AbortOnDrop(tokio::spawn(async move {
        match stage {
            Stage::Split => action.split(&ctx).await,
            Stage::Process => action.process(&ctx).await,
            Stage::Merge => action.merge(&ctx).await,
        }
    }));
    let result = (&mut task.0).await;
    drop(scratch);
    match result {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(ActionError::Retryable(format!(
            "the action panicked: {}",
            panic_message(e)
        ))),
        Err(e) => Err(ActionError::Retryable(format!(
            "the action was cancelled: {e}"
        ))),
    }
}

/// Postgres cannot store U+0000 in jsonb; an action's output must not make its completion
/// impossible to record.
fn without_nul(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains('\0') => Value::String(s.replace('\0', "\u{FFFD}")),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace('\0', "\u{FFFD}"), without_nul(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The job's options plus CloudCrowd's per-unit additions.
pub(crate) fn unit_options(options: &Value, job_id: JobId, unit_id: UnitId, attempt: i32) -> Value {
    let mut options = match options {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    options.insert("job_id".into(), json!(job_id));
    options.insert("work_unit_id".into(), json!(unit_id));
    options.insert("attempts".into(), json!(attempt));
    Value::Object(options)
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_everywhere() {
        let cleaned = without_nul(json!({"a\u{0}": ["x\u{0}", 1]}));
        assert_eq!(cleaned, json!({"a\u{FFFD}": ["x\u{FFFD}", 1]}));
    }
}
