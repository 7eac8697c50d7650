//! A job's status, free of I/O: given its status and a tally of its units, what does the job
//! become next?
//!
//! splitting ──(every split unit done)──▶ processing ──(every process unit done)──▶ merging
//!     │                                      │                                       │
//!     └──(a split failed for good)──▶ failed ◀──(a unit failed for good)─────────────┤
//!                                            succeeded ◀──(no merge / merge done)────┘

use std::collections::HashMap;

use crate::status::{JobStatus, Stage, UnitState};

/// How many of a job's units are in each stage and state.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    counts: HashMap<(Stage, UnitState), i64>,
}

impl Tally {
    pub fn add(&mut self, stage: Stage, state: UnitState, count: i64) {
        *self.counts.entry((stage, state)).or_default() += count;
    }

    fn count(&self, stage: Stage, pred: impl Fn(UnitState) -> bool) -> i64 {
        self.counts
            .iter()
            .filter(|((s, state), _)| *s == stage && pred(*state))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self, stage: Stage) -> i64 {
        self.count(stage, |_| true)
    }

    pub fn incomplete(&self, stage: Stage) -> i64 {
        self.count(stage, |s| !s.is_complete())
    }

    pub fn failed(&self, stage: Stage) -> i64 {
        self.count(stage, |s| s == UnitState::Failed)
    }
}

impl FromIterator<(Stage, UnitState, i64)> for Tally {
    fn from_iter<I: IntoIterator<Item = (Stage, UnitState, i64)>>(counts: I) -> Self {
        let mut tally = Tally::default();
        for (stage, state, count) in counts {
            tally.add(stage, state, count);
        }
        tally
    }
}

/// The next status of a job, or `None` while it must wait for units.
pub fn next_status(current: JobStatus, has_merge: bool, tally: &Tally) -> Option<JobStatus> {
    let stage_done = |stage| tally.incomplete(stage) == 0;
    match current {
        JobStatus::Splitting if stage_done(Stage::Split) => {
            Some(if tally.failed(Stage::Split) > 0 {
                JobStatus::Failed
            } else {
                JobStatus::Processing
            })
        }
        JobStatus::Processing if stage_done(Stage::Process) => {
            Some(if tally.failed(Stage::Process) > 0 {
                JobStatus::Failed
            } else if has_merge {
                JobStatus::Merging
            } else {
                JobStatus::Succeeded
            })
        }
        JobStatus::Merging if tally.total(Stage::Merge) > 0 && stage_done(Stage::Merge) => {
            Some(if tally.failed(Stage::Merge) > 0 {
                JobStatus::Failed
            } else {
                JobStatus::Succeeded
            })
        }
        _ => None,
    }
}

/// The stage whose units a job in `status` is waiting for; none once complete.
pub fn stage_of(status: JobStatus) -> Option<Stage> {
    match status {
        JobStatus::Splitting => Some(Stage::Split),
        JobStatus::Processing => Some(Stage::Process),
        JobStatus::Merging => Some(Stage::Merge),
        JobStatus::Succeeded | JobStatus::Failed => None,
    }
}

/// The stage whose units' outputs become the job's outputs when it ends from `status`.
pub fn output_stage(status_before_end: JobStatus) -> Stage {
    stage_of(status_before_end).unwrap_or(Stage::Process)
}

/// CloudCrowd's progress figure: 99 while merging, 100 when complete or empty.
pub fn percent_complete(status: JobStatus, done: i64, total: i64) -> i64 {
    match status {
        s if s.is_complete() => 100,
        JobStatus::Merging => 99,
        _ if total <= 0 => 100,
        _ => ((done as f64 / total as f64) * 100.0).round() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(entries: &[(Stage, UnitState, i64)]) -> Tally {
        entries.iter().copied().collect()
    }

    #[test]
    fn splitting_waits_for_every_split_then_processes() {
        let t = tally(&[
            (Stage::Split, UnitState::Queued, 1),
            (Stage::Split, UnitState::Succeeded, 1),
        ]);
        assert_eq!(next_status(JobStatus::Splitting, true, &t), None);
        let t = tally(&[
            (Stage::Split, UnitState::Succeeded, 2),
            (Stage::Process, UnitState::Pending, 3),
        ]);
        assert_eq!(
            next_status(JobStatus::Splitting, true, &t),
            Some(JobStatus::Processing)
        );
    }

    #[test]
    fn a_failed_split_fails_the_job() {
        let t = tally(&[
            (Stage::Split, UnitState::Failed, 1),
            (Stage::Split, UnitState::Succeeded, 1),
        ]);
        assert_eq!(
            next_status(JobStatus::Splitting, false, &t),
            Some(JobStatus::Failed)
        );
    }

    #[test]
    fn processing_ends_in_merge_success_or_failure() {
        let done = tally(&[(Stage::Process, UnitState::Succeeded, 3)]);
        assert_eq!(
            next_status(JobStatus::Processing, true, &done),
            Some(JobStatus::Merging)
        );
        assert_eq!(
            next_status(JobStatus::Processing, false, &done),
            Some(JobStatus::Succeeded)
        );
        let failed = tally(&[
            (Stage::Process, UnitState::Succeeded, 2),
            (Stage::Process, UnitState::Failed, 1),
        ]);
        assert_eq!(
            next_status(JobStatus::Processing, true, &failed),
            Some(JobStatus::Failed)
        );
        let running = tally(&[
            (Stage::Process, UnitState::Succeeded, 2),
            (Stage::Process, UnitState::Queued, 1),
        ]);
        assert_eq!(next_status(JobStatus::Processing, true, &running), None);
    }

    #[test]
    fn merging_ends_with_its_unit() {
        assert_eq!(
            next_status(JobStatus::Merging, true, &Tally::default()),
            None
        );
        let ok = tally(&[(Stage::Merge, UnitState::Succeeded, 1)]);
        assert_eq!(
            next_status(JobStatus::Merging, true, &ok),
            Some(JobStatus::Succeeded)
        );
        let bad = tally(&[(Stage::Merge, UnitState::Failed, 1)]);
        assert_eq!(
            next_status(JobStatus::Merging, true, &bad),
            Some(JobStatus::Failed)
        );
    }

    #[test]
    fn complete_jobs_stay_complete() {
        let t = tally(&[(Stage::Process, UnitState::Succeeded, 1)]);
        assert_eq!(next_status(JobStatus::Succeeded, true, &t), None);
        assert_eq!(next_status(JobStatus::Failed, true, &t), None);
    }

    #[test]
    fn a_stage_shares_its_code_with_the_job_status_waiting_on_it() {
        // SQL compares work_units.stage with jobs.status directly.
        for status in [
            JobStatus::Splitting,
            JobStatus::Processing,
            JobStatus::Merging,
        ] {
            assert_eq!(stage_of(status).map(Stage::code), Some(status.code()));
        }
    }

    #[test]
    fn percent_follows_cloudcrowd() {
        assert_eq!(percent_complete(JobStatus::Merging, 3, 3), 99);
        assert_eq!(percent_complete(JobStatus::Succeeded, 0, 3), 100);
        assert_eq!(percent_complete(JobStatus::Processing, 0, 0), 100);
        assert_eq!(percent_complete(JobStatus::Processing, 1, 3), 33);
    }
}
