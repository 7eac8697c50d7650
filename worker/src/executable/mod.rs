//! Actions written in any language: an executable in an actions directory, run once per stage
//! with the stage's request as JSON on its stdin and its output as JSON on its stdout
//! (`protocol.rs`), in the unit's scratch directory, in a process group of its own (`child.rs`).

pub(crate) mod child;
pub mod discover;
pub mod protocol;

use std::path::PathBuf;

use async_trait::async_trait;
use crowd_shared::catalog::Stages;
use serde_json::Value;

use self::{discover::Found, protocol::Request};
use crate::{Action, ActionError, StageContext};

pub struct ExecutableAction {
    name: String,
    program: PathBuf,
    stages: Stages,
    /// Bytes its stdout may hold: what a completion may carry.
    max_output_bytes: usize,
}

impl ExecutableAction {
    pub fn new(found: Found, max_output_bytes: usize) -> Self {
        ExecutableAction {
            name: found.name,
            program: found.program,
            stages: found.stages,
            max_output_bytes,
        }
    }

    async fn run(&self, stage: &str, ctx: &StageContext) -> Result<Value, ActionError> {
        let work_dir = ctx.work_dir().await?.to_path_buf();
        let request = Request {
            stage,
            input: &ctx.input,
            input_path: ctx.input_path.as_deref(),
            options: &ctx.options,
            work_dir: &work_dir,
            job_id: ctx.saver.job_id,
            work_unit_id: ctx.saver.unit_id,
            attempt: ctx.attempt,
        };
        let mut command = child::clean_command(&self.program, &work_dir);
        command.arg(stage);
        let finished = child::run_reporting(
            command,
            request.to_json(),
            self.max_output_bytes,
            &|percent| ctx.report_progress(percent),
        )
        .await?;
        let output = protocol::outcome(&finished.ended, &finished.stdout, &finished.stderr)?;
        let mut urls = std::collections::HashMap::new();
        for path in protocol::files_to_save(&output, &work_dir)? {
            if !urls.contains_key(&path) {
                if !path.is_file() {
                    return Err(ActionError::Retryable(format!(
                        "the action asked to save {}, which it did not write",
                        path.display()
                    )));
                }
                let url = ctx.save(&path).await?;
                urls.insert(path, url);
            }
        }
        Ok(protocol::with_saved(output, &mut |given| {
            let path = protocol::saved_path(&work_dir, given).ok()?;
            urls.get(&path).cloned()
        }))
    }
}

#[async_trait]
impl Action for ExecutableAction {
    fn name(&self) -> &str {
        &self.name
    }

    fn stages(&self) -> Stages {
        self.stages
    }

    async fn split(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        self.run("split", ctx).await
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        self.run("process", ctx).await
    }

    async fn merge(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        self.run("merge", ctx).await
    }
}
