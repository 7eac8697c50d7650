//! Recording completions and moving jobs on, in Postgres. The decisions are the state
//! machine's (`state_machine::decide` and `plan`); this file holds the locks and the SQL.

use std::collections::{BTreeSet, HashSet};

use anyhow::Context;
use deadpool_postgres::{GenericClient, Pool, Transaction};
use serde_json::Value;
use tokio_postgres::types::Type;

use super::{
    outbox::{enqueue_again, insert_units, notify},
    rows::{get, shown_json},
};
use crate::{
    channels,
    ids::{JobId, UnitId},
    messages::{Completion, Outcome},
    state_machine::{decide, plan, stage_of, CompletionDecision, Failure, Move, Tally, UnitFacts},
    status::{JobStatus, Stage, UnitState},
    store::{Applied, Outputs, Recorded},
};

/// Jobs moved on in one transaction at most, each in a savepoint: past 64 subtransactions a
/// Postgres backend's cache of them overflows, and every other session's snapshot pays for it.
const MOVES_PER_COMMIT: usize = 32;

/// Records a batch of completions in one transaction, and moves on in it each job whose stage
/// it sees end: one commit for a one-unit stage's answer and its job's next step.
pub(super) async fn record_completions(
    pool: &Pool,
    batch: &[Completion],
    max_attempts: i32,
    max_listed: i64,
) -> anyhow::Result<Recorded> {
    let mut client = pool.get().await.context("getting a Postgres connection")?;
    let mut tx = client.transaction().await?;
    // Every job of the batch is locked first, in id order. The statements below lock them again
    // in batch order (the unit counts' trigger, the moves), and two batches sharing jobs (two
    // dispatchers, or one recording batches side by side) would otherwise each hold a job the
    // other needs until Postgres rolled one back.
    let jobs: BTreeSet<JobId> = batch.iter().map(|c| c.job_id).collect();
    let job_ids: Vec<JobId> = jobs.iter().copied().collect();
    tx.execute_typed(
        "SELECT 1 FROM jobs WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        &[(&job_ids, Type::INT8_ARRAY)],
    )
    .await
    .context("locking the batch's jobs")?;
    // The common case, process or merge units that succeeded, in one statement for the whole
    // batch; its WHERE is the whole staleness check. Anything else (a split, a failure, a stale
    // answer) takes the per-unit path below, in the same transaction.
    let mut succeeded = record_successes(&tx, batch).await?;
    let mut recorded = Recorded::default();
    for c in batch {
        // Taken out as it is used: a second copy of the same answer in the batch is stale.
        let outcome = if succeeded.remove(&(c.unit_id, c.attempt)) {
            Applied::Recorded
        } else {
            record_in(&tx, c, max_attempts).await?
        };
        recorded.applied.push(outcome);
    }
    let mut ended = Vec::new();
    let mut moved_here = 0;
    for job_id in jobs {
        // Units another transaction recorded but has not committed still look waiting here:
        // that job goes to the caller, whose `advance_job` after the commit sees them. So does
        // a job past `MOVES_PER_COMMIT`.
        if moved_here == MOVES_PER_COMMIT || !stage_done(&tx, job_id).await? {
            recorded.to_advance.insert(job_id);
            continue;
        }
        moved_here += 1;
        // A job whose move fails is rolled back alone, and left to the caller.
        let savepoint = tx.savepoint("advance").await?;
        match advance_locked(&savepoint, job_id, max_listed).await {
            Ok(this) => {
                savepoint.commit().await?;
                ended.extend(this);
            }
            Err(e) => {
                tracing::debug!(
                    job.id = job_id.0,
                    error = format!("{e:#}"),
                    "job not moved on with its completions; the dispatcher tries again"
                );
                savepoint.rollback().await.with_context(|| {
                    format!("rolling back job {job_id}'s move, which failed: {e:#}")
                })?;
                recorded.to_advance.insert(job_id);
            }
        }
    }
    tx.commit().await.context("committing completions")?;
    for (action, status) in ended {
        crate::metrics::job_completed(&action, status);
    }
    Ok(recorded)
}

