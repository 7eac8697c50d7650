//! Callbacks as the store leases them.

use crate::ids::JobId;

/// A callback that is due, leased to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCallback {
    pub job_id: JobId,
    pub url: String,
    /// Deliveries tried so far, this one included.
    pub attempts: i32,
    /// When the job was created (Unix milliseconds): with its id, what names its callback
    /// to receivers the same way on every retry (`webhook::message_id`).
    pub created_at_ms: i64,
}
