//! Listings for people on the embedded store: as `postgres/browse.rs`.

use std::time::Duration;

use rusqlite::{params, params_from_iter, types::Value as Sql, Connection, Row};

use super::queries::shown;
use crate::ids::JobId;
use crate::store::{
    browse::{
        FailedUnit, FailedUnitPage, JobDetail, JobPage, JobQuery, JobSummary, SummaryRow, UnitRow,
        UnitView, JOB_COLUMNS,
    },
    Paging,
};

/// Jobs from `source` (a subquery over `jobs`) with their unit counts (kept on the job by
/// triggers), newest first.
fn summaries_sql(source: &str) -> String {
    format!(
        "SELECT j.id, j.action, j.created_at, j.status, j.outputs, j.email, j.time_taken,
                j.outputs_total,
                unixepoch('subsec') - j.created_at,
                j.units_total, j.units_done, j.units_incomplete
         FROM ({source}) j
         ORDER BY j.id DESC"
    )
}

fn summaries(conn: &Connection, source: &str, params: &[Sql]) -> anyhow::Result<Vec<JobSummary>> {
    let mut statement = conn.prepare_cached(&summaries_sql(source))?;
    let rows = statement.query_map(params_from_iter(params), summary_row)?;
    rows.map(|row| JobSummary::try_from(row?)).collect()
}

fn summary_row(r: &Row) -> rusqlite::Result<SummaryRow> {
    let outputs: Option<String> = r.get(4)?;
    Ok(SummaryRow {
        id: r.get(0)?,
        action: r.get(1)?,
        created_at: r.get(2)?,
        status: r.get(3)?,
        outputs: outputs.as_deref().map(shown),
        email: r.get(5)?,
        time_taken: r.get(6)?,
        outputs_total: r.get(7)?,
        age: r.get(8)?,
        units_total: r.get(9)?,
        units_done: r.get(10)?,
        units_incomplete: r.get(11)?,
    })
}

pub(super) fn job(conn: &Connection, id: JobId) -> anyhow::Result<Option<JobSummary>> {
    let mut jobs = summaries(
        conn,
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
        &[Sql::Integer(id.0)],
    )?;
    Ok(jobs.pop())
}

pub(super) fn list(conn: &Connection, query: &JobQuery) -> anyhow::Result<JobPage> {
    // The codes are numbers of our own, never user text.
    let filter = match query.status {
        Some(status) => {
            let codes: Vec<String> = status.codes().iter().map(i16::to_string).collect();
            format!("status IN ({})", codes.join(", "))
        }
        None => "1".to_string(),
    };
    let jobs = summaries(
        conn,
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE {filter} ORDER BY id DESC LIMIT ?1 OFFSET ?2"
        ),
        &[
            Sql::Integer(query.per_page.into()),
            Sql::Integer(query.offset()),
        ],
    )?;
    let total = conn.query_row(
        &format!("SELECT count(*) FROM jobs WHERE {filter}"),
        [],
        |r| r.get(0),
    )?;
    Ok(JobPage { jobs, total })
}

/// What a listing reads of a unit `u`, in `unit_row`'s order.
const UNIT_COLUMNS: &str =
    "u.id, u.stage, u.state, u.attempts, u.input, u.output, u.time, COALESCE(u.finished_at, u.updated_at)";

/// `UNIT_COLUMNS` from column `at` on.
fn unit_row(r: &Row, at: usize) -> rusqlite::Result<UnitRow> {
    let input: String = r.get(at + 4)?;
    let output: Option<String> = r.get(at + 5)?;
    Ok(UnitRow {
        id: r.get(at)?,
        stage: r.get(at + 1)?,
        state: r.get(at + 2)?,
        attempts: r.get(at + 3)?,
        input: shown(&input),
        stored: output.as_deref().map(shown),
        time: r.get(at + 6)?,
        updated_at: r.get(at + 7)?,
    })
}

pub(super) fn detail(
    conn: &Connection,
    id: JobId,
    page: Paging,
) -> anyhow::Result<Option<JobDetail>> {
    let Some(job) = job(conn, id)? else {
        return Ok(None);
    };
    let units_total = conn
        .prepare_cached("SELECT count(*) FROM work_units WHERE job_id = ?1")?
        .query_row(params![id], |r| r.get(0))?;
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {UNIT_COLUMNS} FROM work_units u WHERE job_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"
    ))?;
    let units = statement
        .query_map(params![id, page.limit(), page.offset()], |r| unit_row(r, 0))?
        .map(|row| UnitView::try_from(row?))
        .collect::<anyhow::Result<_>>()?;
    Ok(Some(JobDetail {
        job,
        units,
        units_total,
    }))
}

/// Failed units of failed jobs, newest job first, as `postgres/browse.rs` reads them.
pub(super) fn failed_units(conn: &Connection, page: Paging) -> anyhow::Result<FailedUnitPage> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT u.job_id, j.action, {UNIT_COLUMNS}
         FROM jobs j JOIN work_units u ON u.job_id = j.id
         WHERE j.status = 3 AND u.state = 'failed'
         ORDER BY j.id DESC, u.id LIMIT ?1 OFFSET ?2"
    ))?;
    let units = statement
        .query_map(params![page.limit(), page.offset()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, unit_row(r, 2)?))
        })?
        .map(|row| {
            let (job_id, action, unit) = row?;
            Ok(FailedUnit {
                job_id,
                action,
                unit: UnitView::try_from(unit)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let total = conn
        .prepare_cached(
            "SELECT count(*) FROM jobs j JOIN work_units u ON u.job_id = j.id
             WHERE j.status = 3 AND u.state = 'failed'",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(FailedUnitPage { units, total })
}

pub(super) fn finished_within(conn: &Connection, window: Duration) -> anyhow::Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM work_units WHERE finished_at > unixepoch('subsec') - ?1",
        params![window.as_secs_f64()],
        |r| r.get(0),
    )?)
}

/// The age of the oldest pending unit: the oldest of each lane, which the outbox index
/// answers however many units wait.
pub(super) fn outbox_lag(conn: &mut Connection) -> anyhow::Result<Option<Duration>> {
    let lag: Option<f64> = conn.query_row(
        "SELECT unixepoch('subsec') - min(oldest)
         FROM (SELECT min(updated_at) AS oldest FROM work_units WHERE state = 'pending' AND lane = 0
               UNION ALL
               SELECT min(updated_at) FROM work_units WHERE state = 'pending' AND lane = 1)",
        [],
        |r| r.get(0),
    )?;
    Ok(lag.map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}

pub(super) fn complete_before(
    conn: &Connection,
    age: Duration,
    limit: i64,
) -> anyhow::Result<Vec<JobId>> {
    let mut statement = conn.prepare_cached(
        "SELECT id FROM jobs WHERE status IN (2, 3) AND updated_at < unixepoch('subsec') - ?1
         ORDER BY id LIMIT ?2",
    )?;
    let ids = statement.query_map(params![age.as_secs_f64(), limit], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}
