//! What travels over the broker: work for a worker, a completion back to the dispatcher, and
//! a worker's heartbeat. JSON, so a queue can be read by eye in the management UI.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::status::Stage;

/// One attempt at one stage of one work unit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkMessage {
    pub unit_id: i64,
    pub job_id: i64,
    pub action: String,
    pub stage: Stage,
    pub input: Value,
    /// The job's options, as the user gave them.
    pub options: Value,
    /// Failed attempts before this one; it fences completions, so a late answer to an older
    /// attempt changes nothing.
    pub attempt: i32,
    /// Total attempts the unit gets (`work_unit_retries`).
    pub max_attempts: i32,
}

/// How a stage ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Succeeded { output: Value },
    Failed { error: String, retryable: bool },
}

/// A worker's report on one attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Completion {
    pub unit_id: i64,
    pub job_id: i64,
    pub attempt: i32,
    pub outcome: Outcome,
    /// Seconds the stage ran.
    pub time: f64,
    pub node: String,
}

/// A worker's periodic "still here", which `/status` shows as a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub node: String,
    pub tag: Option<String>,
    pub max_workers: u16,
    /// Units it is running now.
    pub running: Vec<i64>,
    pub actions: Vec<String>,
    /// Sent once on shutdown, so the node leaves `/status` at once.
    pub leaving: bool,
}
