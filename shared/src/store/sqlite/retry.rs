//! Retrying a failed job, in SQLite: the decision is `state_machine::resume`; the write
//! transaction is the job's lock.

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};

use crate::{
    ids::JobId,
    state_machine::{resume, NotRetryable},
    status::{JobStatus, Stage},
};

pub(super) fn retry_job(
    conn: &mut Connection,
    job_id: JobId,
) -> anyhow::Result<Option<Result<u64, NotRetryable>>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let Some(status) = tx
        .query_row(
            "SELECT status FROM jobs WHERE id = ?1",
            params![job_id],
            |r| r.get::<_, i16>(0),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let status = JobStatus::from_code(status).context("job with an unknown status")?;
    let stages: Vec<Stage> = tx
        .prepare("SELECT DISTINCT stage FROM work_units WHERE job_id = ?1 AND state = 'failed'")?
        .query_map(params![job_id], |r| r.get::<_, i16>(0))?
        .filter_map(|code| code.ok().and_then(Stage::from_code))
        .collect();
    let resumed = match resume(status, &stages) {
        Ok(resumed) => resumed,
        Err(refused) => return Ok(Some(Err(refused))),
    };
    // Pending is the outbox here; the counts follow by trigger.
    let again = tx.execute(
        "UPDATE work_units
         SET state = 'pending', attempts = 0, stops = 0, output = NULL, time = NULL,
             finished_at = NULL, updated_at = unixepoch('subsec')
         WHERE job_id = ?1 AND state = 'failed'",
        params![job_id],
    )?;
    tx.execute(
        "UPDATE jobs SET status = ?2, outputs = NULL, outputs_total = NULL, outputs_stage = NULL,
                time_taken = NULL, updated_at = unixepoch('subsec'), callback_state = 'none',
                callback_attempts = 0, callback_due_at = NULL, callback_error = NULL
         WHERE id = ?1",
        params![job_id, resumed.code()],
    )?;
    tx.commit().context("committing a job's retry")?;
    Ok(Some(Ok(again as u64)))
}
