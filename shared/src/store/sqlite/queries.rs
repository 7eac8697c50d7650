//! The embedded store's statements (all but completions, in `progress.rs`).

use std::time::Duration;

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::{
    catalog::Stages,
    ids::{JobId, UnitId},
    lane::Lane,
    messages::{Heartbeat, WorkMessage, INLINE_OPTIONS_BYTES},
    queue::Unpublishable,
    status::{JobStatus, Stage},
    store::{DueCallback, NewJob, NodeView, Overview, PendingUnit},
};

pub(super) fn parse(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).context("a stored JSON value does not parse")
}

/// A stored JSON value shown to people: when it does not parse, a string saying so stands in.
pub(super) fn shown(text: &str) -> Value {
    parse(text).unwrap_or_else(|e| {
        tracing::warn!(
            error = format!("{e:#}"),
            "a stored JSON value cannot be read"
        );
        crate::store::browse::unreadable(&format!("{e:#}"))
    })
}

/// Adds pending units of `stage` to the job.
pub(super) fn insert_units(
    conn: &Connection,
    job_id: JobId,
    action: &str,
    stage: Stage,
    inputs: &[Value],
) -> anyhow::Result<()> {
    if inputs.is_empty() {
        return Ok(()); // most completions add none, and need not touch their job's row
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO work_units (job_id, action, stage, input, lane) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO NOTHING",
    )?;
    let lane = Lane::of(stage, inputs.len()).code();
    let mut added: i64 = 0;
    for input in inputs {
        added += insert.execute(params![
            job_id,
            action,
            stage.code(),
            input.to_string(),
            lane
        ])? as i64;
    }
    // Counted once for the batch here; the triggers of V6__unit_counts.sql count each change
    // of a unit's state after this.
    let counted = if stage == Stage::Merge { 0 } else { added };
    conn.prepare_cached(
        "UPDATE jobs SET units_total = units_total + ?2, units_incomplete = units_incomplete + ?3
         WHERE id = ?1",
    )?
    .execute(params![job_id, counted, added])?;
    Ok(())
}

pub(super) fn create_job(
    conn: &mut Connection,
    job: &NewJob,
    stages: Stages,
) -> anyhow::Result<JobId> {
    let tx = conn.transaction()?;
    let id = insert_job(&tx, job, stages)?;
    tx.commit()?;
    Ok(id)
}

/// Inserts the job and its first units (the outbox), in the caller's transaction.
pub(super) fn insert_job(conn: &Connection, job: &NewJob, stages: Stages) -> anyhow::Result<JobId> {
    conn.execute(
        "INSERT INTO jobs (action, status, options, options_bytes, has_merge, callback_url, email)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            job.action,
            JobStatus::initial(stages.split).code(),
            job.options.to_string(),
            job.options_bytes(),
            stages.merge,
            job.callback_url,
            job.email,
        ],
    )?;
    let id = JobId(conn.last_insert_rowid());
    // Out of the job's row, which every completion rewrites (V11__job_inputs.sql).
    conn.execute(
        "INSERT INTO job_inputs (job_id, inputs) VALUES (?1, ?2)",
        params![id, Value::Array(job.inputs.clone()).to_string()],
    )?;
    let first_stage = if stages.split {
        Stage::Split
    } else {
        Stage::Process
    };
    insert_units(conn, id, &job.action, first_stage, &job.inputs)?;
    Ok(id)
}

pub(super) fn delete_job(conn: &mut Connection, id: JobId) -> anyhow::Result<Option<String>> {
    Ok(conn
        .query_row(
            "DELETE FROM jobs WHERE id = ?1 RETURNING action",
            params![id],
            |r| r.get(0),
        )
        .optional()?)
}

