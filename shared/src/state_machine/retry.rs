//! Retrying a failed job (`POST /jobs/:id/retry`): its failed units get their attempts back and
//! go to the outbox again, and the job goes back to the stage they belong to, as though that
//! stage had not ended. A job stops at the first stage with a failed unit, so they all belong to
//! one stage; should they not, the earliest is where the job resumes.

use crate::status::{JobStatus, Stage};

/// Why a job cannot be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotRetryable {
    #[error("only a failed job can be retried, and this one is {}", .0.as_str())]
    NotFailed(JobStatus),
    #[error("the job failed with no failed unit to run again")]
    NothingFailed,
}

/// The status a job in `status` goes back to when its failed units, of `failed_stages`, run
/// again.
pub fn resume(status: JobStatus, failed_stages: &[Stage]) -> Result<JobStatus, NotRetryable> {
    if status != JobStatus::Failed {
        return Err(NotRetryable::NotFailed(status));
    }
    let earliest = failed_stages
        .iter()
        .min_by_key(|stage| match stage {
            Stage::Split => 0,
            Stage::Process => 1,
            Stage::Merge => 2,
        })
        .ok_or(NotRetryable::NothingFailed)?;
    Ok(match earliest {
        Stage::Split => JobStatus::Splitting,
        Stage::Process => JobStatus::Processing,
        Stage::Merge => JobStatus::Merging,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_job_resumes_at_the_stage_of_its_failed_units() {
        assert_eq!(
            resume(JobStatus::Failed, &[Stage::Process]),
            Ok(JobStatus::Processing)
        );
        assert_eq!(
            resume(JobStatus::Failed, &[Stage::Merge]),
            Ok(JobStatus::Merging)
        );
        assert_eq!(
            resume(JobStatus::Failed, &[Stage::Process, Stage::Split]),
            Ok(JobStatus::Splitting)
        );
    }

    #[test]
    fn only_a_failed_job_with_failed_units_is_retried() {
        for status in [
            JobStatus::Processing,
            JobStatus::Succeeded,
            JobStatus::Splitting,
            JobStatus::Merging,
        ] {
            assert_eq!(
                resume(status, &[Stage::Process]),
                Err(NotRetryable::NotFailed(status))
            );
        }
        assert_eq!(
            resume(JobStatus::Failed, &[]),
            Err(NotRetryable::NothingFailed)
        );
    }
}
