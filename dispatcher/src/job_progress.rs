//! Applying a completion and moving its job on. Idempotent: a duplicate or stale
//! completion (a redelivery, an answer to an older attempt) changes nothing.

use crowd_shared::{
    messages::Completion,
    store::{Store, StoreResult},
};

pub use crowd_shared::store::Applied;

/// Records the completion, then moves the job on if its stage may be done.
///
/// Two steps, so completions of one job are recorded in parallel: the first touches only the
/// unit's row; the second locks the job row, and only when no unit of the job's stage is left.
/// Every completion runs the second step after its own commit, so the last one to commit
/// always sees the stage done; under the job lock that step happens once (one merge, one
/// completion of the job). It runs for stale completions too: a redelivery after a crash
/// between the steps finishes what the first delivery began.
pub async fn apply_completion(
    store: &dyn Store,
    c: &Completion,
    max_attempts: i32,
) -> StoreResult<Applied> {
    let applied = store.record_completion(c, max_attempts).await?;
    store.advance_job(c.job_id).await?;
    Ok(applied)
}

/// Moves on every incomplete job that can be moved: after a restart with queues that start
/// empty (the in-process ones), a completion recorded just before the last run died may not
/// have moved its job on, and nothing in the new queues will.
pub async fn advance_every_incomplete_job(store: &dyn Store) -> StoreResult<()> {
    for id in store.incomplete_jobs().await? {
        store.advance_job(id).await?;
    }
    Ok(())
}
