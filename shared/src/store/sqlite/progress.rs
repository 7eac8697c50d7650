//! Completions and job progress in the embedded store. SQLite has one writer at a time, so a
//! write transaction is the job's lock here; what to write is decided by the state machine
//! (`state_machine::decide` and `plan`), as for every store.

use std::collections::BTreeSet;

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;

use super::{queries, Woke};
use crate::{
    ids::JobId,
    messages::Completion,
    state_machine::{decide, plan, stage_of, CompletionDecision, Failure, Move, Tally, UnitFacts},
    status::{JobStatus, Stage, UnitState},
    store::{Applied, Outputs, Recorded},
};

/// Records a batch of completions and moves their jobs on, in one transaction: one commit (one
/// sync of the file), however many there are. A job that cannot be moved on is left as it was
/// (its savepoint rolled back) for the dispatcher's own `advance_job`, so it holds up no other.
pub(super) fn record_completions(
    conn: &mut Connection,
    batch: &[Completion],
    max_attempts: i32,
    max_listed: i64,
) -> anyhow::Result<(Recorded, Woke)> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut woke = Woke::default();
    let mut recorded = Recorded::default();
    for c in batch {
        let (outcome, this) = record_in(&tx, c, max_attempts)?;
        woke.work |= this.work;
        woke.callbacks |= this.callbacks;
        recorded.applied.push(outcome);
    }
    // The write transaction is every job's lock: what it sees of a stage is final, so only a
    // job whose move failed is left to the caller.
    let jobs: BTreeSet<JobId> = batch.iter().map(|c| c.job_id).collect();
    let mut ended = Vec::new();
    for job_id in jobs {
        let savepoint = tx.savepoint()?;
        match advance_locked(&savepoint, job_id, max_listed) {
            Ok((this, ended_now)) => {
                savepoint.commit()?;
                woke.work |= this.work;
                woke.callbacks |= this.callbacks;
                ended.extend(ended_now);
            }
            Err(e) => {
                tracing::debug!(
                    job.id = job_id.0,
                    error = format!("{e:#}"),
                    "job not moved on with its completions; the dispatcher tries again"
                );
                recorded.to_advance.insert(job_id);
            }
        }
    }
    tx.commit()?;
    for (action, status) in ended {
        crate::metrics::job_completed(&action, status);
    }
    Ok((recorded, woke))
}

fn record_in(
    tx: &rusqlite::Transaction<'_>,
    c: &Completion,
    max_attempts: i32,
) -> anyhow::Result<(Applied, Woke)> {
    // Cached: parsing a statement costs more than running it, and these run once per unit.
    let unit = tx
        .prepare_cached(
            "SELECT stage, state, attempts, action, stops FROM work_units WHERE id = ?1 AND job_id = ?2",
        )?
        .query_row(
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
    let facts = UnitFacts::from_row(stage, &state, attempts, stops)?;
    let decision = decide(&facts, c, max_attempts);
    match &decision {
        CompletionDecision::Stale(_) => {}
        CompletionDecision::Succeeded {
            output,
            process_inputs,
        } => {
            tx.prepare_cached(
                "UPDATE work_units SET state = 'succeeded', output = ?2, time = ?3, attempts = attempts + 1,
                        finished_at = unixepoch('subsec')
                 WHERE id = ?1",
            )?
            .execute(params![c.unit_id, output.to_string(), c.time])?;
            queries::insert_units(tx, c.job_id, &action, Stage::Process, process_inputs)?;
        }
        CompletionDecision::Retry(Failure { error, stops }) => {
            // Pending again with a fresh timestamp: the relay publishes it behind
            // everything already waiting.
            tx.prepare_cached(
                "UPDATE work_units SET state = 'pending', attempts = attempts + 1, output = ?2,
                        time = ?3, updated_at = unixepoch('subsec'), stops = stops + ?4
                 WHERE id = ?1",
            )?
            .execute(params![
                c.unit_id,
                Value::from(error.as_str()).to_string(),
                c.time,
                stops
            ])?;
        }
        CompletionDecision::Fail(Failure { error, stops }) => {
            tx.prepare_cached(
                "UPDATE work_units SET state = 'failed', attempts = attempts + 1, output = ?2, time = ?3,
                     finished_at = unixepoch('subsec'), stops = stops + ?4
                 WHERE id = ?1",
            )?
            .execute(params![c.unit_id, Value::from(error.as_str()).to_string(), c.time, stops])?;
        }
    }
    let woke = Woke {
        work: decision.adds_work(),
        ..Woke::default()
    };
    Ok((decision.applied(), woke))
}

pub(super) fn advance_job(
    conn: &mut Connection,
    job_id: JobId,
    max_listed: i64,
) -> anyhow::Result<Woke> {
    // BEGIN IMMEDIATE takes the database's write lock: the job's lock, here.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match advance_locked(conn, job_id, max_listed) {
        Ok((woke, ended)) => {
            conn.execute_batch("COMMIT")?;
            if let Some((action, status)) = ended {
                crate::metrics::job_completed(&action, status);
            }
            Ok(woke)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK").ok();
            Err(e)
        }
    }
}

