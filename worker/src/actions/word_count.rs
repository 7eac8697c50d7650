//! `word_count`, CloudCrowd's demonstration action: counts the words of each input (a URL, or
//! the text itself) and sums them.

use async_trait::async_trait;
use crowd_shared::catalog::Stages;
use serde_json::Value;

use super::{count_input_words, sum_counts};
use crate::{Action, ActionError, StageContext};

pub struct WordCount;

#[async_trait]
impl Action for WordCount {
    fn name(&self) -> &str {
        "word_count"
    }

    fn stages(&self) -> Stages {
        Stages {
            split: false,
            merge: true,
        }
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        count_input_words(ctx).await
    }

    async fn merge(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        sum_counts(&ctx.input)
    }
}
