//! Worker nodes and the counts `/status` reports.

use serde_json::Value;

/// A worker node as `/status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub tag: Option<String>,
    /// Ids of the units it runs now.
    pub running: Value,
    pub max_workers: i32,
    /// Why it takes no new units now; none while it takes them.
    pub throttled: Option<String>,
    /// The actions it consumes, and their stages.
    pub actions: crate::catalog::Catalog,
    /// How far its running units have got, in percent, by unit id: `{"12": 40}`.
    pub progress: Value,
}

impl NodeView {
    pub fn is_busy(&self) -> bool {
        self.running.as_array().map_or(0, Vec::len) >= self.max_workers.max(1) as usize
    }
}

/// What `/status` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub nodes: Vec<NodeView>,
    /// Jobs not yet complete.
    pub job_count: i64,
    /// Units not yet complete.
    pub work_unit_count: i64,
}
