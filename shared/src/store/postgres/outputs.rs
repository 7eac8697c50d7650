//! What is read a piece at a time: a job's big options (once per job), a merge's input (every
//! process output, a page at a time) and the pages of a big job's outputs.

use anyhow::Context;
use serde_json::Value;
use tokio_postgres::{types::Type, Client};

use super::rows::{get, shown_json};
use crate::{
    ids::{JobId, UnitId},
    status::{JobStatus, Stage},
    store::{OutputsPage, Paging},
};

pub(super) async fn job_options(client: &Client, job_id: JobId) -> anyhow::Result<Option<Value>> {
    let row = client
        .query_opt("SELECT options FROM jobs WHERE id = $1", &[&job_id])
        .await
        .context("reading a job's options")?;
    row.map(|row| get(&row, 0)).transpose()
}

pub(super) async fn stage_outputs_after(
    client: &Client,
    job_id: JobId,
    stage: Stage,
    after: UnitId,
    limit: i64,
) -> anyhow::Result<Vec<(UnitId, Value)>> {
    let rows = client
        .query_typed(
            "SELECT id, output FROM work_units
             WHERE job_id = $1 AND stage = $2 AND id > $3 ORDER BY id LIMIT $4",
            &[
                (&job_id, Type::INT8),
                (&stage.code(), Type::INT2),
                (&after, Type::INT8),
                (&limit, Type::INT8),
            ],
        )
        .await
        .context("reading a stage's outputs")?;
    rows.iter()
        .map(|row| Ok((get(row, 0)?, shown_json(row, 1).unwrap_or_default())))
        .collect()
}

pub(super) async fn job_outputs(
    client: &Client,
    job_id: JobId,
    query: Paging,
) -> anyhow::Result<Option<OutputsPage>> {
    let Some(job) = client
        .query_opt(
            "SELECT status, outputs, outputs_total, outputs_stage FROM jobs WHERE id = $1",
            &[&job_id],
        )
        .await
        .context("reading a job")?
    else {
        return Ok(None);
    };
    let status = JobStatus::from_code(get(&job, "status")?).context("a job's status")?;
    let listed = shown_json(&job, "outputs");
    let unlisted: Option<(i64, i16)> =
        get::<_, Option<i64>>(&job, "outputs_total")?
            .zip(get::<_, Option<i16>>(&job, "outputs_stage")?);
    let page = match (status.is_complete(), unlisted) {
        (false, _) => OutputsPage::default(),
        (true, None) => OutputsPage::slice(listed, query),
        (true, Some((total, stage))) => {
            let rows = client
                .query(
                    "SELECT output FROM work_units WHERE job_id = $1 AND stage = $2
                     ORDER BY id LIMIT $3 OFFSET $4",
                    &[&job_id, &stage, &i64::from(query.per_page), &query.offset()],
                )
                .await
                .context("reading a job's outputs")?;
            OutputsPage {
                outputs: rows
                    .iter()
                    .map(|row| shown_json(row, 0).unwrap_or_default())
                    .collect(),
                total,
            }
        }
    };
    Ok(Some(page))
}
