//! Listings for people: pages of jobs, a job's units, failed units, the finishing rate, old
//! complete jobs.

use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::GenericClient;
use tokio_postgres::{types::ToSql, Client, Row};

use super::rows::{get, shown_json};
use crate::ids::JobId;
use crate::store::{
    browse::{
        FailedUnit, FailedUnitPage, JobDetail, JobPage, JobQuery, JobSummary, SummaryRow, UnitRow,
        UnitView, JOB_COLUMNS,
    },
    Paging,
};

/// Jobs from `source` (a subquery over `jobs`) with the unit counts each job keeps
/// (schema/postgres/V8__unit_counts.sql), newest first.
fn summaries_sql(source: &str) -> String {
    format!(
        "SELECT j.id, j.action, EXTRACT(EPOCH FROM j.created_at)::float8 AS created_at,
                j.status, j.outputs, j.outputs_total, j.email, j.time_taken,
                EXTRACT(EPOCH FROM now() - j.created_at)::float8 AS age,
                j.units_total AS total, j.units_done AS done, j.units_incomplete AS incomplete
         FROM ({source}) j
         ORDER BY j.id DESC"
    )
}

async fn summaries(
    client: &Client,
    source: &str,
    params: &[&(dyn ToSql + Sync)],
) -> anyhow::Result<Vec<JobSummary>> {
    let rows = client
        .query(&summaries_sql(source), params)
        .await
        .context("reading jobs")?;
    rows.iter().map(summary).collect()
}

fn summary(row: &Row) -> anyhow::Result<JobSummary> {
    JobSummary::try_from(SummaryRow {
        id: get(row, "id")?,
        action: get(row, "action")?,
        created_at: get(row, "created_at")?,
        status: get(row, "status")?,
        outputs: shown_json(row, "outputs"),
        outputs_total: get(row, "outputs_total")?,
        email: get(row, "email")?,
        time_taken: get(row, "time_taken")?,
        age: get(row, "age")?,
        units_total: get(row, "total")?,
        units_done: get(row, "done")?,
        units_incomplete: get(row, "incomplete")?,
    })
}

/// One job: what every client polls, so prepared once per connection and read in one round
/// trip.
pub(super) async fn job(
    client: &impl GenericClient,
    id: JobId,
) -> anyhow::Result<Option<JobSummary>> {
    let sql = summaries_sql(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"));
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&statement, &[&id])
        .await
        .context("reading a job")?;
    row.as_ref().map(summary).transpose()
}

pub(super) async fn list(client: &Client, query: &JobQuery) -> anyhow::Result<JobPage> {
    let codes: Option<Vec<i16>> = query.status.map(|s| s.codes());
    let filter = "$1::int2[] IS NULL OR status = ANY($1)";
    let jobs = summaries(
        client,
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE {filter} ORDER BY id DESC LIMIT $2 OFFSET $3"
        ),
        &[&codes, &i64::from(query.per_page), &query.offset()],
    )
    .await?;
    let total = client
        .query_one(
            &format!("SELECT count(*) FROM jobs WHERE {filter}"),
            &[&codes],
        )
        .await
        .context("counting jobs")?;
    let total = get(&total, 0)?;
    Ok(JobPage { jobs, total })
}

/// What a listing reads of a unit `u`.
const UNIT_COLUMNS: &str = "u.id, u.stage, u.state, u.attempts, u.input, u.output, u.time,
     EXTRACT(EPOCH FROM COALESCE(u.finished_at, u.updated_at))::float8 AS updated_at";

