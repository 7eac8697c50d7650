//! Moving a job on: given its status, whether it has a merge and a tally of its units, the
//! moves to make, in order. The store reads those facts and makes the moves inside one hold
//! of the job's lock, so of many callers at once one moves the job and the others find it
//! moved already (their plan is empty).

use super::job::{next_status, output_stage, Tally};
use crate::status::{JobStatus, Stage};

/// One write that moves a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// The job's status becomes this one.
    SetStatus(JobStatus),
    /// Adds the job's one merge unit (pending). Its input, every process output, is read
    /// when it is sent, not copied into it.
    AddMergeUnit,
    /// Ends the job with `status`: its outputs are those of `outputs_of`'s units (which the
    /// store reads), and its callback becomes due; units still waiting are cancelled.
    Complete {
        status: JobStatus,
        outputs_of: Stage,
    },
}

/// The moves that take a job in `status` through as many states as its units allow; none
/// while a unit of its current stage is waiting, or once it is complete.
pub fn plan(mut status: JobStatus, has_merge: bool, tally: &Tally) -> Vec<Move> {
    let mut moves = Vec::new();
    while let Some(next) = next_status(status, has_merge, tally) {
        match next {
            JobStatus::Splitting | JobStatus::Processing => moves.push(Move::SetStatus(next)),
            JobStatus::Merging => {
                // The merge unit is new and pending: nothing more until it completes.
                moves.extend([Move::AddMergeUnit, Move::SetStatus(next)]);
                break;
            }
            JobStatus::Succeeded | JobStatus::Failed => {
                moves.push(Move::Complete {
                    status: next,
                    outputs_of: output_stage(status),
                });
                break;
            }
        }
        status = next;
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::UnitState;

    #[test]
    fn a_finished_split_with_no_process_units_goes_straight_to_merging() {
        let t = Tally::from_iter([(Stage::Split, UnitState::Succeeded, 1)]);
        assert_eq!(
            plan(JobStatus::Splitting, true, &t),
            [
                Move::SetStatus(JobStatus::Processing),
                Move::AddMergeUnit,
                Move::SetStatus(JobStatus::Merging)
            ]
        );
    }

    #[test]
    fn a_finished_split_with_process_units_waits_for_them() {
        let t = Tally::from_iter([
            (Stage::Split, UnitState::Succeeded, 1),
            (Stage::Process, UnitState::Pending, 2),
        ]);
        assert_eq!(
            plan(JobStatus::Splitting, true, &t),
            [Move::SetStatus(JobStatus::Processing)]
        );
    }

    #[test]
    fn a_failed_split_completes_the_job_with_the_split_outputs() {
        let t = Tally::from_iter([
            (Stage::Split, UnitState::Failed, 1),
            (Stage::Process, UnitState::Pending, 2),
        ]);
        assert_eq!(
            plan(JobStatus::Splitting, true, &t),
            [Move::Complete {
                status: JobStatus::Failed,
                outputs_of: Stage::Split
            }]
        );
    }

    #[test]
    fn a_failed_process_unit_completes_the_job_with_the_process_outputs() {
        let t = Tally::from_iter([(Stage::Process, UnitState::Failed, 1)]);
        assert_eq!(
            plan(JobStatus::Processing, true, &t),
            [Move::Complete {
                status: JobStatus::Failed,
                outputs_of: Stage::Process
            }]
        );
    }

    #[test]
    fn a_job_without_a_merge_succeeds_with_its_process_outputs() {
        let t = Tally::from_iter([(Stage::Process, UnitState::Succeeded, 3)]);
        assert_eq!(
            plan(JobStatus::Processing, false, &t),
            [Move::Complete {
                status: JobStatus::Succeeded,
                outputs_of: Stage::Process
            }]
        );
    }

    #[test]
    fn a_done_merge_completes_the_job_with_its_output() {
        let t = Tally::from_iter([
            (Stage::Process, UnitState::Succeeded, 3),
            (Stage::Merge, UnitState::Succeeded, 1),
        ]);
        assert_eq!(
            plan(JobStatus::Merging, true, &t),
            [Move::Complete {
                status: JobStatus::Succeeded,
                outputs_of: Stage::Merge
            }]
        );
    }

    #[test]
    fn nothing_moves_while_units_run_or_once_complete() {
        let running = Tally::from_iter([(Stage::Process, UnitState::Queued, 1)]);
        assert!(plan(JobStatus::Processing, true, &running).is_empty());
        let done = Tally::from_iter([(Stage::Process, UnitState::Succeeded, 1)]);
        assert!(plan(JobStatus::Succeeded, false, &done).is_empty());
        assert!(plan(JobStatus::Failed, true, &done).is_empty());
    }
}