/// Moves the job on; says what to wake and, when it ended the job, its action and status.
fn advance_locked(
    conn: &Connection,
    job_id: JobId,
    max_listed: i64,
) -> anyhow::Result<(Woke, Option<(String, JobStatus)>)> {
    let job = conn
        .prepare_cached("SELECT status, has_merge, action FROM jobs WHERE id = ?1")?
        .query_row(params![job_id], |r| {
            Ok((
                r.get::<_, i16>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    let Some((status, has_merge, action)) = job else {
        return Ok((Woke::default(), None));
    };
    let status = JobStatus::from_code(status).context("job with an unknown status")?;
    let Some(stage) = stage_of(status) else {
        return Ok((Woke::default(), None));
    };
    // A unit of its stage still waiting: the plan would be empty, and one probe says so
    // without tallying every unit of the job.
    let waiting: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM work_units
                            WHERE job_id = ?1 AND stage = ?2 AND state IN ('pending', 'queued'))",
        )?
        .query_row(params![job_id, stage.code()], |r| r.get(0))?;
    if waiting {
        return Ok((Woke::default(), None));
    }
    let mut moves = SqliteMoves {
        conn,
        job_id,
        action,
        woke: Woke::default(),
        ended: None,
    };
    let tally = moves.tally()?;
    for step in plan(status, has_merge, &tally) {
        match step {
            Move::SetStatus(next) => moves.set_status(next)?,
            Move::AddMergeUnit => moves.add_merge_unit()?,
            Move::Complete { status, outputs_of } => {
                let outputs = moves.stage_outputs(outputs_of, max_listed)?;
                moves.complete(status, outputs, outputs_of)?;
                moves.ended = Some(status);
            }
        }
    }
    let ended = moves.ended.map(|status| (moves.action.clone(), status));
    Ok((moves.woke, ended))
}

/// The job's moves, inside the write transaction that is its lock.
struct SqliteMoves<'a> {
    conn: &'a Connection,
    job_id: JobId,
    action: String,
    woke: Woke,
    /// The status this transaction ended the job in.
    ended: Option<JobStatus>,
}

impl SqliteMoves<'_> {
    fn tally(&mut self) -> anyhow::Result<Tally> {
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

    fn set_status(&mut self, status: JobStatus) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE jobs SET status = ?2, updated_at = unixepoch('subsec') WHERE id = ?1",
            params![self.job_id, status.code()],
        )?;
        Ok(())
    }

    fn stage_outputs(&mut self, stage: Stage, limit: i64) -> anyhow::Result<Outputs> {
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

    fn add_merge_unit(&mut self) -> anyhow::Result<()> {
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

    fn complete(
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
            job.id = self.job_id.0,
            status = status.as_str(),
            "job complete"
        );
        Ok(())
    }
}
