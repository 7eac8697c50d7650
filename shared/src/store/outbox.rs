//! The outbox: pending units as the relay reads them, and what a relay round did.

use serde_json::Value;

use crate::{
    ids::{JobId, UnitId},
    lane::Lane,
    messages::WorkMessage,
    status::Stage,
};

/// A pending unit as the outbox holds it, read by either store.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingUnit {
    pub unit_id: UnitId,
    pub job_id: JobId,
    pub action: String,
    pub stage: Stage,
    pub input: Value,
    /// The job's options; `None` when they are too big to travel with every unit.
    pub options: Option<Value>,
    pub attempt: i32,
    pub lane: Lane,
}

impl PendingUnit {
    /// Its message. What is too big to travel in every message is named by its key in the
    /// asset store instead, where the dispatcher puts it before publishing: a merge's input
    /// (stored null: every process output, read when it is sent) and big options.
    pub fn into_message(self, max_attempts: i32) -> WorkMessage {
        let input_key = (self.stage == Stage::Merge && self.input.is_null())
            .then(|| crate::storage::merge_input_key(&self.action, self.job_id));
        let options_key = self
            .options
            .is_none()
            .then(|| crate::storage::job_options_key(&self.action, self.job_id));
        WorkMessage {
            unit_id: self.unit_id,
            job_id: self.job_id,
            action: self.action,
            stage: self.stage,
            input: self.input,
            input_key,
            options: self.options.unwrap_or(Value::Null),
            options_key,
            attempt: self.attempt,
            max_attempts,
            lane: self.lane,
        }
    }
}

/// What a relay round did.
#[derive(Debug)]
pub struct Relayed {
    /// Units claimed (and handed to the broker).
    pub claimed: usize,
    pub refused: Option<anyhow::Error>,
}
