//! The one place errors become HTTP: every failure, ours or warp's, is a status and a JSON
//! body `{"error": <code>, "message": <what is wrong>}`. Internals are logged, never shown.

use std::{convert::Infallible, time::Duration};

use crowd_shared::store::StoreError;

use warp::{
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    reject::Reject,
    Rejection, Reply,
};

use crate::{body_budget, job_body, methods};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The job posted is malformed or names what does not exist.
    #[error("{0}")]
    InvalidJob(String),
    /// A query parameter is unknown or out of range.
    #[error("{0}")]
    BadParameter(String),
    #[error("no job with id {0}")]
    JobNotFound(String),
    /// `DELETE /blacklist/:action` of an action that is not paused.
    #[error("action {0:?} is not paused")]
    NotPaused(String),
    /// `POST /jobs/:id/retry` of a job that has not failed.
    #[error("{0}")]
    NotRetryable(String),
    /// The `Idempotency-Key` header cannot be taken (empty, too long, not printable ASCII).
    #[error("{0}")]
    BadIdempotencyKey(String),
    /// The key made a job that differs from the one posted now.
    #[error(
        "this Idempotency-Key was already used with a different job (its action, inputs, \
         options, callback_url or email differ) within idempotency_key_secs ({retention_secs} s); \
         a new job needs a new key"
    )]
    IdempotencyKeyReused { retention_secs: u64 },
    /// The key made a job that has been deleted since: making it again is not what a retry
    /// means.
    #[error(
        "the job this Idempotency-Key created (id {0}) has been deleted since; post with a new \
         key to create it again"
    )]
    IdempotentJobGone(crowd_shared::JobId),
    #[error(
        "the request's content type must be application/x-www-form-urlencoded or application/json"
    )]
    UnsupportedMediaType,
    #[error("authentication required")]
    Unauthorized,
    /// A path that exists, asked with a method it does not take.
    #[error(
        "{method} is not allowed here; this route takes {}",
        methods::allow_header(allowed)
    )]
    MethodNotAllowed {
        method: Method,
        allowed: &'static [Method],
    },
    #[error("the request body is too large (max_body_bytes is {max_body_bytes})")]
    TooLarge { max_body_bytes: u64 },
    /// A unit of the job could not be sent through the queue.
    #[error(
        "input {input} would make a work message of {bytes} bytes, more than max_message_bytes \
         ({max_message_bytes}): store big inputs as files and post their URLs"
    )]
    UnitTooLarge {
        input: usize,
        bytes: usize,
        max_message_bytes: u64,
    },
    /// The body stopped short of its `Content-Length` for longer than it is given.
    #[error(
        "the request body did not all arrive within {} s (a body gets {} s, and {} s more per MiB)",
        allowed.as_secs(),
        job_body::BODY_TIME.as_secs(),
        job_body::BODY_TIME_PER_MIB.as_secs()
    )]
    BodyTimeout { allowed: Duration },
    #[error("the request body could not be read: {0}")]
    UnreadableBody(String),
    /// The memory budget for job bodies stayed spent for as long as a post waits.
    #[error(
        "the api is reading as many job bodies as it may at once ({budget_bytes} bytes, {} × max_body_bytes); try again shortly",
        body_budget::BODIES_AT_ONCE
    )]
    Busy { budget_bytes: u64 },
    /// Addressed to a host name the api does not answer to.
    #[error("requests for host {0:?} are refused (allowed_hosts)")]
    ForeignHost(String),
    /// Sent by a browser from another site's page.
    #[error("requests from pages of another origin ({0}) are refused")]
    ForeignOrigin(String),
    /// Postgres cannot be reached.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Reject for ApiError {}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => ApiError::Unavailable(e),
            StoreError::Refused(e) => {
                tracing::info!(
                    error = format!("{e:#}"),
                    "the database refused a request's data"
                );
                ApiError::InvalidJob("the job holds data the database cannot store".into())
            }
            StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidJob(_) => (StatusCode::BAD_REQUEST, "invalid_job"),
            ApiError::BadParameter(_) => (StatusCode::BAD_REQUEST, "bad_parameter"),
            ApiError::JobNotFound(_) | ApiError::NotPaused(_) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ApiError::NotRetryable(_) => (StatusCode::CONFLICT, "not_retryable"),
            ApiError::BadIdempotencyKey(_) => (StatusCode::BAD_REQUEST, "invalid_idempotency_key"),
            ApiError::IdempotencyKeyReused { .. } => {
                (StatusCode::CONFLICT, "idempotency_key_reused")
            }
            ApiError::IdempotentJobGone(_) => (StatusCode::GONE, "job_deleted"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::TooLarge { .. } | ApiError::UnitTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
            }
            ApiError::BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::UnreadableBody(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::ForeignOrigin(_) => (StatusCode::FORBIDDEN, "foreign_origin"),
            ApiError::ForeignHost(_) => (StatusCode::FORBIDDEN, "foreign_host"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// Headers the status calls for.
    fn add_headers(&self, headers: &mut HeaderMap) {
        match self {
            ApiError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"CloudCrowd\""),
                );
            }
            ApiError::MethodNotAllowed { allowed, .. } => {
                if let Ok(allow) = HeaderValue::from_str(&methods::allow_header(allowed)) {
                    headers.insert(header::ALLOW, allow);
                }
            }
            // The rest of the body may still come; the connection cannot carry another request.
            ApiError::BodyTimeout { .. } => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::Busy { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
    }
}

pub async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    let ours = rejection
        .find::<methods::WrongMethod>()
        .map(|wrong| &wrong.0)
        .or_else(|| rejection.find::<ApiError>());
    let (status, code, message) = if let Some(e) = ours {
        match e {
            ApiError::Internal(inner) | ApiError::Unavailable(inner) => {
                tracing::error!(error = format!("{inner:#}"), "request failed");
            }
            _ => {}
        }
        let (status, code) = e.status_and_code();
        (status, code, e.to_string())
    } else if rejection.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route".to_string(),
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is too large for this route".to_string(),
        )
    } else if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
    {
        let e = ApiError::UnsupportedMediaType;
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            e.to_string(),
        )
    } else if let Some(bad) = rejection.find::<warp::reject::InvalidHeader>() {
        (
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the request's {} header cannot be read", bad.name()),
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        // Routes check their methods with `methods::only`, which says which are allowed;
        // warp's own method filters only reject beside it, after that passed: whatever else
        // another branch of the route refused the request for is the better answer.
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route".to_string(),
        )
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        (
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request could not be understood".to_string(),
        )
    };
    let body = warp::reply::json(&serde_json::json!({ "error": code, "message": message }));
    let mut response = warp::reply::with_status(body, status).into_response();
    if let Some(e) = ours {
        e.add_headers(response.headers_mut());
    }
    Ok(response)
}
