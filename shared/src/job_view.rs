//! The job JSON of CloudCrowd's API: exactly its keys, computed from a job row and its units.

use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::Value;

use crate::{state_machine::percent_complete, status::JobStatus};

/// Outputs a job's JSON lists by default (`max_listed_outputs`), at most: beyond, it says how
/// many there are and where the rest are paged (`GET /jobs/:id/outputs`), so a million-unit job
/// is not one huge reply or row.
pub const MAX_LISTED_OUTPUTS: i64 = 10_000;

/// What `GET /jobs/:id` and the callback send.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobView {
    pub id: i64,
    pub color: String,
    pub status: &'static str,
    pub percent_complete: i64,
    /// Units not yet complete (0 once the job is complete, as CloudCrowd showed it).
    pub work_units: i64,
    pub time_taken: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
    /// When `outputs` lists only the first `max_listed_outputs`: how many there are in all...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs_total: Option<i64>,
    /// ...and the page that follows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs_next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The row-level facts a view is made from.
#[derive(Debug, Clone)]
pub struct JobFacts {
    pub id: i64,
    pub status: JobStatus,
    pub outputs: Option<Value>,
    /// How many outputs the job has, when more than are listed.
    pub outputs_total: Option<i64>,
    pub email: Option<String>,
    /// Stored once complete.
    pub time_taken: Option<f64>,
    /// Seconds since creation.
    pub age: f64,
    /// Units, merge excluded, for the progress figure.
    pub units_total: i64,
    pub units_done: i64,
    pub units_incomplete: i64,
}

impl JobView {
    pub fn from_facts(f: JobFacts) -> Self {
        let complete = f.status.is_complete();
        JobView {
            id: f.id,
            color: color(f.id),
            status: f.status.as_str(),
            percent_complete: percent_complete(f.status, f.units_done, f.units_total),
            work_units: f.units_incomplete,
            time_taken: if complete {
                f.time_taken.unwrap_or(f.age)
            } else {
                f.age
            },
            outputs_total: f.outputs_total.filter(|_| complete),
            outputs_next: f.outputs_total.filter(|_| complete).map(|_| {
                let listed = f
                    .outputs
                    .as_ref()
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                outputs_page(f.id, 2, listed.max(1) as i64)
            }),
            outputs: if complete { f.outputs } else { None },
            email: f.email,
        }
    }
}

/// Where page `page` of a job's outputs is, `per_page` to a page.
pub fn outputs_page(id: i64, page: i64, per_page: i64) -> String {
    format!("/jobs/{id}/outputs?page={page}&per_page={per_page}")
}

/// A stable colour per job: CloudCrowd's `Digest::MD5.hexdigest(id.to_s)[-7...-1]`.
pub fn color(id: i64) -> String {
    let hex: String = Md5::digest(id.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex[hex.len() - 7..hex.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_matches_cloudcrowd() {
        // md5("11") = 6512bd43d9caa6e02c990b0a82652dca
        assert_eq!(color(11), "2652dc");
    }
}