/// Records the batch's successes of process and merge units that answer their unit's current
/// attempt; returns which (unit, attempt) it recorded.
async fn record_successes(
    tx: &Transaction<'_>,
    batch: &[Completion],
) -> anyhow::Result<HashSet<(UnitId, i32)>> {
    let (mut ids, mut jobs, mut attempts, mut outputs, mut times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in batch {
        if let Outcome::Succeeded { output } = &c.outcome {
            ids.push(c.unit_id);
            jobs.push(c.job_id);
            attempts.push(c.attempt);
            outputs.push(output);
            times.push(c.time);
        }
    }
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    // Not a cached statement: its plan must see how many completions the batch holds (an
    // unnamed statement is planned with its parameters). A generic plan guesses ten, and for
    // a batch of thousands joins every completion with every unit.
    let rows = tx
        .query_typed(
            "UPDATE work_units u SET state = 'succeeded', output = c.output, time = c.time,
                 attempts = u.attempts + 1, finished_at = now()
             FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::jsonb[], $5::float8[])
                  AS c(id, job_id, attempt, output, time)
             WHERE u.id = c.id AND u.job_id = c.job_id AND u.attempts = c.attempt
               AND u.state IN ('pending', 'queued') AND u.stage <> $6
             RETURNING u.id, u.attempts - 1",
            &[
                (&ids, Type::INT8_ARRAY),
                (&jobs, Type::INT8_ARRAY),
                (&attempts, Type::INT4_ARRAY),
                (&outputs, Type::JSONB_ARRAY),
                (&times, Type::FLOAT8_ARRAY),
                (&Stage::Split.code(), Type::INT2),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((get(row, 0)?, get(row, 1)?)))
        .collect()
}

/// Records one completion under its unit's row lock: a split, a failure, or an answer the
/// batch statement did not take (stale, or its unit gone).
async fn record_in(
    tx: &Transaction<'_>,
    c: &Completion,
    max_attempts: i32,
) -> anyhow::Result<Applied> {
    // The unit's row lock orders this against a duplicate of the same completion and against
    // the job's end cancelling the unit.
    let Some(unit) = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT stage, state, attempts, action, stops FROM work_units
             WHERE id = $1 AND job_id = $2 FOR NO KEY UPDATE",
            )
            .await?,
            &[&c.unit_id, &c.job_id],
        )
        .await?
    else {
        return Ok(Applied::Gone);
    };
    let facts = UnitFacts::from_row(
        get(&unit, "stage")?,
        get(&unit, "state")?,
        get(&unit, "attempts")?,
        get(&unit, "stops")?,
    )?;
    let decision = decide(&facts, c, max_attempts);
    match &decision {
        CompletionDecision::Stale(_) => {}
        CompletionDecision::Succeeded {
            output,
            process_inputs,
        } => {
            tx.execute(
                &tx.prepare_cached("UPDATE work_units SET state = 'succeeded', output = $2, time = $3, attempts = attempts + 1,
                    finished_at = now()
                 WHERE id = $1").await?,
                &[&c.unit_id, output, &c.time],
            )
            .await?;
            let action: String = get(&unit, "action")?;
            insert_units(tx, c.job_id, &action, Stage::Process, process_inputs).await?;
        }
        CompletionDecision::Retry(Failure { error, stops }) => {
            // Pending again, and back in the outbox behind everything already waiting.
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE work_units SET state = 'pending', attempts = attempts + 1,
                    output = to_jsonb($2::text), time = $3, updated_at = clock_timestamp(),
                    stops = stops + $4
                 WHERE id = $1",
                )
                .await?,
                &[&c.unit_id, error, &c.time, stops],
            )
            .await?;
            enqueue_again(tx, &[c.unit_id]).await?;
        }
        CompletionDecision::Fail(Failure { error, stops }) => {
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE work_units SET state = 'failed', attempts = attempts + 1,
                    output = to_jsonb($2::text), time = $3, finished_at = now(),
                    stops = stops + $4
                 WHERE id = $1",
                )
                .await?,
                &[&c.unit_id, error, &c.time, stops],
            )
            .await?;
        }
    }
    Ok(decision.applied())
}

