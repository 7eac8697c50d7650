//! `noop`: does nothing, as cheaply as a unit can, so that what `crowd bench` measures is the
//! system (posting, queueing, recording, merging) and not an action. `process` returns its
//! input as it came; `merge` returns how many outputs it was given, so a job of N inputs
//! ends with `[N]` and a benchmark can check that every unit was counted once.
//!
//! It reads no file, asks for no scratch directory and downloads nothing, so a unit of an
//! inline input touches no disk in the worker. The worker itself fetches a URL input (a string
//! naming `http(s)://`, `s3://` or `file://`) before any action runs, so give it inputs that
//! are not URLs, such as `1` or `"x"`, as `crowd bench` does.

use async_trait::async_trait;
use crowd_shared::catalog::Stages;
use serde_json::Value;

use crate::{Action, ActionError, StageContext};

pub struct Noop;

#[async_trait]
impl Action for Noop {
    fn name(&self) -> &str {
        "noop"
    }

    fn stages(&self) -> Stages {
        Stages {
            split: false,
            merge: true,
        }
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        Ok(ctx.input.clone())
    }

    /// The merge input is the array of every output, whether it came in the message or was
    /// read from the asset store (a big one): the worker has parsed it into `ctx.input` either way.
    async fn merge(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        count_outputs(&ctx.input)
    }
}

fn count_outputs(input: &Value) -> Result<Value, ActionError> {
    let outputs = input.as_array().ok_or_else(|| {
        ActionError::Permanent(format!("merge expected an array of outputs, got {input}"))
    })?;
    Ok(Value::from(outputs.len()))
}

#[cfg(test)]
mod tests {
    use std::{path::Path, sync::Arc};

    use crowd_shared::storage::FilesystemStore;
    use serde_json::json;

    use super::*;
    use crate::{action::Saver, scratch::Scratch};

    /// A stage of `input` under `root`, with an `input_path` that does not exist: a stage that
    /// read it would fail, and one that asked for its scratch directory would make `scratch/`.
    fn stage_of(input: Value, root: &Path) -> StageContext {
        StageContext {
            input,
            input_path: Some(root.join("no-such-input")),
            options: json!({}),
            attempt: 0,
            max_attempts: 3,
            scratch: Arc::new(Scratch::new(root.join("scratch"), crowd_shared::UnitId(1))),
            downloader: crate::download::unused_downloader(root),
            progress: crate::running::Progress::none(),
            saver: Saver {
                store: Arc::new(FilesystemStore::new(&root.join("store")).expect("store")),
                action: "noop".into(),
                job_id: crowd_shared::JobId(1),
                unit_id: crowd_shared::UnitId(1),
            },
        }
    }

    #[tokio::test]
    async fn process_returns_its_input_and_touches_no_file() {
        let root = tempfile::tempdir().expect("temp dir");
        for input in [
            json!(1),
            json!("x"),
            json!("https://example.com/a.txt"),
            json!({"a": [1]}),
        ] {
            let output = Noop.process(&stage_of(input.clone(), root.path())).await;
            assert_eq!(output.expect("process"), input);
        }
        assert!(
            !root.path().join("scratch").exists(),
            "no scratch directory"
        );
    }

    #[tokio::test]
    async fn merge_counts_the_outputs_it_was_given() {
        let root = tempfile::tempdir().expect("temp dir");
        let outputs = Value::Array((0..1500).map(Value::from).collect());
        let merged = Noop.merge(&stage_of(outputs, root.path())).await;
        assert_eq!(merged.expect("merge"), json!(1500));
        let merged = Noop.merge(&stage_of(json!([]), root.path())).await;
        assert_eq!(merged.expect("merge"), json!(0));
        assert!(
            !root.path().join("scratch").exists(),
            "no scratch directory"
        );
    }

    #[tokio::test]
    async fn merge_of_something_other_than_outputs_fails_for_good() {
        let root = tempfile::tempdir().expect("temp dir");
        let error = Noop
            .merge(&stage_of(json!(7), root.path()))
            .await
            .expect_err("not an array");
        assert!(!error.is_retryable(), "{error}");
    }
}
