//! The figures of `crowd bench`, from what it measured: rates, latency percentiles, CPU per
//! unit, and the report they make, as a table for people or JSON for machines. Pure: the
//! measuring is in `bench.rs`.

use std::{fmt::Write, time::Duration};

use serde::Serialize;

/// What one phase measured.
pub struct Measured {
    pub phase: Phase,
    /// Jobs that succeeded in the phase.
    pub jobs: u64,
    /// Their units (inputs), merges not counted.
    pub units: u64,
    /// From the phase's first post to the last job seen succeeded.
    pub elapsed: Duration,
    /// Each job's time from its post to its `succeeded` seen (empty for the fan-out).
    pub latencies: Vec<Duration>,
    /// CPU time the watched processes spent during the phase, if they are watched.
    pub cpu: Option<Duration>,
}

/// In JSON, `"phase": "fan_out"` (or `"jobs"`, or `"concurrent"` with `clients` and
/// `posting_secs`) among the phase's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// One job of many units and its merge.
    FanOut,
    /// One-unit jobs, one after the other.
    Jobs,
    /// One-unit jobs posted by several clients at once, each posting its next job as soon as
    /// its last one succeeded, for `posting_secs`.
    Concurrent { clients: u32, posting_secs: u64 },
}

/// A phase's figures, as the report shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    #[serde(flatten)]
    pub phase: Phase,
    pub jobs: u64,
    pub units: u64,
    pub seconds: f64,
    pub units_per_sec: f64,
    pub jobs_per_sec: f64,
    /// Post to `succeeded` seen, per job; none for the fan-out, whose one job is `seconds`.
    pub latency_ms: Option<Latency>,
    pub cpu_us_per_unit: Option<f64>,
}

/// Percentiles of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Where the jobs ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// A stack this command started in itself (SQLite, in-process queues).
    Embedded,
    /// A running api named by `--url`.
    Url,
}

/// Everything `crowd bench` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub backend: Backend,
    pub api: String,
    /// Cores this machine offers this process.
    pub cores: usize,
    /// Whose CPU time `cpu_us_per_unit` counts; none when no process is watched.
    pub cpu_of: Option<String>,
    pub phases: Vec<Figures>,
}

impl Figures {
    pub fn of(measured: &Measured) -> Figures {
        Figures {
            phase: measured.phase,
            jobs: measured.jobs,
            units: measured.units,
            seconds: measured.elapsed.as_secs_f64(),
            units_per_sec: per_second(measured.units, measured.elapsed),
            jobs_per_sec: per_second(measured.jobs, measured.elapsed),
            latency_ms: Latency::of(&measured.latencies),
            cpu_us_per_unit: measured
                .cpu
                .and_then(|cpu| micros_per_unit(cpu, measured.units)),
        }
    }
}

impl Latency {
    /// The percentiles of `samples`, in any order; none without samples.
    pub fn of(samples: &[Duration]) -> Option<Latency> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Some(Latency {
            p50: percentile(&ms, 50.0)?,
            p90: percentile(&ms, 90.0)?,
            p99: percentile(&ms, 99.0)?,
            max: *ms.last()?,
        })
    }
}

/// The nearest-rank percentile of sorted values: the smallest value that `p` % of them are at
/// or below, so always one of the values measured. None for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(last)])
}

/// How many per second; a phase too short for the clock to see counts as one microsecond.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.max(Duration::from_micros(1)).as_secs_f64()
}

/// CPU microseconds per unit; none for no units.
pub fn micros_per_unit(cpu: Duration, units: u64) -> Option<f64> {
    (units > 0).then(|| cpu.as_secs_f64() * 1e6 / units as f64)
}

impl Phase {
    fn describe(self) -> String {
        match self {
            Phase::FanOut => "fan-out: one job + merge".into(),
            Phase::Jobs => "one-unit jobs in turn".into(),
            Phase::Concurrent {
                clients,
                posting_secs,
            } => format!("one-unit jobs, {clients} clients, {posting_secs} s"),
        }
    }
}

impl Report {
    /// A few lines for a terminal: what was measured where, then a row per phase.
    pub fn table(&self) -> String {
        let backend = match self.backend {
            Backend::Embedded => "an embedded stack (SQLite, in-process queues)",
            Backend::Url => "the api",
        };
        let cpu = match &self.cpu_of {
            Some(whose) => format!("CPU of {whose}"),
            None => "CPU not measured (give --pid)".into(),
        };
        let mut out = format!(
            "crowd bench: {backend} at {}, {} cores; {cpu}\n\n",
            self.api, self.cores
        );
        let header = [
            "PHASE",
            "JOBS",
            "UNITS",
            "SECONDS",
            "UNITS/S",
            "P50 MS",
            "P90 MS",
            "P99 MS",
            "MAX MS",
            "CPU µs/UNIT",
        ];
        row(&mut out, header.map(String::from));
        for figures in &self.phases {
            let latency = |pick: fn(&Latency) -> f64| {
                figures
                    .latency_ms
                    .as_ref()
                    .map_or("-".into(), |l| format!("{:.2}", pick(l)))
            };
            row(
                &mut out,
                [
                    figures.phase.describe(),
                    figures.jobs.to_string(),
                    figures.units.to_string(),
                    format!("{:.2}", figures.seconds),
                    format!("{:.1}", figures.units_per_sec),
                    latency(|l| l.p50),
                    latency(|l| l.p90),
                    latency(|l| l.p99),
                    latency(|l| l.max),
                    figures
                        .cpu_us_per_unit
                        .map_or("-".into(), |us| format!("{us:.0}")),
                ],
            );
        }
        out
    }
}