pub(super) async fn detail(
    client: &impl GenericClient,
    id: JobId,
    page: Paging,
) -> anyhow::Result<Option<JobDetail>> {
    let Some(job) = job(client, id).await? else {
        return Ok(None);
    };
    let units_total = client
        .query_one("SELECT count(*) FROM work_units WHERE job_id = $1", &[&id])
        .await
        .context("counting a job's units")?;
    let units_total = get(&units_total, 0)?;
    let rows = client
        .query(
            &format!(
                "SELECT {UNIT_COLUMNS} FROM work_units u WHERE job_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
            ),
            &[&id, &page.limit(), &page.offset()],
        )
        .await
        .context("reading a job's units")?;
    let units = rows.iter().map(unit).collect::<anyhow::Result<_>>()?;
    Ok(Some(JobDetail {
        job,
        units,
        units_total,
    }))
}

/// The unit columns `UNIT_COLUMNS` reads.
fn unit(r: &Row) -> anyhow::Result<UnitView> {
    UnitView::try_from(UnitRow {
        id: get(r, "id")?,
        stage: get(r, "stage")?,
        state: get(r, "state")?,
        attempts: get(r, "attempts")?,
        input: shown_json(r, "input").unwrap_or_default(),
        stored: shown_json(r, "output"),
        time: get(r, "time")?,
        updated_at: get(r, "updated_at")?,
    })
}

/// Failed units of failed jobs, newest job first: through the jobs' status index and each
/// job's units by state, so completed work is never scanned.
pub(super) async fn failed_units(client: &Client, page: Paging) -> anyhow::Result<FailedUnitPage> {
    let rows = client
        .query(
            &format!(
                "SELECT u.job_id, j.action, {UNIT_COLUMNS}
                 FROM jobs j JOIN work_units u ON u.job_id = j.id
                 WHERE j.status = 3 AND u.state = 'failed'
                 ORDER BY j.id DESC, u.id LIMIT $1 OFFSET $2"
            ),
            &[&page.limit(), &page.offset()],
        )
        .await
        .context("reading failed units")?;
    let units = rows
        .iter()
        .map(|r| {
            Ok(FailedUnit {
                job_id: get(r, "job_id")?,
                action: get(r, "action")?,
                unit: unit(r)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let total = client
        .query_one(
            "SELECT count(*) FROM jobs j JOIN work_units u ON u.job_id = j.id
             WHERE j.status = 3 AND u.state = 'failed'",
            &[],
        )
        .await
        .context("counting failed units")?;
    Ok(FailedUnitPage {
        units,
        total: get(&total, 0)?,
    })
}

pub(super) async fn finished_within(client: &Client, window: Duration) -> anyhow::Result<i64> {
    let row = client
        .query_one(
            "SELECT count(*) FROM work_units WHERE finished_at > now() - make_interval(secs => $1)",
            &[&window.as_secs_f64()],
        )
        .await
        .context("counting finished units")?;
    get(&row, 0)
}

/// The age of the oldest unit in the outbox: the head of each lane, so the claim index
/// answers it however many units wait.
pub(super) async fn outbox_lag(client: &Client) -> anyhow::Result<Option<Duration>> {
    let row = client
        .query_one(
            "SELECT extract(epoch FROM now() - min(u.updated_at))::float8
             FROM ((SELECT unit_id FROM outbox WHERE lane = 0 ORDER BY seq LIMIT 1)
                   UNION ALL
                   (SELECT unit_id FROM outbox WHERE lane = 1 ORDER BY seq LIMIT 1)) o
             JOIN work_units u ON u.id = o.unit_id",
            &[],
        )
        .await
        .context("reading the outbox's lag")?;
    let lag: Option<f64> = get(&row, 0)?;
    Ok(lag.map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}

pub(super) async fn complete_before(
    client: &Client,
    age: Duration,
    limit: i64,
) -> anyhow::Result<Vec<JobId>> {
    let rows = client
        .query(
            "SELECT id FROM jobs WHERE status IN (2, 3) AND updated_at < now() - make_interval(secs => $1)
             ORDER BY id LIMIT $2",
            &[&age.as_secs_f64(), &limit],
        )
        .await
        .context("finding old complete jobs")?;
    rows.iter().map(|r| get(r, 0)).collect()
}
