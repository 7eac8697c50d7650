//! Request handlers: each reads what it needs, calls the store, and returns a reply or an
//! `ApiError`.

use std::sync::Arc;

use crowd_shared::{
    catalog::Stages,
    idempotency::{Fingerprint, IdempotencyKey, KeyedOutcome, KeyedPost},
    job_view::{JobFacts, JobView},
    jobs,
    messages::WorkMessage,
    status::{JobStatus, Stage},
    store::{NewJob, NodeView},
    JobId,
};
use serde_json::{json, Value};
use warp::{
    http::{HeaderValue, StatusCode},
    Rejection, Reply,
};

use crate::{
    job_body::JobBody,
    job_request::{self, BodyKind},
    short::Short,
    ApiError, ApiState,
};

/// Ids are numbers; anything else cannot name a job.
pub(crate) fn parse_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse::<JobId>()
        .map_err(|_| ApiError::JobNotFound(raw.to_string()))
}

/// `body` holds its share of the memory budget until the job is stored and the reply made.
/// With an `Idempotency-Key`, a post of the job the key made before answers that job, marked
/// by the `Idempotent-Replayed` header.
pub async fn create_job(
    content_type: Option<String>,
    key: Option<IdempotencyKey>,
    body: JobBody,
    state: Arc<ApiState>,
) -> Result<impl Reply, Rejection> {
    let kind = BodyKind::from_content_type(content_type.as_deref(), &body.bytes)?;
    let job = job_request::parse(kind, &body.bytes, state.max_inputs)?;
    let stages = stages_of(&state, &job.action).await?;
    fits_the_queue(&job, state.max_message_bytes)?;
    let (id, replayed) = match store_job(&state, &job, stages, key).await? {
        KeyedOutcome::Created(id) => {
            tracing::info!(job.id = id.0, action = %Short(&job.action), inputs = job.inputs.len(), "job created");
            crowd_shared::metrics::job_created(&job.action);
            (id, false)
        }
        KeyedOutcome::Replayed(id) => {
            tracing::info!(job.id = id.0, "job posted again with its idempotency key");
            (id, true)
        }
        KeyedOutcome::Conflict => {
            return Err(ApiError::IdempotencyKeyReused {
                retention_secs: state.idempotency_retention.as_secs(),
            }
            .into())
        }
    };
    let view = match state.store.job_view(id).await.map_err(ApiError::from)? {
        Some(view) => view,
        None if replayed => return Err(ApiError::IdempotentJobGone(id).into()),
        // Deleted (`DELETE /jobs/:id`) between being stored and being read back: the post
        // did make it, and a 404 would have the client post it again.
        None => as_created(id, &job, stages),
    };
    let mut reply = warp::reply::json(&view).into_response();
    if replayed {
        reply
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(reply)
}

/// Says that a reply is the job an earlier post with the key created, not a new one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Writes the job; with a key, only if the key has not made one already.
async fn store_job(
    state: &ApiState,
    job: &NewJob,
    stages: Stages,
    key: Option<IdempotencyKey>,
) -> Result<KeyedOutcome, ApiError> {
    let Some(key) = key else {
        let id = state.store.create_job(job, stages).await?;
        return Ok(KeyedOutcome::Created(id));
    };
    let post = KeyedPost {
        key,
        fingerprint: Fingerprint::of(job),
        retention: state.idempotency_retention,
    };
    Ok(state.store.create_job_with_key(job, stages, &post).await?)
}

/// The JSON of job `id` as `create_job` stored it: nothing done yet.
fn as_created(id: JobId, job: &NewJob, stages: Stages) -> JobView {
    let units = i64::try_from(job.inputs.len()).unwrap_or(i64::MAX);
    JobView::from_facts(JobFacts {
        id: id.0,
        status: JobStatus::initial(stages.split),
        outputs: None,
        outputs_total: None,
        email: job.email.clone(),
        time_taken: None,
        age: 0.0,
        units_total: units,
        units_done: 0,
        units_incomplete: units,
    })
}

/// Refuses a job whose units could not be sent: better a 413 now than units that fail.
fn fits_the_queue(job: &NewJob, max_message_bytes: u64) -> Result<(), ApiError> {
    for (input, value) in job.inputs.iter().enumerate() {
        let bytes = WorkMessage::bytes_for(&job.action, value, &job.options);
        if bytes as u64 > max_message_bytes {
            return Err(ApiError::UnitTooLarge {
                input,
                bytes,
                max_message_bytes,
            });
        }
    }
    Ok(())
}

pub async fn get_job(raw_id: String, state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let id = parse_id(&raw_id)?;
    Ok(warp::reply::json(&job_view(&state, id, raw_id).await?))
}

/// The job's JSON; a 404 naming `raw_id` when there is no such job.
async fn job_view(state: &ApiState, id: JobId, raw_id: String) -> Result<JobView, ApiError> {
    state
        .store
        .job_view(id)
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::JobNotFound(raw_id))
}

