//! What recording a batch of completions did: to each completion, and to the jobs left to move.

use std::collections::BTreeSet;

use crate::ids::JobId;

/// What became of a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Recorded,
    /// Nothing changed: the unit is complete already, or the attempt is not the current one.
    Stale(&'static str),
    /// The unit's job was deleted: whatever the run stored belongs to nobody.
    Gone,
}

impl Applied {
    /// Its name in the metrics.
    pub fn result(self) -> &'static str {
        match self {
            Applied::Recorded => "recorded",
            Applied::Stale(_) => "stale",
            Applied::Gone => "gone",
        }
    }
}

/// What `Store::record_completions` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// What became of each completion, in the batch's order.
    pub applied: Vec<Applied>,
    /// Jobs the commit may have left unmoved: a job whose stage was not seen to end inside the
    /// transaction (another dispatcher's completions of it may have committed since), or whose
    /// move failed and was rolled back alone. The caller runs `advance_job` on each after the
    /// commit, so the last completion of a stage to commit always moves its job on.
    pub to_advance: BTreeSet<JobId>,
}

impl Recorded {
    /// Adds what another batch did, after this one's.
    pub fn extend(&mut self, other: Recorded) {
        self.applied.extend(other.applied);
        self.to_advance.extend(other.to_advance);
    }
}
