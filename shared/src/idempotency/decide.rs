//! The one rule of idempotent posts, apart from any store: what a post with a key does, given
//! the row the key has (if any). Each store reads the row under the key's lock and runs this.

use std::time::Duration;

use super::Fingerprint;
use crate::ids::JobId;

/// A key's stored row, as a post finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The job the key's first post created.
    pub job_id: JobId,
    pub fingerprint: Fingerprint,
    /// Since the key was first used, by the store's clock (never negative).
    pub age: Duration,
}

/// What to do with the post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write the job, and make the key name it (a new row, or the expired one renewed).
    Create,
    /// Answer with this job, the one the key made; write nothing.
    Replay(JobId),
    /// The key made another job: refuse, write nothing.
    Conflict,
}

/// A key is remembered for `retention` and no longer: at that age it is as good as new, so a
/// client that reuses keys after a day gets new jobs, not yesterday's.
pub fn decide(
    existing: Option<&KeyRecord>,
    fingerprint: &Fingerprint,
    retention: Duration,
) -> Decision {
    match existing {
        None => Decision::Create,
        Some(record) if record.age >= retention => Decision::Create,
        Some(record) if record.fingerprint != *fingerprint => Decision::Conflict,
        Some(record) => Decision::Replay(record.job_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn fp(hex: &str) -> Fingerprint {
        Fingerprint::from_stored(hex.to_string())
    }

    fn record(job_id: JobId, fingerprint: &str, age: Duration) -> KeyRecord {
        KeyRecord {
            job_id,
            fingerprint: fp(fingerprint),
            age,
        }
    }

    #[test]
    fn a_new_key_creates() {
        assert_eq!(decide(None, &fp("a"), DAY), Decision::Create);
    }

    #[test]
    fn the_same_job_again_replays_the_first() {
        let first = record(JobId(7), "a", Duration::from_secs(3));
        assert_eq!(
            decide(Some(&first), &fp("a"), DAY),
            Decision::Replay(JobId(7))
        );
    }

    #[test]
    fn another_job_with_the_key_conflicts() {
        let first = record(JobId(7), "a", Duration::from_secs(3));
        assert_eq!(decide(Some(&first), &fp("b"), DAY), Decision::Conflict);
    }

    #[test]
    fn a_key_as_old_as_the_retention_is_forgotten_whatever_the_job() {
        let just_kept = record(JobId(7), "a", DAY - Duration::from_millis(1));
        assert_eq!(
            decide(Some(&just_kept), &fp("a"), DAY),
            Decision::Replay(JobId(7))
        );
        assert_eq!(decide(Some(&just_kept), &fp("b"), DAY), Decision::Conflict);
        let expired = record(JobId(7), "a", DAY);
        assert_eq!(decide(Some(&expired), &fp("a"), DAY), Decision::Create);
        assert_eq!(decide(Some(&expired), &fp("b"), DAY), Decision::Create);
    }

    #[test]
    fn no_retention_keeps_nothing() {
        let fresh = record(JobId(7), "a", Duration::ZERO);
        assert_eq!(
            decide(Some(&fresh), &fp("a"), Duration::ZERO),
            Decision::Create
        );
    }
}
