//! `GET /jobs` and `GET /jobs/:id/units`: what the operations page and scripts browse.

use std::sync::Arc;

use crowd_shared::store::{JobQuery, Paging, StatusFilter};
use serde_json::json;
use warp::{Rejection, Reply};

use crate::{handlers::parse_id, ApiError, ApiState};

pub const MAX_PER_PAGE: u32 = 200;
const DEFAULT_PER_PAGE: u32 = 20;
/// A job's units on one page of `GET /jobs/:id/units`, at most and unless asked for fewer.
pub const MAX_UNITS_PER_PAGE: u32 = 1000;

/// Reads `status`, `page` and `per_page`; anything else, or a bad value, is a 400 that says so.
pub fn parse_query(pairs: &[(String, String)]) -> Result<JobQuery, ApiError> {
    let mut query = JobQuery {
        status: None,
        page: 1,
        per_page: DEFAULT_PER_PAGE,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "status" if value.is_empty() => {}
            "status" => {
                query.status = Some(StatusFilter::parse(value).ok_or_else(|| {
                    bad(format!(
                        "unknown status {value:?}: use processing, splitting, merging, succeeded, \
                         failed, incomplete or complete"
                    ))
                })?)
            }
            "page" => query.page = number(name, value, 1, u32::MAX)?,
            "per_page" => query.per_page = number(name, value, 1, MAX_PER_PAGE)?,
            _ => {
                return Err(bad(format!(
                    "unknown parameter {name:?}: use status, page and per_page"
                )))
            }
        }
    }
    Ok(query)
}

fn number(name: &str, value: &str, min: u32, max: u32) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            bad(format!(
                "{name} must be a whole number from {min} to {max}, not {value:?}"
            ))
        })
}

fn bad(message: String) -> ApiError {
    ApiError::BadParameter(message)
}

pub async fn list_jobs(
    pairs: Vec<(String, String)>,
    state: Arc<ApiState>,
) -> Result<impl Reply, Rejection> {
    let query = parse_query(&pairs)?;
    let page = state
        .store
        .list_jobs(&query)
        .await
        .map_err(ApiError::from)?;
    Ok(warp::reply::json(&json!({
        "jobs": page.jobs,
        "page": query.page,
        "per_page": query.per_page,
        "total": page.total,
    })))
}

/// `GET /jobs/:id/outputs?page=&per_page=`: a complete job's outputs a page at a time, for a
/// job with more than its JSON lists.
pub async fn job_outputs(
    raw_id: String,
    pairs: Vec<(String, String)>,
    state: Arc<ApiState>,
) -> Result<impl Reply, Rejection> {
    let id = parse_id(&raw_id)?;
    let max_per_page = u32::try_from(state.max_listed_outputs.max(1)).unwrap_or(u32::MAX);
    let query = parse_paging(&pairs, max_per_page, max_per_page)?;
    let page = state
        .store
        .job_outputs(id, query)
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::JobNotFound(raw_id))?;
    Ok(warp::reply::json(&json!({
        "outputs": page.outputs,
        "page": query.page,
        "per_page": query.per_page,
        "total": page.total,
    })))
}

/// `GET /jobs/:id/units?page=&per_page=`: the job and a page of its units, in unit order.
pub async fn job_units(
    raw_id: String,
    pairs: Vec<(String, String)>,
    state: Arc<ApiState>,
) -> Result<impl Reply, Rejection> {
    let id = parse_id(&raw_id)?;
    let query = parse_paging(&pairs, MAX_UNITS_PER_PAGE, MAX_UNITS_PER_PAGE)?;
    let detail = state
        .store
        .job_detail(id, query)
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::JobNotFound(raw_id))?;
    Ok(warp::reply::json(&json!({
        "job": detail.job,
        "units": detail.units,
        "page": query.page,
        "per_page": query.per_page,
        "total": detail.units_total,
    })))
}

/// `GET /units?status=failed&page=&per_page=`: the failed units of failed jobs, across jobs,
/// newest job first.
pub async fn failed_units(
    pairs: Vec<(String, String)>,
    state: Arc<ApiState>,
) -> Result<impl Reply, Rejection> {
    let query = parse_failed_query(&pairs)?;
    let page = state
        .store
        .failed_units(query)
        .await
        .map_err(ApiError::from)?;
    Ok(warp::reply::json(&json!({
        "units": page.units,
        "page": query.page,
        "per_page": query.per_page,
        "total": page.total,
    })))
}

/// `status` (only `failed` is listed across jobs), `page` and `per_page`.
fn parse_failed_query(pairs: &[(String, String)]) -> Result<Paging, ApiError> {
    let mut paging = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        match (name.as_str(), value.as_str()) {
            ("status", "failed") => {}
            ("status", other) => {
                return Err(bad(format!(
                    "units are listed across jobs by status failed only, not {other:?}"
                )))
            }
            _ => paging.push((name.clone(), value.clone())),
        }
    }
    parse_paging(&paging, DEFAULT_PER_PAGE, MAX_PER_PAGE)
}

/// Reads `page` and `per_page` (`default_per_page` unless asked, at most `max_per_page`).
fn parse_paging(
    pairs: &[(String, String)],
    default_per_page: u32,
    max_per_page: u32,
) -> Result<Paging, ApiError> {
    let mut query = Paging {
        page: 1,
        per_page: default_per_page,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "page" => query.page = number(name, value, 1, u32::MAX)?,
            "per_page" => query.per_page = number(name, value, 1, max_per_page)?,
            _ => {
                return Err(bad(format!(
                    "unknown parameter {name:?}: use page and per_page"
                )))
            }
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(query).expect("query")
    }

    #[test]
    fn defaults_and_good_values() {
        let q = parse_query(&pairs("")).expect("defaults");
        assert_eq!((q.status, q.page, q.per_page), (None, 1, 20));
        let q = parse_query(&pairs("status=failed&page=3&per_page=50")).expect("values");
        assert_eq!(q.offset(), 100);
        assert_eq!(q.status.map(StatusFilter::codes), Some(vec![3]));
    }

    #[test]
    fn failed_units_are_paged_by_twenty_unless_asked() {
        let q = parse_failed_query(&pairs("status=failed")).expect("defaults");
        assert_eq!((q.page, q.per_page), (1, DEFAULT_PER_PAGE));
        let q = parse_failed_query(&pairs("page=2&per_page=200")).expect("values");
        assert_eq!((q.page, q.per_page), (2, 200));
        for query in ["status=succeeded", "per_page=201", "job=3"] {
            assert!(parse_failed_query(&pairs(query)).is_err(), "{query}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        for (query, needle) in [
            ("status=done", "unknown status"),
            ("page=0", "page must be"),
            ("page=x", "page must be"),
            ("per_page=500", "per_page must be"),
            ("sort=id", "unknown parameter"),
        ] {
            let e = parse_query(&pairs(query)).expect_err(query);
            assert!(e.to_string().contains(needle), "{query}: {e}");
        }
    }
}
