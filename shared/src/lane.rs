//! Which units go first. Work waits in two lanes: units added a few at a time (a small job, a
//! merge, the units of a short split) take the first lane, and a big batch takes the bulk
//! lane behind them, in the outbox and in the action's queue alike. A one-unit job posted
//! while a job of a million units runs then waits for the units workers already hold, not for
//! the million; two big jobs share the bulk lane in the order they came.
//!
//! Two lanes, not more: a RabbitMQ quorum queue knows two priorities, and a classic queue
//! declared with `x-max-priority = 1` (as ours are) knows two as well.

use serde::{Deserialize, Serialize};

use crate::status::Stage;

/// Units added to a job at once from which they go in the bulk lane.
pub const BULK_FROM: usize = 100;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Taken before anything in the bulk lane. A message that names no lane (sent by an
    /// older version) is taken as one of these.
    #[default]
    First,
    Bulk,
}

impl Lane {
    /// The lane of `added` units of `stage` added to a job together. A merge is always one
    /// unit, the last of its job: it goes first, so a finished job is not held behind others.
    pub fn of(stage: Stage, added: usize) -> Lane {
        if stage == Stage::Merge || added < BULK_FROM {
            Lane::First
        } else {
            Lane::Bulk
        }
    }

    /// As stored: lanes sort first to last by their codes.
    pub fn code(self) -> i16 {
        match self {
            Lane::First => 0,
            Lane::Bulk => 1,
        }
    }

    /// A code no version wrote reads as the bulk lane: never ahead of what it should follow.
    pub fn from_code(code: i16) -> Lane {
        if code == 0 {
            Lane::First
        } else {
            Lane::Bulk
        }
    }

    /// The message priority on a broker queue with two priorities (higher goes first): 5, which
    /// a classic queue of `x-max-priority` 1 takes as its 1, and a RabbitMQ 4 quorum queue as
    /// its high priority (anything above 4).
    pub fn priority(self) -> u8 {
        match self {
            Lane::First => 5,
            Lane::Bulk => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_units_go_first_and_a_big_batch_in_bulk() {
        assert_eq!(Lane::of(Stage::Process, 1), Lane::First);
        assert_eq!(Lane::of(Stage::Process, BULK_FROM - 1), Lane::First);
        assert_eq!(Lane::of(Stage::Process, BULK_FROM), Lane::Bulk);
        assert_eq!(Lane::of(Stage::Split, 10_000), Lane::Bulk);
    }

    #[test]
    fn a_merge_always_goes_first() {
        assert_eq!(Lane::of(Stage::Merge, 1), Lane::First);
        assert_eq!(Lane::of(Stage::Merge, BULK_FROM), Lane::First);
    }

    #[test]
    fn codes_sort_as_lanes_and_read_back() {
        for lane in [Lane::First, Lane::Bulk] {
            assert_eq!(Lane::from_code(lane.code()), lane);
        }
        assert!(Lane::First.code() < Lane::Bulk.code());
        assert!(Lane::First.priority() > Lane::Bulk.priority());
        assert_eq!(Lane::from_code(7), Lane::Bulk);
    }

    #[test]
    fn a_message_without_a_lane_goes_first() {
        #[derive(Deserialize)]
        struct Old {
            #[serde(default)]
            lane: Lane,
        }
        let old: Old = serde_json::from_str("{}").expect("json");
        assert_eq!(old.lane, Lane::First);
        let new: Old = serde_json::from_str(r#"{"lane":"bulk"}"#).expect("json");
        assert_eq!(new.lane, Lane::Bulk);
    }
}