pub(super) fn overview(conn: &mut Connection, node_ttl: Duration) -> anyhow::Result<Overview> {
    let mut nodes = conn.prepare(
        "SELECT name, tag, running, max_workers, throttled, actions, progress FROM nodes
         WHERE last_seen > unixepoch('subsec') - ?1 ORDER BY name DESC",
    )?;
    let nodes = nodes
        .query_map(params![node_ttl.as_secs_f64()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i32>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?
        .map(|row| {
            let (name, tag, running, max_workers, throttled, actions, progress) = row?;
            Ok(NodeView {
                name,
                tag,
                running: shown(&running),
                max_workers,
                throttled,
                actions: crate::catalog::advertised(&shown(&actions)),
                progress: shown(&progress),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (job_count, work_unit_count) = conn.query_row(
        // The incomplete jobs' own counts, not a count of their units.
        "SELECT count(*), coalesce(sum(units_incomplete), 0) FROM jobs WHERE status IN (1, 4, 5)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Overview {
        nodes,
        job_count,
        work_unit_count,
    })
}

/// Up to `limit` pending units, by lane and oldest first; a unit whose row cannot be read comes back as
/// unpublishable, with the reason.
pub(super) fn pending_units(
    conn: &mut Connection,
    limit: i64,
    max_attempts: i32,
) -> anyhow::Result<(Vec<WorkMessage>, Vec<Unpublishable>)> {
    let mut query = conn.prepare_cached(
        // Big options are left out unread (they travel once per job, by reference).
        "SELECT u.id, u.job_id, u.action, u.stage, u.input, u.attempts,
                CASE WHEN j.options_bytes <= ?2 THEN j.options END, u.lane
         FROM work_units u JOIN jobs j ON j.id = u.job_id
         WHERE u.state = 'pending'
           AND NOT EXISTS (SELECT 1 FROM paused_actions p WHERE p.action = u.action)
         ORDER BY u.lane, u.updated_at, u.id
         LIMIT ?1",
    )?;
    let rows = query.query_map(params![limit, INLINE_OPTIONS_BYTES as i64], |r| {
        Ok((
            r.get::<_, UnitId>(0)?,
            r.get::<_, JobId>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i16>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i32>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, i16>(7)?,
        ))
    })?;
    let (mut units, mut failed) = (Vec::new(), Vec::new());
    for row in rows {
        let (unit_id, job_id, action, stage, input, attempt, options, lane) = row?;
        let message = || -> anyhow::Result<WorkMessage> {
            let unit = PendingUnit {
                unit_id,
                job_id,
                action,
                stage: Stage::from_code(stage).context("unit with an unknown stage")?,
                input: parse(&input)?,
                options: options.as_deref().map(parse).transpose()?,
                attempt,
                lane: Lane::from_code(lane),
            };
            Ok(unit.into_message(max_attempts))
        };
        match message() {
            Ok(msg) => units.push(msg),
            Err(e) => failed.push(Unpublishable {
                unit_id,
                job_id,
                error: format!("the unit could not be read from the database: {e:#}"),
            }),
        }
    }
    Ok((units, failed))
}

/// Fails, for good, pending units that can never be published.
pub(super) fn fail_pending(conn: &mut Connection, units: &[Unpublishable]) -> anyhow::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut fail = tx.prepare_cached(
            "UPDATE work_units SET state = 'failed', attempts = attempts + 1, output = ?2,
                 finished_at = unixepoch('subsec')
             WHERE id = ?1 AND state = 'pending'",
        )?;
        for unit in units {
            tracing::warn!(job.id = unit.job_id.0, work_unit.id = unit.unit_id.0, error = %unit.error,
                "a unit cannot be published; it fails");
            fail.execute(params![
                unit.unit_id,
                Value::from(unit.error.as_str()).to_string()
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Marks units queued in a commit that does not wait for the disk: a unit is queued only in
/// this process's in-process queue, and every start puts queued units back in the outbox
/// (`forget_queue`), so a mark that a power loss takes away is one a restart takes away anyway.
/// The next commit that must be durable (every other one) syncs it along.
pub(super) fn mark_queued(conn: &mut Connection, units: &[(UnitId, i32)]) -> anyhow::Result<()> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let marked = mark(conn, units);
    conn.pragma_update(None, "synchronous", "FULL")?;
    marked
}

fn mark(conn: &mut Connection, units: &[(UnitId, i32)]) -> anyhow::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut mark = tx.prepare_cached(
            "UPDATE work_units SET state = 'queued' WHERE id = ?1 AND attempts = ?2 AND state = 'pending'",
        )?;
        for (id, attempt) in units {
            mark.execute(params![id, attempt])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn incomplete_jobs(conn: &mut Connection) -> anyhow::Result<Vec<JobId>> {
    let mut query = conn.prepare("SELECT id FROM jobs WHERE status IN (1, 4, 5) ORDER BY id")?;
    let ids = query
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

pub(super) fn claim_callbacks(
    conn: &mut Connection,
    limit: i64,
    lease: Duration,
) -> anyhow::Result<Vec<DueCallback>> {
    let mut claim = conn.prepare(
        "UPDATE jobs SET callback_due_at = unixepoch('subsec') + ?2, callback_attempts = callback_attempts + 1
         WHERE id IN (SELECT id FROM jobs
                      WHERE callback_state = 'pending' AND callback_due_at <= unixepoch('subsec')
                      ORDER BY callback_due_at LIMIT ?1)
         RETURNING id, callback_url, callback_attempts, CAST(round(created_at * 1000) AS INTEGER)",
    )?;
    let due = claim
        .query_map(params![limit, lease.as_secs_f64()], |r| {
            Ok(DueCallback {
                job_id: r.get(0)?,
                url: r.get(1)?,
                attempts: r.get(2)?,
                created_at_ms: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(due)
}

pub(super) fn callback_delivered(conn: &mut Connection, job_id: JobId) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE jobs SET callback_state = 'delivered', callback_error = NULL WHERE id = ?1",
        params![job_id],
    )?;
    Ok(())
}

pub(super) fn callback_failed(
    conn: &mut Connection,
    job_id: JobId,
    error: &str,
    retry_in: Duration,
    give_up_after: Duration,
) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE jobs SET callback_error = ?2,
                callback_state = CASE WHEN unixepoch('subsec') + ?3 > updated_at + ?4 THEN 'abandoned' ELSE 'pending' END,
                callback_due_at = unixepoch('subsec') + ?3
         WHERE id = ?1",
        params![job_id, error, retry_in.as_secs_f64(), give_up_after.as_secs_f64()],
    )?;
    Ok(())
}

pub(super) fn next_callback_in(conn: &mut Connection) -> anyhow::Result<Option<Duration>> {
    let secs: Option<f64> = conn.query_row(
        "SELECT min(callback_due_at) - unixepoch('subsec') FROM jobs WHERE callback_state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(secs.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

pub(super) fn record_heartbeat(conn: &mut Connection, beat: &Heartbeat) -> anyhow::Result<()> {
    // Nodes that died without saying goodbye: /status already hides them; this forgets them.
    conn.execute(
        "DELETE FROM nodes WHERE last_seen < unixepoch('subsec') - 3600",
        [],
    )?;
    if beat.leaving {
        conn.execute("DELETE FROM nodes WHERE name = ?1", params![beat.node])?;
        return Ok(());
    }
    conn.execute(
        "INSERT INTO nodes (name, tag, max_workers, running, actions, throttled, progress, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, unixepoch('subsec'))
         ON CONFLICT (name) DO UPDATE SET tag = ?2, max_workers = ?3, running = ?4, actions = ?5,
                                          throttled = ?6, progress = ?7, last_seen = unixepoch('subsec')",
        params![
            beat.node,
            beat.tag,
            i32::from(beat.max_workers),
            serde_json::to_string(&beat.running)?,
            serde_json::to_string(&beat.stages)?,
            beat.throttled,
            serde_json::to_string(&beat.progress)?,
        ],
    )?;
    Ok(())
}

pub(super) fn actions_with_old_queued_units(
    conn: &mut Connection,
    older_than: Duration,
) -> anyhow::Result<Vec<String>> {
    let mut query = conn.prepare(
        "SELECT DISTINCT action FROM work_units WHERE state = 'queued' AND updated_at < unixepoch('subsec') - ?1",
    )?;
    let actions = query
        .query_map(params![older_than.as_secs_f64()], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(actions)
}

pub(super) fn requeue_lost(
    conn: &mut Connection,
    action: &str,
    older_than: Duration,
    node_ttl: Duration,
) -> anyhow::Result<u64> {
    let n = conn.execute(
        "UPDATE work_units SET state = 'pending', updated_at = unixepoch('subsec')
         WHERE action = ?1 AND state = 'queued' AND updated_at < unixepoch('subsec') - ?2
           AND NOT EXISTS (SELECT 1 FROM nodes n, json_each(n.running) r
                           WHERE n.last_seen > unixepoch('subsec') - ?3 AND r.value = work_units.id)",
        params![action, older_than.as_secs_f64(), node_ttl.as_secs_f64()],
    )?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one commit that need not wait for the disk leaves every later one waiting for it.
    #[test]
    fn marking_units_queued_leaves_every_other_commit_synced() {
        let mut conn = Connection::open_in_memory().expect("a database");
        conn.execute_batch("PRAGMA synchronous = FULL;")
            .expect("FULL");
        super::super::embedded::migrations::runner()
            .run(&mut conn)
            .expect("migrated");
        mark_queued(&mut conn, &[(UnitId(1), 0)]).expect("marked");
        let level: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("read");
        assert_eq!(level, 2, "synchronous is FULL again");
    }

    /// Every completion rewrites its job's row: the input list, which can be megabytes, is kept
    /// in a table of its own.
    #[test]
    fn a_jobs_inputs_are_kept_out_of_its_row() {
        let mut conn = Connection::open_in_memory().expect("a database");
        super::super::embedded::migrations::runner()
            .run(&mut conn)
            .expect("migrated");
        let job = NewJob {
            action: "noop".into(),
            inputs: vec![Value::from("a"), Value::from("b")],
            options: Value::Object(Default::default()),
            callback_url: None,
            email: None,
        };
        let stages = Stages {
            split: false,
            merge: true,
        };
        let id = insert_job(&conn, &job, stages).expect("inserted");
        let kept: String = conn
            .query_row(
                "SELECT inputs FROM job_inputs WHERE job_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("the inputs");
        assert_eq!(kept, r#"["a","b"]"#);
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('jobs')")
            .expect("prepared")
            .query_map([], |r| r.get(0))
            .expect("listed")
            .collect::<Result<_, _>>()
            .expect("read");
        assert!(!columns.contains(&"inputs".to_string()), "{columns:?}");
    }
}
