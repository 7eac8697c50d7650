//! Job statuses, unit stages and unit states, with the numeric codes CloudCrowd used.

use serde::{Deserialize, Serialize};

/// A job's status. The numbers are CloudCrowd's, so stored rows read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Processing,
    Succeeded,
    Failed,
    Splitting,
    Merging,
}

impl JobStatus {
    pub fn code(self) -> i16 {
        match self {
            JobStatus::Processing => 1,
            JobStatus::Succeeded => 2,
            JobStatus::Failed => 3,
            JobStatus::Splitting => 4,
            JobStatus::Merging => 5,
        }
    }

    pub fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            1 => JobStatus::Processing,
            2 => JobStatus::Succeeded,
            3 => JobStatus::Failed,
            4 => JobStatus::Splitting,
            5 => JobStatus::Merging,
            _ => return None,
        })
    }

    /// The display string of CloudCrowd's job JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Processing => "processing",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Splitting => "splitting",
            JobStatus::Merging => "merging",
        }
    }

    pub fn is_complete(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }

    /// The status a new job starts in: an action that splits starts by splitting.
    pub fn initial(has_split: bool) -> Self {
        if has_split {
            JobStatus::Splitting
        } else {
            JobStatus::Processing
        }
    }
}

/// Which of an action's methods a work unit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Split,
    Process,
    Merge,
}

impl Stage {
    /// Stored as the CloudCrowd status number a unit of that stage had (4, 1, 5).
    pub fn code(self) -> i16 {
        match self {
            Stage::Split => 4,
            Stage::Process => 1,
            Stage::Merge => 5,
        }
    }

    pub fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            4 => Stage::Split,
            1 => Stage::Process,
            5 => Stage::Merge,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Split => "split",
            Stage::Process => "process",
            Stage::Merge => "merge",
        }
    }
}

/// Where a work unit is in its life. `Pending` units are the outbox: the dispatcher
/// publishes them and marks them `Queued` only once the broker confirmed the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitState {
    Pending,
    Queued,
    Succeeded,
    Failed,
}

impl UnitState {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitState::Pending => "pending",
            UnitState::Queued => "queued",
            UnitState::Succeeded => "succeeded",
            UnitState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => UnitState::Pending,
            "queued" => UnitState::Queued,
            "succeeded" => UnitState::Succeeded,
            "failed" => UnitState::Failed,
            _ => return None,
        })
    }

    pub fn is_complete(self) -> bool {
        matches!(self, UnitState::Succeeded | UnitState::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in [
            JobStatus::Processing,
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Splitting,
            JobStatus::Merging,
        ] {
            assert_eq!(JobStatus::from_code(s.code()), Some(s));
        }
        for s in [Stage::Split, Stage::Process, Stage::Merge] {
            assert_eq!(Stage::from_code(s.code()), Some(s));
        }
        assert_eq!(JobStatus::from_code(0), None);
    }
}
