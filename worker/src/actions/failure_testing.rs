//! `failure_testing`, from CloudCrowd's suite: fails every attempt but the last allowed one.

use async_trait::async_trait;
use serde_json::Value;

use crate::{Action, ActionError, StageContext};

pub struct FailureTesting;

#[async_trait]
impl Action for FailureTesting {
    fn name(&self) -> &str {
        "failure_testing"
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        if ctx.attempt + 1 >= ctx.max_attempts {
            Ok(Value::from("made it!"))
        } else {
            Err(ActionError::Retryable("hell".into()))
        }
    }
}
