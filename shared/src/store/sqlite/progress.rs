//! Completions and job progress in the embedded store. SQLite has one writer at a time, so a
//! write transaction is the job's lock here; the moves themselves are decided by
//! `progress::advance`, as for every store.

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;

use super::{queries, Woke};
use crate::{
    messages::{Completion, Outcome},
    progress::{self, JobMoves, Outputs},
    state_machine::{after_failure, failure_error, stage_of, AfterFailure, Tally},
    status::{JobStatus, Stage, UnitState},
    store::Applied,
};

/// Records a batch of completions in one transaction: one commit (one sync of the file),
/// however many there are.
pub(super) fn record_completions(
    conn: &mut Connection,
    batch: &[Completion],
    max_attempts: i32,
) -> anyhow::Result<(Vec<Applied>, Woke)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut woke = Woke::default();
    let mut applied = Vec::with_capacity(batch.len());
    for c in batch {
        let (outcome, this) = record_in(&tx, c, max_attempts)?;
        woke.work |= this.work;
        woke.callbacks |= this.callbacks;
        applied.push(outcome);
    }
    tx.commit()?;
    Ok((applied, woke))
}

fn record_in(
    tx: &rusqlite::Transaction<'_>,
    c: &Completion,
    max_attempts: i32,
) -> anyhow::Result<(Applied, Woke)> {
    let unit = tx
        .query_row(
            "SELECT stage, state, attempts, action, stops FROM work_units WHERE id = ?1 AND job_id = ?2",
            params![c.unit_id, c.job_id],
            |r| {
                Ok((
                    r.get::<_, i16>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i32>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((stage, state, attempts, action, stops)) = unit else {
        return Ok((Applied::Gone, Woke::default()));
    };
    let state = UnitState::parse(&state).context("unit with an unknown state")?;
    if state.is_complete() {
        return Ok((Applied::Stale("unit already complete"), Woke::default()));
    }
    if attempts != c.attempt {
        return Ok((Applied::Stale("an older attempt"), Woke::default()));
    }
    let stage = Stage::from_code(stage).context("unit with an unknown stage")?;
    let mut woke = Woke::default();
    match &c.outcome {
        Outcome::Succeeded { output } => {
            tx.execute(
                "UPDATE work_units SET state = 'succeeded', output = ?2, time = ?3, attempts = attempts + 1,
                        finished_at = unixepoch('subsec')
                 WHERE id = ?1",
                params![c.unit_id, output.to_string(), c.time],
            )?;
            if stage == Stage::Split {
                queries::insert_units(
                    tx,
                    c.job_id,
                    &action,
                    Stage::Process,
                    &progress::split_inputs(output.clone()),
                )?;
                woke.work = true;
            }
        }
        Outcome::Failed {
            error,
            retryable,
            stopped,
        } => {
            let error = Value::from(failure_error(error, *stopped, stops)).to_string();
            let stops = i32::from(*stopped);
            match after_failure(attempts, max_attempts, *retryable) {
                AfterFailure::Retry => {
                    // Pending again with a fresh timestamp: the relay publishes it behind
                    // everything already waiting.
                    tx.execute(
                        "UPDATE work_units SET state = 'pending', attempts = attempts + 1, output = ?2,
                                time = ?3, updated_at = unixepoch('subsec'), stops = stops + ?4
                         WHERE id = ?1",
                        params![c.unit_id, error, c.time, stops],
                    )?;
                    woke.work = true;
                }
                AfterFailure::Fail => {
                    tx.execute(
                        "UPDATE work_units SET state = 'failed', attempts = attempts + 1, output = ?2, time = ?3,
                             finished_at = unixepoch('subsec'), stops = stops + ?4
                         WHERE id = ?1",
                        params![c.unit_id, error, c.time, stops],
                    )?;
                }
            }
        }
    }
    Ok((Applied::Recorded, woke))
}

pub(super) fn advance_job(
    conn: &mut Connection,
    job_id: i64,
    max_listed: i64,
) -> anyhow::Result<Woke> {
    // BEGIN IMMEDIATE takes the database's write lock: the job's lock, here.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match advance_locked(conn, job_id, max_listed) {
        Ok(woke) => {
            conn.execute_batch("COMMIT")?;
            Ok(woke)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK").ok();
            Err(e)
        }
    }
}

fn advance_locked(conn: &mut Connection, job_id: i64, max_listed: i64) -> anyhow::Result<Woke> {
    let job = conn
        .query_row(
            "SELECT status, has_merge, action FROM jobs WHERE id = ?1",
            params![job_id],
            |r| {
                Ok((
                    r.get::<_, i16>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((status, has_merge, action)) = job else {
        return Ok(Woke::default());
    };
    let status = JobStatus::from_code(status).context("job with an unknown status")?;
    let Some(stage) = stage_of(status) else {
        return Ok(Woke::default());
    };
    let waiting: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM work_units
                        WHERE job_id = ?1 AND stage = ?2 AND state IN ('pending', 'queued'))",
        params![job_id, stage.code()],
        |r| r.get(0),
    )?;
    if waiting {
        return Ok(Woke::default());
    }
    let mut moves = SqliteMoves {
        conn,
        job_id,
        action,
        woke: Woke::default(),
    };
    // The moves do no real waiting (SQLite is synchronous): driving them here, on this
    // blocking thread, is immediate.
    tokio::runtime::Handle::current()
        .block_on(progress::advance(&mut moves, status, has_merge, max_listed))?;
    Ok(moves.woke)
}

struct SqliteMoves<'a> {
    conn: &'a mut Connection,
    job_id: i64,
    action: String,
    woke: Woke,
}

#[async_trait]
impl JobMoves for SqliteMoves<'_> {
    async fn tally(&mut self) -> anyhow::Result<Tally> {
        let mut query = self.conn.prepare_cached(
            "SELECT stage, state, count(*) FROM work_units WHERE job_id = ?1 GROUP BY stage, state",
        )?;
        let rows = query.query_map(params![self.job_id], |r| {
            Ok((
                r.get::<_, i16>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut tally = Tally::default();
        for row in rows {
            let (stage, state, n) = row?;
            let stage = Stage::from_code(stage).context("unknown stage")?;
            let state = UnitState::parse(&state).context("unknown state")?;
            tally.add(stage, state, n);
        }
        Ok(tally)
    }

    async fn set_status(&mut self, status: JobStatus) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE jobs SET status = ?2, updated_at = unixepoch('subsec') WHERE id = ?1",
            params![self.job_id, status.code()],
        )?;
        Ok(())
    }

    async fn stage_outputs(&mut self, stage: Stage, limit: i64) -> anyhow::Result<Outputs> {
        let total: i64 = self.conn.query_row(
            "SELECT count(*) FROM work_units WHERE job_id = ?1 AND stage = ?2",
            params![self.job_id, stage.code()],
            |r| r.get(0),
        )?;
        let mut query = self.conn.prepare_cached(
            "SELECT output FROM work_units WHERE job_id = ?1 AND stage = ?2 ORDER BY id LIMIT ?3",
        )?;
        let outputs = query
            .query_map(params![self.job_id, stage.code(), limit], |r| {
                r.get::<_, Option<String>>(0)
            })?
            .map(|output| {
                Ok(match output? {
                    Some(text) => queries::shown(&text),
                    None => Value::Null,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Outputs {
            listed: Value::Array(outputs),
            total,
        })
    }

    async fn add_merge_unit(&mut self) -> anyhow::Result<()> {
        queries::insert_units(
            self.conn,
            self.job_id,
            &self.action,
            Stage::Merge,
            &[Value::Null],
        )?;
        self.woke.work = true;
        Ok(())
    }

    async fn complete(
        &mut self,
        status: JobStatus,
        outputs: Outputs,
        stage: Stage,
    ) -> anyhow::Result<()> {
        let listed = outputs.listed.as_array().map_or(0, Vec::len) as i64;
        let unlisted_total = (outputs.total > listed).then_some(outputs.total);
        self.conn.execute(
            "UPDATE jobs SET status = ?2, outputs = ?3, outputs_total = ?4, outputs_stage = ?5,
                    updated_at = unixepoch('subsec'),
                    time_taken = unixepoch('subsec') - created_at,
                    callback_state = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'pending' END,
                    callback_due_at = CASE WHEN callback_url IS NULL THEN NULL ELSE unixepoch('subsec') END
             WHERE id = ?1",
            params![
                self.job_id,
                status.code(),
                outputs.listed.to_string(),
                unlisted_total,
                stage.code()
            ],
        )?;
        // Units still waiting will not count: cancel them, so their late completions are stale.
        self.conn.execute(
            "UPDATE work_units SET state = 'failed', output = '\"cancelled: the job had already ended\"',
                 finished_at = unixepoch('subsec')
             WHERE job_id = ?1 AND state IN ('pending', 'queued')",
            params![self.job_id],
        )?;
        self.woke.callbacks = true;
        tracing::info!(
            job.id = self.job_id,
            status = status.as_str(),
            "job complete"
        );
        Ok(())
    }
}
