//! Request handlers: each reads what it needs, calls into Postgres, and returns a reply or an
//! `ApiError`.

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use crowd_shared::{jobs, status::JobStatus, status::Stage};
use deadpool_postgres::Object;
use serde_json::{json, Value};
use warp::{http::StatusCode, Rejection, Reply};

use crate::{
    job_request::{self, BodyKind},
    ApiError, ApiState,
};

async fn db(state: &ApiState) -> Result<Object, ApiError> {
    state
        .pool
        .get()
        .await
        .map_err(|e| ApiError::Unavailable(e.into()))
}

/// Ids are numbers; anything else cannot name a job.
fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .map_err(|_| ApiError::JobNotFound(raw.to_string()))
}

pub async fn create_job(
    content_type: Option<String>,
    body: Bytes,
    state: Arc<ApiState>,
) -> Result<impl Reply, Rejection> {
    let kind = BodyKind::from_content_type(content_type.as_deref(), &body)?;
    let job = job_request::parse(kind, &body, state.max_inputs)?;
    let stages = state.catalog.get(&job.action).ok_or_else(|| {
        let known: Vec<&str> = state.catalog.keys().map(String::as_str).collect();
        ApiError::InvalidJob(format!(
            "no action named {:?} could be found (known actions: {})",
            job.action,
            known.join(", ")
        ))
    })?;
    let status = JobStatus::initial(stages.split);
    let first_stage = if stages.split {
        Stage::Split
    } else {
        Stage::Process
    };

    let mut client = db(&state).await?;
    let tx = client
        .transaction()
        .await
        .context("starting a transaction")
        .map_err(ApiError::Internal)?;
    let row = tx
        .query_one(
            "INSERT INTO jobs (action, status, inputs, options, has_merge, callback_url, email)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &job.action,
                &status.code(),
                &Value::Array(job.inputs.clone()),
                &job.options,
                &stages.merge,
                &job.callback_url,
                &job.email,
            ],
        )
        .await
        .context("inserting a job")
        .map_err(ApiError::Internal)?;
    let id: i64 = row.get(0);
    jobs::insert_units(&tx, id, &job.action, first_stage, &job.inputs)
        .await
        .map_err(ApiError::Internal)?;
    tx.commit()
        .await
        .context("committing a job")
        .map_err(ApiError::Internal)?;
    tracing::info!(job.id = id, action = %job.action, inputs = job.inputs.len(), "job created");

    let view = jobs::view(&client, id)
        .await
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::JobNotFound(id.to_string()))?;
    Ok(warp::reply::json(&view))
}

pub async fn get_job(raw_id: String, state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let id = parse_id(&raw_id)?;
    let client = db(&state).await?;
    let view = jobs::view(&client, id)
        .await
        .map_err(ApiError::Internal)?
        .ok_or(ApiError::JobNotFound(raw_id))?;
    Ok(warp::reply::json(&view))
}

pub async fn delete_job(raw_id: String, state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let id = parse_id(&raw_id)?;
    let client = db(&state).await?;
    if !jobs::delete(&client, state.store.as_ref(), id)
        .await
        .map_err(ApiError::Internal)?
    {
        return Err(ApiError::JobNotFound(raw_id).into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// CloudCrowd's `/status`: live nodes, incomplete jobs, incomplete units.
pub async fn status(state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let client = db(&state).await?;
    let nodes = client
        .query(
            "SELECT name, tag, running, max_workers FROM nodes
             WHERE last_seen > now() - make_interval(secs => $1)
             ORDER BY name DESC",
            &[&state.node_ttl.as_secs_f64()],
        )
        .await
        .context("listing nodes")
        .map_err(ApiError::Internal)?;
    let counts = client
        .query_one(
            "SELECT (SELECT count(*) FROM jobs WHERE status IN (1, 4, 5)),
                    (SELECT count(*) FROM work_units WHERE state IN ('pending', 'queued'))",
            &[],
        )
        .await
        .context("counting jobs")
        .map_err(ApiError::Internal)?;
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|row| {
            let running: Value = row.get("running");
            let max_workers: i32 = row.get("max_workers");
            let busy = running.as_array().map_or(0, Vec::len) >= max_workers.max(1) as usize;
            json!({
                "host": row.get::<_, String>("name"),
                "tag": row.get::<_, Option<String>>("tag"),
                "workers": running,
                "max_workers": max_workers,
                "status": if busy { "busy" } else { "available" },
            })
        })
        .collect();
    Ok(warp::reply::json(&json!({
        "nodes": nodes,
        "job_count": counts.get::<_, i64>(0),
        "work_unit_count": counts.get::<_, i64>(1),
    })))
}
