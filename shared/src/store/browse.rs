//! What people browse: pages of jobs (`GET /jobs`), a job with its units (`GET /jobs/:id/units`)
//! and how fast units finish, for the operations page and for scripts.

use serde::Serialize;
use serde_json::Value;

use crate::{
    job_view::{JobFacts, JobView},
    shown::redact_url,
    status::{JobStatus, Stage, UnitState},
};

/// Which jobs a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Is(JobStatus),
    Incomplete,
    Complete,
}

impl StatusFilter {
    /// A status name, or `incomplete` / `complete`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "incomplete" => StatusFilter::Incomplete,
            "complete" => StatusFilter::Complete,
            "processing" => StatusFilter::Is(JobStatus::Processing),
            "succeeded" => StatusFilter::Is(JobStatus::Succeeded),
            "failed" => StatusFilter::Is(JobStatus::Failed),
            "splitting" => StatusFilter::Is(JobStatus::Splitting),
            "merging" => StatusFilter::Is(JobStatus::Merging),
            _ => return None,
        })
    }

    /// The stored status codes it matches.
    pub fn codes(self) -> Vec<i16> {
        let statuses: &[JobStatus] = match self {
            StatusFilter::Is(s) => return vec![s.code()],
            StatusFilter::Incomplete => &[
                JobStatus::Processing,
                JobStatus::Splitting,
                JobStatus::Merging,
            ],
            StatusFilter::Complete => &[JobStatus::Succeeded, JobStatus::Failed],
        };
        statuses.iter().map(|s| s.code()).collect()
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobQuery {
    pub status: Option<StatusFilter>,
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

impl JobQuery {
    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.per_page)
    }
}

/// A job as listings show it: CloudCrowd's JSON plus what a list needs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobSummary {
    #[serde(flatten)]
    pub view: JobView,
    pub action: String,
    /// Unix seconds.
    pub created_at: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<JobSummary>,
    /// Jobs matching the filter, on every page.
    pub total: i64,
}

/// A job and a page of its units in unit order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobDetail {
    pub job: JobSummary,
    pub units: Vec<UnitView>,
    /// Units of the job on every page, its merge included.
    pub units_total: i64,
}

/// One work unit, as the job page shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnitView {
    pub id: i64,
    pub stage: Stage,
    pub status: UnitState,
    /// Attempts finished so far.
    pub attempts: i32,
    pub input: Value,
    /// What the action returned, once it succeeded.
    pub output: Option<Value>,
    /// Why the last attempt failed (a unit waiting for a retry shows it too).
    pub error: Option<String>,
    /// Seconds the last attempt took.
    pub time: Option<f64>,
    /// When it finished, or last became pending (Unix seconds).
    pub updated_at: f64,
}

/// A failed unit of a failed job, as the operations page lists them across jobs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedUnit {
    pub job_id: i64,
    pub action: String,
    #[serde(flatten)]
    pub unit: UnitView,
}

/// A page of failed units, newest job first.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedUnitPage {
    pub units: Vec<FailedUnit>,
    /// Failed units of failed jobs, on every page.
    pub total: i64,
}

/// What a listing shows in place of a stored value that cannot be read, so one bad value
/// neither hides the rest nor fails the request.
pub(crate) fn unreadable(e: &dyn std::fmt::Display) -> Value {
    Value::from(format!("(this value cannot be read: {e})"))
}

/// What a listing reads of a job (not its inputs and options, which may be large), with the
/// unit counts it keeps (schema/postgres/V8__unit_counts.sql, schema/sqlite/V6__unit_counts.sql).
pub const JOB_COLUMNS: &str = "id, action, created_at, status, outputs, outputs_total, email, \
     time_taken, units_total, units_done, units_incomplete";

/// A job's row with its unit counts, as both stores read it.
pub struct SummaryRow {
    pub id: i64,
    pub action: String,
    /// Unix seconds.
    pub created_at: f64,
    pub status: i16,
    pub outputs: Option<Value>,
    pub outputs_total: Option<i64>,
    pub email: Option<String>,
    pub time_taken: Option<f64>,
    /// Seconds since creation.
    pub age: f64,
    /// Units, merge excluded.
    pub units_total: i64,
    pub units_done: i64,
    pub units_incomplete: i64,
}