/// A row: the phase left-aligned, the figures right-aligned under their headings.
fn row(out: &mut String, cells: [String; 10]) {
    let [phase, figures @ ..] = cells;
    let _ = write!(out, "{phase:<32}");
    for (cell, width) in figures.iter().zip([6, 8, 9, 10, 8, 8, 8, 8, 13]) {
        let _ = write!(out, "{cell:>width$}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn percentiles_are_values_measured_by_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile(&sorted, 90.0), Some(90.0));
        assert_eq!(percentile(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile(&sorted, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0], 50.0), Some(1.0));
        assert_eq!(percentile(&[1.0, 2.0], 99.0), Some(2.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn latencies_are_sorted_before_they_are_ranked() {
        let latency = Latency::of(&ms(&[9, 1, 5, 3, 7])).expect("samples");
        assert_eq!(
            latency,
            Latency {
                p50: 5.0,
                p90: 9.0,
                p99: 9.0,
                max: 9.0
            }
        );
        assert_eq!(Latency::of(&[]), None);
    }

    #[test]
    fn rates_and_cpu_are_per_second_and_per_unit() {
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000.0);
        assert!(per_second(1, Duration::ZERO).is_finite());
        assert_eq!(micros_per_unit(Duration::from_millis(3), 1000), Some(3.0));
        assert_eq!(micros_per_unit(Duration::from_millis(3), 0), None);
    }

    #[test]
    fn figures_of_a_phase_divide_by_its_units_and_its_time() {
        let figures = Figures::of(&Measured {
            phase: Phase::Jobs,
            jobs: 4,
            units: 4,
            elapsed: Duration::from_secs(2),
            latencies: ms(&[10, 20, 30, 40]),
            cpu: Some(Duration::from_millis(8)),
        });
        assert_eq!(figures.jobs_per_sec, 2.0);
        assert_eq!(figures.units_per_sec, 2.0);
        assert_eq!(figures.cpu_us_per_unit, Some(2000.0));
        assert_eq!(figures.latency_ms.map(|l| l.p50), Some(20.0));
        assert_eq!(figures.latency_ms.map(|l| l.max), Some(40.0));
    }

    fn report() -> Report {
        let fan_out = Figures::of(&Measured {
            phase: Phase::FanOut,
            jobs: 1,
            units: 10_000,
            elapsed: Duration::from_secs(5),
            latencies: Vec::new(),
            cpu: None,
        });
        let concurrent = Figures::of(&Measured {
            phase: Phase::Concurrent {
                clients: 8,
                posting_secs: 10,
            },
            jobs: 3,
            units: 3,
            elapsed: Duration::from_secs(1),
            latencies: ms(&[4, 5, 6]),
            cpu: Some(Duration::from_millis(3)),
        });
        Report {
            backend: Backend::Url,
            api: "http://127.0.0.1:9173/".into(),
            cores: 2,
            cpu_of: Some("processes 10, 11".into()),
            phases: vec![fan_out, concurrent],
        }
    }

    #[test]
    fn the_table_has_a_row_per_phase_under_its_headings() {
        let table = report().table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "crowd bench: the api at http://127.0.0.1:9173/, 2 cores; CPU of processes 10, 11"
        );
        assert!(lines[2].starts_with("PHASE") && lines[2].ends_with(" CPU µs/UNIT"));
        let fan_out: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            fan_out,
            [
                "fan-out:", "one", "job", "+", "merge", "1", "10000", "5.00", "2000.0", "-", "-",
                "-", "-", "-"
            ]
        );
        assert!(lines[4].starts_with("one-unit jobs, 8 clients, 10 s"));
        assert!(lines[4].ends_with("   5.00    6.00    6.00    6.00         1000"));
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn the_json_names_phases_backend_and_figures() {
        let json = serde_json::to_value(report()).expect("JSON");
        assert_eq!(json["backend"], "url");
        assert_eq!(json["cores"], 2);
        assert_eq!(json["phases"][0]["phase"], "fan_out");
        assert_eq!(json["phases"][0]["units_per_sec"], 2000.0);
        assert!(json["phases"][0]["latency_ms"].is_null());
        assert_eq!(json["phases"][1]["phase"], "concurrent");
        assert_eq!(json["phases"][1]["clients"], 8);
        assert_eq!(json["phases"][1]["latency_ms"]["p99"], 6.0);
        assert_eq!(json["phases"][1]["cpu_us_per_unit"], 1000.0);
    }
}