/// Moves the job through as many states as its units allow.
pub(super) async fn advance_job(pool: &Pool, job_id: JobId, max_listed: i64) -> anyhow::Result<()> {
    let mut client = pool.get().await.context("getting a Postgres connection")?;
    // Unlocked look first: while the job's current stage has units left (the common case), one
    // indexed probe answers and no lock is taken.
    if !stage_done(&client, job_id).await? {
        return Ok(());
    }
    let tx = client.transaction().await?;
    let ended = advance_locked(&tx, job_id, max_listed).await?;
    tx.commit().await.context("committing a job's progress")?;
    if let Some((action, status)) = ended {
        crate::metrics::job_completed(&action, status);
    }
    Ok(())
}

/// Whether the job is at a stage (splitting, processing, merging) with no unit left waiting.
/// `false` for a job gone or complete.
async fn stage_done(client: &impl GenericClient, job_id: JobId) -> anyhow::Result<bool> {
    // A unit's stage code is the status code of the job stage it belongs to.
    let row = client
        .query_opt(
            &client.prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM work_units u
                            WHERE u.job_id = j.id AND u.stage = j.status AND u.state IN ('pending', 'queued'))
             FROM jobs j WHERE j.id = $1 AND j.status IN ($2, $3, $4)").await?,
            &[&job_id, &JobStatus::Splitting.code(), &JobStatus::Processing.code(), &JobStatus::Merging.code()],
        )
        .await?;
    match row {
        Some(row) => get(&row, 0),
        None => Ok(false),
    }
}

/// Moves the job on under its row lock, inside `tx`; returns its action and status if this
/// ended it.
async fn advance_locked(
    tx: &Transaction<'_>,
    job_id: JobId,
    max_listed: i64,
) -> anyhow::Result<Option<(String, JobStatus)>> {
    // The job row lock: of the completions that all saw the stage done, one at a time moves
    // the job, and the others find it moved already.
    let Some(job) = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT status, has_merge, action FROM jobs WHERE id = $1 FOR UPDATE",
            )
            .await?,
            &[&job_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let status =
        JobStatus::from_code(get(&job, "status")?).context("job with an unknown status")?;
    let has_merge: bool = get(&job, "has_merge")?;
    let action: String = get(&job, "action")?;
    // A unit of its stage still waiting: the plan would be empty, and one probe says so
    // without tallying every unit of the job.
    let Some(stage) = stage_of(status) else {
        return Ok(None);
    };
    if stage_has_incomplete(tx, job_id, stage).await? {
        return Ok(None);
    }
    let tally = tally(tx, job_id).await?;
    let mut ended = None;
    for step in plan(status, has_merge, &tally) {
        match step {
            Move::SetStatus(next) => set_status(tx, job_id, next).await?,
            Move::AddMergeUnit => {
                insert_units(tx, job_id, &action, Stage::Merge, &[Value::Null]).await?
            }
            Move::Complete { status, outputs_of } => {
                let outputs = stage_outputs(tx, job_id, outputs_of, max_listed).await?;
                complete_job(tx, job_id, status, &outputs, outputs_of).await?;
                if [Stage::Split, Stage::Process, Stage::Merge]
                    .iter()
                    .any(|&stage| tally.incomplete(stage) > 0)
                {
                    cancel_waiting_units(tx, job_id).await?;
                }
                ended = Some(status);
            }
        }
    }
    Ok(ended.map(|status| (action, status)))
}

async fn stage_has_incomplete(
    client: &impl GenericClient,
    job_id: JobId,
    stage: Stage,
) -> anyhow::Result<bool> {
    let row = client
        .query_opt(
            &client
                .prepare_cached(
                    "SELECT 1 FROM work_units
             WHERE job_id = $1 AND stage = $2 AND state IN ('pending', 'queued') LIMIT 1",
                )
                .await?,
            &[&job_id, &stage.code()],
        )
        .await?;
    Ok(row.is_some())
}