impl TryFrom<SummaryRow> for JobSummary {
    type Error = anyhow::Error;

    fn try_from(row: SummaryRow) -> anyhow::Result<Self> {
        use anyhow::Context;
        let status = JobStatus::from_code(row.status)
            .with_context(|| format!("job {} has unknown status {}", row.id, row.status))?;
        Ok(JobSummary {
            view: JobView::from_facts(JobFacts {
                id: row.id,
                status,
                outputs: row.outputs,
                outputs_total: row.outputs_total,
                email: row.email,
                time_taken: row.time_taken,
                age: row.age,
                units_total: row.units_total,
                units_done: row.units_done,
                units_incomplete: row.units_incomplete,
            }),
            action: row.action,
            created_at: row.created_at,
        })
    }
}

/// A unit's input as listings show it: a URL loses its credentials and secret query values
/// (the job's poster gave them to the workers, not to everyone who browses the jobs).
fn without_credentials(input: Value) -> Value {
    match input {
        Value::String(text) if text.contains("://") => Value::String(redact_url(&text)),
        other => other,
    }
}

/// A unit's row, as both stores read it.
pub struct UnitRow {
    pub id: i64,
    pub stage: i16,
    pub state: String,
    pub attempts: i32,
    pub input: Value,
    /// The output of a success, or the error string of the last failure.
    pub stored: Option<Value>,
    pub time: Option<f64>,
    pub updated_at: f64,
}

impl TryFrom<UnitRow> for UnitView {
    type Error = anyhow::Error;

    fn try_from(row: UnitRow) -> anyhow::Result<Self> {
        use anyhow::Context;
        let status = UnitState::parse(&row.state).context("a unit with an unknown state")?;
        let stage = Stage::from_code(row.stage).context("a unit with an unknown stage")?;
        let (output, error) = match (status, row.stored) {
            (UnitState::Succeeded, stored) => (stored, None),
            (_, Some(Value::String(error))) => (None, Some(error)),
            (_, stored) => (None, stored.map(|v| v.to_string())),
        };
        Ok(UnitView {
            id: row.id,
            stage,
            status,
            attempts: row.attempts,
            input: without_credentials(row.input),
            output,
            error,
            time: row.time,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_the_statuses_they_match() {
        assert_eq!(
            StatusFilter::parse("complete").map(StatusFilter::codes),
            Some(vec![2, 3])
        );
        assert_eq!(
            StatusFilter::parse("incomplete").map(StatusFilter::codes),
            Some(vec![1, 4, 5])
        );
        assert_eq!(
            StatusFilter::parse("merging").map(StatusFilter::codes),
            Some(vec![5])
        );
        assert_eq!(StatusFilter::parse("done"), None);
    }

    #[test]
    fn a_failed_unit_shows_its_error_and_no_output() {
        let row = |state: &str, stored| UnitRow {
            id: 1,
            stage: 1,
            state: state.into(),
            attempts: 1,
            input: Value::from("x"),
            stored,
            time: None,
            updated_at: 0.0,
        };
        let failed = UnitView::try_from(row("failed", Some(Value::from("boom")))).expect("view");
        assert_eq!(
            (failed.output, failed.error),
            (None, Some("boom".to_string()))
        );
        let done = UnitView::try_from(row("succeeded", Some(Value::from(3)))).expect("view");
        assert_eq!((done.output, done.error), (Some(Value::from(3)), None));
    }

    #[test]
    fn a_url_input_is_listed_without_its_credentials() {
        assert_eq!(
            without_credentials(Value::from("http://u:hunter2@h/a.txt")),
            Value::from("http://***@h/a.txt")
        );
        assert_eq!(
            without_credentials(Value::from("to be or not")),
            Value::from("to be or not")
        );
        assert_eq!(without_credentials(Value::from(5)), Value::from(5));
    }
}
