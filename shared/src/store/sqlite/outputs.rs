//! As `postgres/outputs.rs`: a job's big options, a merge's input a page at a time, and the
//! pages of a big job's outputs.

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::queries::{parse, shown};
use crate::{
    ids::{JobId, UnitId},
    status::{JobStatus, Stage},
    store::{OutputsPage, Paging},
};

pub(super) fn job_options(conn: &mut Connection, job_id: JobId) -> anyhow::Result<Option<Value>> {
    let options: Option<String> = conn
        .query_row(
            "SELECT options FROM jobs WHERE id = ?1",
            params![job_id],
            |r| r.get(0),
        )
        .optional()?;
    options.as_deref().map(parse).transpose()
}

pub(super) fn stage_outputs_after(
    conn: &mut Connection,
    job_id: JobId,
    stage: Stage,
    after: UnitId,
    limit: i64,
) -> anyhow::Result<Vec<(UnitId, Value)>> {
    let mut query = conn.prepare_cached(
        "SELECT id, output FROM work_units
         WHERE job_id = ?1 AND stage = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
    )?;
    let rows = query.query_map(params![job_id, stage.code(), after, limit], |r| {
        Ok((r.get::<_, UnitId>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    rows.map(|row| {
        let (id, output) = row?;
        Ok((id, output.as_deref().map(shown).unwrap_or_default()))
    })
    .collect()
}

pub(super) fn job_outputs(
    conn: &mut Connection,
    job_id: JobId,
    query: Paging,
) -> anyhow::Result<Option<OutputsPage>> {
    let job = conn
        .query_row(
            "SELECT status, outputs, outputs_total, outputs_stage FROM jobs WHERE id = ?1",
            params![job_id],
            |r| {
                Ok((
                    r.get::<_, i16>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i16>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((status, listed, total, stage)) = job else {
        return Ok(None);
    };
    let status = JobStatus::from_code(status).context("a job's status")?;
    let page = match (status.is_complete(), total.zip(stage)) {
        (false, _) => OutputsPage::default(),
        (true, None) => OutputsPage::slice(listed.as_deref().map(shown), query),
        (true, Some((total, stage))) => {
            let mut rows = conn.prepare_cached(
                "SELECT output FROM work_units WHERE job_id = ?1 AND stage = ?2
                 ORDER BY id LIMIT ?3 OFFSET ?4",
            )?;
            let outputs = rows
                .query_map(
                    params![job_id, stage, i64::from(query.per_page), query.offset()],
                    |r| r.get::<_, Option<String>>(0),
                )?
                .map(|output| Ok(output?.as_deref().map(shown).unwrap_or_default()))
                .collect::<anyhow::Result<_>>()?;
            OutputsPage { outputs, total }
        }
    };
    Ok(Some(page))
}