async fn tally(tx: &Transaction<'_>, job_id: JobId) -> anyhow::Result<Tally> {
    let rows = tx
        .query(
            &tx.prepare_cached("SELECT stage, state, count(*) AS n FROM work_units WHERE job_id = $1 GROUP BY stage, state").await?,
            &[&job_id],
        )
        .await?;
    let mut tally = Tally::default();
    for row in rows {
        let stage = Stage::from_code(get(&row, "stage")?).context("unknown stage")?;
        let state = UnitState::parse(get(&row, "state")?).context("unknown state")?;
        tally.add(stage, state, get(&row, "n")?);
    }
    Ok(tally)
}

/// The outputs (or errors) of a stage's first `limit` units, in unit order, and its count.
async fn stage_outputs(
    tx: &Transaction<'_>,
    job_id: JobId,
    stage: Stage,
    limit: i64,
) -> anyhow::Result<Outputs> {
    // Row by row, so one output that cannot be read shows as a note instead of failing them all.
    let rows = tx
        .query_typed(
            "SELECT output FROM work_units WHERE job_id = $1 AND stage = $2 ORDER BY id LIMIT $3",
            &[
                (&job_id, Type::INT8),
                (&stage.code(), Type::INT2),
                (&limit, Type::INT8),
            ],
        )
        .await?;
    let total = if (rows.len() as i64) < limit {
        rows.len() as i64
    } else {
        let row = tx
            .query_one(
                &tx.prepare_cached(
                    "SELECT count(*) FROM work_units WHERE job_id = $1 AND stage = $2",
                )
                .await?,
                &[&job_id, &stage.code()],
            )
            .await?;
        get(&row, 0)?
    };
    Ok(Outputs {
        listed: Value::Array(
            rows.iter()
                .map(|row| shown_json(row, 0).unwrap_or_default())
                .collect(),
        ),
        total,
    })
}

async fn set_status(tx: &Transaction<'_>, job_id: JobId, status: JobStatus) -> anyhow::Result<()> {
    tx.execute(
        &tx.prepare_cached("UPDATE jobs SET status = $2, updated_at = now() WHERE id = $1")
            .await?,
        &[&job_id, &status.code()],
    )
    .await?;
    Ok(())
}

async fn complete_job(
    tx: &Transaction<'_>,
    job_id: JobId,
    status: JobStatus,
    outputs: &Outputs,
    stage: Stage,
) -> anyhow::Result<()> {
    let listed = outputs.listed.as_array().map_or(0, Vec::len) as i64;
    let unlisted_total = (outputs.total > listed).then_some(outputs.total);
    tx.execute(
        &tx.prepare_cached(
            "UPDATE jobs SET status = $2, outputs = $3, outputs_total = $4, outputs_stage = $5,
                updated_at = now(),
                time_taken = EXTRACT(EPOCH FROM now() - created_at),
                callback_state = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'pending' END,
                callback_due_at = CASE WHEN callback_url IS NULL THEN NULL ELSE now() END
         WHERE id = $1",
        )
        .await?,
        &[
            &job_id,
            &status.code(),
            &outputs.listed,
            &unlisted_total,
            &stage.code(),
        ],
    )
    .await?;
    notify(tx, channels::CALLBACKS).await?;
    tracing::info!(job.id = job_id.0, status = status.as_str(), "job complete");
    Ok(())
}

/// Units still waiting when their job ended (process units of a job whose other split
/// failed) will not count: they are cancelled, so their late completions are stale.
async fn cancel_waiting_units(tx: &Transaction<'_>, job_id: JobId) -> anyhow::Result<()> {
    tx.execute(
        &tx.prepare_cached("UPDATE work_units SET state = 'failed', output = to_jsonb('cancelled: the job had already ended'::text),
             finished_at = now()
         WHERE job_id = $1 AND state IN ('pending', 'queued')").await?,
        &[&job_id],
    )
    .await?;
    Ok(())
}
