//! Handing units to the broker: what the relay gives a queue, and what comes back. The store
//! claims the units and records the outcome; the queue only publishes.

use async_trait::async_trait;

use crate::{
    ids::{JobId, UnitId},
    messages::WorkMessage,
};

/// Hands claimed units to the broker.
#[async_trait]
pub trait Publish: Send {
    /// Publishes `units` and waits for the broker; returns the ids it confirmed and, if some
    /// were not, why.
    async fn publish(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published>;
}

/// What the broker confirmed of a batch.
#[derive(Debug, Default)]
pub struct Published {
    pub confirmed: Vec<UnitId>,
    /// Units that can never be published (too big, refused by the broker): they fail for good,
    /// each alone, so the rest keep flowing.
    pub failed: Vec<Unpublishable>,
    /// Why the others were not (they stay pending and are tried again).
    pub refused: Option<anyhow::Error>,
}

/// A unit that cannot be sent, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unpublishable {
    pub unit_id: UnitId,
    pub job_id: JobId,
    pub error: String,
}