pub async fn delete_job(raw_id: String, state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let id = parse_id(&raw_id)?;
    let deleted = jobs::delete_and_stop(
        state.store.as_ref(),
        state.assets.as_ref(),
        state.queue.as_ref(),
        id,
    )
    .await
    .map_err(ApiError::from)?;
    if !deleted {
        return Err(ApiError::JobNotFound(raw_id).into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /jobs/:id/retry`: a failed job's failed units run again, with their attempts back; the
/// job, back at their stage. 409 when the job is not failed.
pub async fn retry_job(raw_id: String, state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let id = parse_id(&raw_id)?;
    let units = state
        .store
        .retry_job(id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::JobNotFound(raw_id.clone()))?
        .map_err(|refused| ApiError::NotRetryable(format!("job {id}: {refused}")))?;
    tracing::info!(job.id = id.0, units, "failed job retried");
    Ok(warp::reply::json(&job_view(&state, id, raw_id).await?))
}

/// CloudCrowd's `/status`: live nodes, incomplete jobs, incomplete units.
pub async fn status(state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let overview = state
        .store
        .overview(state.node_ttl)
        .await
        .map_err(ApiError::from)?;
    let nodes: Vec<_> = overview.nodes.iter().map(node_json).collect();
    Ok(warp::reply::json(&json!({
        "nodes": nodes,
        "job_count": overview.job_count,
        "work_unit_count": overview.work_unit_count,
    })))
}

/// The stages of `action`: from this api's own catalog (its built-in actions and its actions
/// directory), or else from what live workers advertise in their heartbeats.
async fn stages_of(state: &ApiState, action: &str) -> Result<Stages, ApiError> {
    if let Some(stages) = state.catalog.get(action) {
        return Ok(*stages);
    }
    let nodes = state.store.overview(state.node_ttl).await?.nodes;
    let advertised = nodes
        .iter()
        .find_map(|node| node.actions.get(action).copied());
    advertised.ok_or_else(|| {
        let mut known: Vec<&str> = state.catalog.keys().map(String::as_str).collect();
        known.extend(
            nodes
                .iter()
                .flat_map(|n| n.actions.keys().map(String::as_str)),
        );
        known.sort_unstable();
        known.dedup();
        ApiError::InvalidJob(format!(
            "no action named {:?} could be found (known actions: {})",
            Short(action),
            known.join(", ")
        ))
    })
}

/// A node as `/status` (and the operations page) shows it.
pub(crate) fn node_json(node: &NodeView) -> Value {
    json!({
        "host": node.name,
        "tag": node.tag,
        "workers": node.running,
        "max_workers": node.max_workers,
        "status": if node.throttled.is_some() {
            "throttled"
        } else if node.is_busy() {
            "busy"
        } else {
            "available"
        },
        "throttled": node.throttled,
        "progress": node.progress,
        "actions": node.actions.iter().map(|(name, stages)| {
            let names: Vec<&str> = [Stage::Split, Stage::Process, Stage::Merge]
                .into_iter()
                .filter(|stage| stages.has(*stage))
                .map(Stage::as_str)
                .collect();
            json!({"name": name, "stages": names})
        }).collect::<Vec<_>>(),
    })
}

/// `GET /readyz`: 200 when this api reaches its store, 503 (saying why) otherwise; the
/// queue's state is reported beside it.
pub async fn ready(state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    crate::probes::ready(&state.readiness).await
}
