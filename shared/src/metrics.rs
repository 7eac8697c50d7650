//! Prometheus metrics: one recorder per process, every metric's name and help in this file,
//! and the text a scrape reads (`render`). Recording through the `metrics` facade costs next
//! to nothing; what is recorded before `install` is dropped, so every service installs the
//! recorder when it is built.

use std::{sync::OnceLock, time::Duration};

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::status::{JobStatus, Stage};

/// Buckets of every `_seconds` histogram: from a no-op unit's millisecond to the 25 minutes
/// a unit may run by default.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 1500.0,
];

const JOBS_CREATED: &str = "crowd_jobs_created_total";
const JOBS_COMPLETED: &str = "crowd_jobs_completed_total";
const UNITS_RUN: &str = "crowd_units_run_total";
const UNIT_SECONDS: &str = "crowd_unit_run_seconds";
const UNITS_RUNNING: &str = "crowd_worker_units_running";
const UNITS_PUBLISHED: &str = "crowd_units_published_total";
const COMPLETIONS: &str = "crowd_completions_applied_total";
const APPLY_SECONDS: &str = "crowd_completion_apply_seconds";
const CALLBACKS: &str = "crowd_callback_deliveries_total";
const QUEUE_WAITING: &str = "crowd_queue_waiting_units";
const OUTBOX_LAG: &str = "crowd_outbox_lag_seconds";
const OLDEST_WAITING: &str = "crowd_queue_oldest_waiting_seconds";
const PAUSED: &str = "crowd_action_paused";

struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Installs this process's recorder, once; later calls do nothing.
pub fn install() {
    exporter();
}

fn exporter() -> &'static Exporter {
    EXPORTER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (by a program embedding these crates) keeps
        // its place; a scrape then shows only the process figures.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed before ours: /metrics stays empty");
        }
        describe();
        let process = metrics_process::Collector::default();
        process.describe();
        Exporter { handle, process }
    })
}

fn describe() {
    describe_counter!(JOBS_CREATED, "Jobs accepted by the api, by action");
    describe_counter!(JOBS_COMPLETED, "Jobs that ended, by action and status");
    describe_counter!(
        UNITS_RUN,
        "Stages run by this worker, by action, stage and outcome"
    );
    describe_histogram!(
        UNIT_SECONDS,
        Unit::Seconds,
        "Time one stage of a unit took on a worker"
    );
    describe_gauge!(UNITS_RUNNING, "Units this worker runs now");
    describe_counter!(UNITS_PUBLISHED, "Units the relay handed to the queue");
    describe_counter!(
        COMPLETIONS,
        "Completions the dispatcher recorded, by result"
    );
    describe_histogram!(
        APPLY_SECONDS,
        Unit::Seconds,
        "Time to record one batch of completions"
    );
    describe_counter!(CALLBACKS, "Callback deliveries, by result");
    describe_gauge!(
        QUEUE_WAITING,
        "Units waiting in an action's queue, not yet delivered"
    );
    describe_gauge!(OUTBOX_LAG, "Age of the oldest unit waiting to be published");
    describe_gauge!(
        OLDEST_WAITING,
        "How long an action's longest-waiting unit has waited (0 when none waits)"
    );
    describe_gauge!(PAUSED, "1 while an action is paused, else 0");
}

/// The Prometheus text of everything recorded, with the process's own figures read now.
pub fn render() -> String {
    let exporter = exporter();
    exporter.process.collect();
    exporter.handle.run_upkeep();
    exporter.handle.render()
}

pub fn job_created(action: &str) {
    counter!(JOBS_CREATED, "action" => action.to_string()).increment(1);
}

pub fn job_completed(action: &str, status: JobStatus) {
    counter!(JOBS_COMPLETED, "action" => action.to_string(), "status" => status.as_str())
        .increment(1);
}

/// A stage a worker ran, and how it ended: `succeeded`, `failed` (for good) or `retried`.
pub fn unit_ran(action: &str, stage: Stage, outcome: &'static str, took: Duration) {
    let (action, stage) = (action.to_string(), stage.as_str());
    counter!(UNITS_RUN, "action" => action.clone(), "stage" => stage, "outcome" => outcome)
        .increment(1);
    histogram!(UNIT_SECONDS, "action" => action, "stage" => stage).record(took.as_secs_f64());
}

pub fn units_running(count: usize) {
    gauge!(UNITS_RUNNING).set(count as f64);
}

pub fn units_published(count: usize) {
    counter!(UNITS_PUBLISHED).increment(count as u64);
}

/// A batch of completions recorded: how many of each result, and how long it took.
pub fn completions_applied(results: &[&'static str], took: Duration) {
    for result in results {
        counter!(COMPLETIONS, "result" => *result).increment(1);
    }
    histogram!(APPLY_SECONDS).record(took.as_secs_f64());
}

/// A callback delivery: `delivered`, `failed` or `refused` (its address may not be reached).
pub fn callback_delivery(result: &'static str) {
    counter!(CALLBACKS, "result" => result).increment(1);
}

pub fn queue_waiting(action: &str, units: u32) {
    gauge!(QUEUE_WAITING, "action" => action.to_string()).set(f64::from(units));
}

/// An action's backlog as the store sees it: its oldest waiting unit's wait, and whether it
/// is paused.
pub fn action_backlog(action: &str, oldest_waiting: Option<f64>, paused: bool) {
    gauge!(OLDEST_WAITING, "action" => action.to_string()).set(oldest_waiting.unwrap_or(0.0));
    gauge!(PAUSED, "action" => action.to_string()).set(if paused { 1.0 } else { 0.0 });
}

pub fn outbox_lag(lag: Duration) {
    gauge!(OUTBOX_LAG).set(lag.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_recorded_is_rendered_with_the_process_figures() {
        install();
        // Some CPU time, more than the kernel's 10 ms tick, for the process figures to show.
        let busy = std::time::Instant::now();
        let mut spin = 0u64;
        while busy.elapsed() < Duration::from_millis(100) {
            spin = std::hint::black_box(spin.wrapping_mul(31).wrapping_add(7));
        }
        job_created("word_count");
        unit_ran(
            "word_count",
            Stage::Process,
            "succeeded",
            Duration::from_millis(3),
        );
        let text = render();
        assert!(
            text.contains("crowd_jobs_created_total{action=\"word_count\"}"),
            "{text}"
        );
        assert!(
            text.contains(
                "crowd_unit_run_seconds_bucket{action=\"word_count\",stage=\"process\",le=\"0.005\"}"
            ),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
        let cpu: f64 = text
            .lines()
            .find_map(|line| line.strip_prefix("process_cpu_seconds_total "))
            .and_then(|value| value.parse().ok())
            .expect("the process's CPU time");
        assert!(cpu > 0.0, "CPU time in fractions of a second: {cpu}");
    }
}
