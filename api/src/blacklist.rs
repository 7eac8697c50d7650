//! Pausing and resuming actions through CloudCrowd's blacklist API: `GET /blacklist`,
//! `POST /blacklist` (form `action=<name>`, or JSON `{"action": "<name>"}`) and
//! `DELETE /blacklist/:action`. A paused action's units wait until it is resumed.

use std::sync::Arc;

use bytes::Bytes;
use crowd_shared::store::{is_action_name, MAX_ACTION_NAME};
use warp::{Filter, Rejection, Reply};

use crate::{job_body, short::Short, ApiError, ApiState};

/// The largest body `POST /blacklist` reads: a name, with room to spare.
pub const MAX_BODY_BYTES: u64 = 4096;

/// A `POST /blacklist` body, of at most `MAX_BODY_BYTES`, declared or chunked, within
/// `job_body::BODY_TIME`.
pub fn body() -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    job_body::declared_length()
        .and(warp::body::stream())
        .and_then(|length: Option<u64>, body| async move {
            let too_long = || {
                warp::reject::custom(bad(format!(
                    "the body is longer than a blacklist entry may be ({MAX_BODY_BYTES} bytes)"
                )))
            };
            if length.is_some_and(|n| n > MAX_BODY_BYTES) {
                return Err(too_long());
            }
            let read =
                tokio::time::timeout(job_body::BODY_TIME, job_body::collect(body, MAX_BODY_BYTES))
                    .await
                    .map_err(|_| {
                        warp::reject::custom(ApiError::BodyTimeout {
                            allowed: job_body::BODY_TIME,
                        })
                    })?
                    .map_err(warp::reject::custom)?;
            read.ok_or_else(too_long)
        })
}

/// The action a `POST /blacklist` body names.
pub fn action_named(content_type: Option<&str>, body: &[u8]) -> Result<String, ApiError> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    let named = match media.as_deref() {
        Some("application/json") => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| bad(format!("the body is not JSON: {e}")))?;
            value
                .get("action")
                .map(|a| {
                    a.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad("action must be a string".into()))
                })
                .transpose()?
        }
        // CloudCrowd's clients post a form; a body without a type is read as one.
        None | Some("application/x-www-form-urlencoded") => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| bad(format!("the form cannot be read: {e}")))?;
            pairs
                .into_iter()
                .find(|(k, _)| k == "action")
                .map(|(_, v)| v)
        }
        Some(_) => return Err(ApiError::UnsupportedMediaType),
    };
    let action = named.ok_or_else(|| bad("name the action to pause: action=<name>".into()))?;
    if !is_action_name(&action) {
        return Err(bad(format!(
            "{:?} is not an action name: letters, digits, _ and -, at most {MAX_ACTION_NAME} \
             characters",
            Short(&action)
        )));
    }
    Ok(action)
}

fn bad(message: String) -> ApiError {
    ApiError::BadParameter(message)
}

pub async fn list(state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let paused = state.store.paused_actions().await.map_err(ApiError::from)?;
    Ok(warp::reply::json(&paused))
}

pub async fn pause(
    content_type: Option<String>,
    body: Bytes,
    state: Arc<ApiState>,
) -> Result<impl Reply, Rejection> {
    let action = action_named(content_type.as_deref(), &body)?;
    let paused = state
        .store
        .pause_action(&action)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(action = %action, "action paused");
    Ok(warp::reply::json(&paused))
}

pub async fn resume(action: String, state: Arc<ApiState>) -> Result<impl Reply, Rejection> {
    let resumed = state
        .store
        .resume_action(&action)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotPaused(Short(&action).to_string()))?;
    tracing::info!(action = %resumed.action, "action resumed");
    Ok(warp::reply::json(&resumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_comes_from_a_form_or_json() {
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(
            action_named(form, b"action=word_count").unwrap(),
            "word_count"
        );
        assert_eq!(action_named(None, b"action=shout").unwrap(), "shout");
        let json = Some("application/json; charset=utf-8");
        assert_eq!(action_named(json, br#"{"action": "x-1"}"#).unwrap(), "x-1");
    }

    #[test]
    fn what_is_not_an_action_name_is_refused_and_says_why() {
        let form = Some("application/x-www-form-urlencoded");
        for (content_type, body, needle) in [
            (form, &b""[..], "name the action"),
            (form, b"action=a/b", "not an action name"),
            (form, b"action=", "not an action name"),
            (Some("application/json"), b"{", "not JSON"),
            (
                Some("application/json"),
                br#"{"action": 3}"#,
                "must be a string",
            ),
        ] {
            let e = action_named(content_type, body).expect_err(needle);
            assert!(e.to_string().contains(needle), "{e}");
        }
        assert!(matches!(
            action_named(Some("text/plain"), b"action=x"),
            Err(ApiError::UnsupportedMediaType)
        ));
    }
}
