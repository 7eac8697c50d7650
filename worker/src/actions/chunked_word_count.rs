//! `chunked_word_count`: word_count in three stages. `split` cuts a text into chunks of
//! `lines_per_chunk` lines (default 10) and saves each to the asset store; `process` counts a
//! chunk's words (downloading it back); `merge` sums.

use async_trait::async_trait;
use crowd_shared::catalog::Stages;
use serde_json::Value;

use super::{count_words, sum_counts};
use crate::{Action, ActionError, StageContext};

const DEFAULT_LINES_PER_CHUNK: u64 = 10;

pub struct ChunkedWordCount;

#[async_trait]
impl Action for ChunkedWordCount {
    fn name(&self) -> &'static str {
        "chunked_word_count"
    }

    fn stages(&self) -> Stages {
        Stages {
            split: true,
            merge: true,
        }
    }

    async fn split(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        let per_chunk = ctx
            .options
            .get("lines_per_chunk")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_LINES_PER_CHUNK)
            .max(1) as usize;
        let text = ctx.input_text().await?;
        let lines: Vec<&str> = text.lines().collect();
        let mut urls = Vec::new();
        for (i, chunk) in lines.chunks(per_chunk).enumerate() {
            let path = ctx.work_dir.join(format!("chunk_{i}.txt"));
            tokio::fs::write(&path, chunk.join("\n")).await?;
            urls.push(Value::from(ctx.save(&path).await?));
        }
        Ok(Value::Array(urls))
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        Ok(Value::from(count_words(&ctx.input_text().await?)))
    }

    async fn merge(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        sum_counts(&ctx.input)
    }
}
