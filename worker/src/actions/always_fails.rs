//! `always_fails`: every attempt fails (retryably), so a job of it ends `failed`.

use async_trait::async_trait;
use serde_json::Value;

use crate::{Action, ActionError, StageContext};

pub struct AlwaysFails;

#[async_trait]
impl Action for AlwaysFails {
    fn name(&self) -> &str {
        "always_fails"
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        Err(ActionError::Retryable(format!(
            "always fails (attempt {})",
            ctx.attempt + 1
        )))
    }
}
