//! The figures of the last hour, sampled whether or not anyone watches, so an operations page
//! opened now draws its graphs from what happened before it came.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

/// How often a sample is kept.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept: an hour's.
const KEEP: usize = 720;

#[derive(Default)]
pub struct History {
    samples: Mutex<Samples>,
}

#[derive(Default)]
struct Samples {
    kept: VecDeque<Value>,
    last: Option<Instant>,
}

impl History {
    /// Whether a sample is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples
            .last
            .is_none_or(|last| now.duration_since(last) >= SAMPLE_EVERY)
    }

    /// Keeps the figures of `snapshot` (an `/events` snapshot; its node list is left out),
    /// dropping the oldest beyond an hour.
    pub fn record(&self, snapshot: &Value, now: Instant) {
        let mut figures = snapshot.clone();
        if let Some(fields) = figures.as_object_mut() {
            fields.remove("nodes");
        }
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.last = Some(now);
        samples.kept.push_back(figures);
        while samples.kept.len() > KEEP {
            samples.kept.pop_front();
        }
    }

    /// `GET /status/history`'s body: the samples, oldest first.
    pub fn reply(&self) -> Value {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        json!({
            "period_seconds": SAMPLE_EVERY.as_secs(),
            "samples": samples.kept.iter().collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_an_hour_of_samples_without_nodes_oldest_first() {
        let history = History::default();
        let start = Instant::now();
        assert!(history.due(start));
        for i in 0..KEEP + 3 {
            let at = start + SAMPLE_EVERY * i as u32;
            assert!(history.due(at));
            history.record(&json!({"time": i, "job_count": 1, "nodes": []}), at);
            assert!(!history.due(at + SAMPLE_EVERY / 2));
        }
        let reply = history.reply();
        let samples = reply["samples"].as_array().expect("samples");
        assert_eq!(samples.len(), KEEP);
        assert_eq!(samples[0], json!({"time": 3, "job_count": 1}));
        assert_eq!(reply["period_seconds"], 5);
    }
}
