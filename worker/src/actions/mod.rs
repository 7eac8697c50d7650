//! The built-in actions, one per file.

pub mod always_fails;
pub mod chunked_word_count;
pub mod failure_testing;
mod gm_fonts;
pub mod graphics_magick;
pub mod noop;
pub mod process_pdfs;
pub mod word_count;
mod words;

use serde_json::Value;

use crate::{ActionError, StageContext};

/// The words of a stage's input, read as it streams.
pub(crate) async fn count_input_words(ctx: &StageContext) -> Result<Value, ActionError> {
    let reader = ctx.input_reader().await?;
    Ok(Value::from(words::count_words(reader).await?))
}

/// The sum of a merge input's numbers.
pub(crate) fn sum_counts(input: &Value) -> Result<Value, ActionError> {
    let items = input.as_array().ok_or_else(|| {
        ActionError::Permanent(format!("merge expected an array of counts, got {input}"))
    })?;
    let mut total: i64 = 0;
    for item in items {
        let n = item
            .as_i64()
            .ok_or_else(|| ActionError::Permanent(format!("merge expected counts, got {item}")))?;
        total += n;
    }
    Ok(Value::from(total))
}
