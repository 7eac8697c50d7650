//! `crowd bench`: measures an installation with jobs of the built-in `noop` action, so the
//! figures are the system's own (posting, queueing, recording, merging), not an action's. It
//! runs against a running api (`--url`) or against `crowd up`'s stack, started in this process
//! in a temporary directory for the length of the run. Phases: one job of many units and its
//! merge (units/s), one-unit jobs one after the other (latency from the post to `succeeded`
//! seen), and optionally several clients posting one-unit jobs at once (jobs/s). The figures
//! are computed and printed by `bench_report`, CPU time is read by `bench_cpu`, and the stack
//! of its own is `bench_stack`'s.

use std::{
    future::Future,
    io::IsTerminal,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::{ArgAction, Args};
use crowd::shared::{telemetry, Config};
use futures_util::{future::try_join_all, StreamExt};
use reqwest::Url;
use serde_json::{json, Value};

use super::{
    bench_cpu::Watched,
    bench_report::{Backend, Figures, Measured, Phase, Report},
    bench_stack::EmbeddedStack,
    client::{self, Client, Job},
    ApiArgs, Outcome,
};

/// Between polls of a one-unit job: its latency is a few milliseconds, and this is how
/// finely it is seen.
const LATENCY_POLL: Duration = Duration::from_millis(1);
/// Between polls of the fan-out job, which takes seconds: a few milliseconds are noise there,
/// and fewer polls take less of the CPU being measured.
const FAN_OUT_POLL: Duration = Duration::from_millis(5);
/// The warm-up: a job of this many units, then this many one-unit jobs.
const WARMUP_UNITS: u64 = 100;
const WARMUP_JOBS: u32 = 5;
/// Deletions sent at once when the jobs posted to `--url` are removed.
const DELETING_AT_ONCE: usize = 8;
/// A job whose status and units left have not changed for this long is given up on: no worker
/// runs `noop` (one of an older version, or one whose `actions` leave it out), and the wait
/// would never end.
const STALLED_AFTER: Duration = Duration::from_secs(60);

#[derive(Args)]
pub struct BenchArgs {
    /// A running api to measure [default: a stack of its own, started in this process on the
    /// embedded backends, in a temporary directory]
    #[arg(long, visible_alias = "api", value_name = "URL", value_parser = client::parse_base_url)]
    url: Option<Url>,
    /// User name for --url's basic auth (the embedded stack takes the configured login).
    #[arg(long, env = "CROWD_LOGIN")]
    user: Option<String>,
    /// Password for --url's basic auth.
    #[arg(long, env = "CROWD_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The fan-out phase: one job of this many units and its merge, timed from the post to
    /// `succeeded` seen (0 skips it).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    units: u64,
    /// The latency phase: this many one-unit jobs, one after the other (0 skips it).
    #[arg(long, value_name = "K", default_value_t = 100)]
    jobs: u32,
    /// The concurrent phase: this many clients posting one-unit jobs, each as soon as its last
    /// one succeeded, for --seconds (0 skips it).
    #[arg(long, value_name = "M", default_value_t = 0)]
    concurrent: u32,
    /// How long the concurrent clients post jobs.
    #[arg(long, value_name = "S", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// First run a small job and a few one-unit jobs, not measured, so that connections,
    /// caches and queues are warm.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    warmup: bool,
    /// A process of the stack at --url (api, dispatcher, worker, Postgres, RabbitMQ...) whose
    /// CPU time counts in CPU per unit; repeat it for each. Without it, against --url, CPU is
    /// not measured.
    #[arg(long = "pid", value_name = "PID", requires = "url")]
    pids: Vec<u32>,
    /// Keep the jobs posted to --url; by default they are deleted once the figures are in.
    #[arg(long, requires = "url")]
    keep_jobs: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// A job that failed, or whose merge did not count every unit once: the figures would be
/// wrong, so the run stops and the command exits 1.
#[derive(Debug, thiserror::Error)]
#[error("job {id} {why}")]
struct JobFailed {
    id: u64,
    why: String,
}

/// Where the jobs go, and whose CPU time is watched while they run.
struct Target {
    client: Client,
    backend: Backend,
    api: String,
    watched: Option<Watched>,
    /// Every job posted, to delete from `--url` afterwards.
    posted: Mutex<Vec<u64>>,
}

pub async fn run(args: BenchArgs, config: Config) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        args.units > 0 || args.jobs > 0 || args.concurrent > 0,
        "nothing to measure: --units, --jobs and --concurrent are all 0"
    );
    let report = match &args.url {
        Some(url) => against(url, &args, &config).await,
        None => embedded(&args, config).await,
    };
    match report {
        Ok(report) if args.json => println!("{}", serde_json::to_string_pretty(&report)?),
        Ok(report) => print!("{}", report.table()),
        Err(e) if e.downcast_ref::<JobFailed>().is_some() => {
            eprintln!("error: {e:#}");
            return Ok(Outcome::JobFailed);
        }
        Err(e) => return Err(e),
    }
    Ok(Outcome::Done)
}

/// Measures the api at `url`, then deletes the jobs it posted there (unless `--keep-jobs`).
async fn against(url: &Url, args: &BenchArgs, config: &Config) -> anyhow::Result<Report> {
    let mut api = ApiArgs {
        api: Some(url.clone()),
        user: args.user.clone(),
        password: args.password.clone(),
    };
    api.fill_from(config);
    let watched = match args.pids.as_slice() {
        [] => None,
        pids => Some(Watched::pids(pids)?),
    };
    let target = Target::new(&api, Backend::Url, watched)?;
    let report = measure(&target, args).await?;
    if !args.keep_jobs {
        delete_posted(&target).await;
    }
    Ok(report)
}

/// Measures `crowd up`'s stack, started here for the run and stopped after it (Ctrl-C too).
async fn embedded(args: &BenchArgs, config: Config) -> anyhow::Result<Report> {
    // The stack's logs would bury the figures; RUST_LOG asks for them.
    if std::env::var_os("RUST_LOG").is_some() {
        telemetry::init(config.log_format);
    }
    let mut api = ApiArgs {
        api: None,
        user: None,
        password: None,
    };
    api.fill_from(&config);
    let mut stack = EmbeddedStack::start(config, args.units).await?;
    api.api = Some(stack.url.clone());
    let target = Target::new(&api, Backend::Embedded, Watched::this_process())?;
    let report = tokio::select! {
        report = measure(&target, args) => report,
        ended = stack.ended() => return Err(ended),
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    stack.stop().await?;
    report
}

impl Target {
    fn new(api: &ApiArgs, backend: Backend, watched: Option<Watched>) -> anyhow::Result<Target> {
        Ok(Target {
            client: api.client()?,
            backend,
            api: api.api.as_ref().map(Url::to_string).unwrap_or_default(),
            watched,
            posted: Mutex::default(),
        })
    }

    /// CPU time the watched processes have used so far, if any are watched.
    fn cpu_time(&self) -> anyhow::Result<Option<Duration>> {
        self.watched.as_ref().map(Watched::cpu_time).transpose()
    }
}

/// The warm-up, then each phase asked for, in turn.
async fn measure(target: &Target, args: &BenchArgs) -> anyhow::Result<Report> {
    if args.warmup {
        announce("warming up");
        run_job(target, WARMUP_UNITS, FAN_OUT_POLL).await?;
        for _ in 0..WARMUP_JOBS {
            run_job(target, 1, LATENCY_POLL).await?;
        }
    }
    let mut phases = Vec::new();
    if args.units > 0 {
        announce(&format!("one job of {} units", args.units));
        let ran = phase(target, Phase::FanOut, async {
            run_job(target, args.units, FAN_OUT_POLL).await?;
            Ok(Ran::new(Vec::new(), 1, args.units))
        });
        phases.push(ran.await?);
    }
    if args.jobs > 0 {
        announce(&format!("{} one-unit jobs in turn", args.jobs));
        phases.push(phase(target, Phase::Jobs, in_turn(target, args.jobs)).await?);
    }
    if args.concurrent > 0 {
        let posting = Duration::from_secs(args.seconds);
        announce(&format!(
            "{} clients posting for {} s",
            args.concurrent, args.seconds
        ));
        let kind = Phase::Concurrent {
            clients: args.concurrent,
            posting_secs: args.seconds,
        };
        let ran = concurrent(target, args.concurrent, posting);
        phases.push(phase(target, kind, ran).await?);
    }
    Ok(Report {
        backend: target.backend,
        api: target.api.clone(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_of: target.watched.as_ref().map(Watched::describe),
        phases: phases.iter().map(Figures::of).collect(),
    })
}

/// Progress on a terminal, where a long phase would otherwise look stuck.
fn announce(what: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("crowd bench: {what}...");
    }
}

/// What a phase did, before it is timed.
struct Ran {
    latencies: Vec<Duration>,
    jobs: u64,
    units: u64,
}

impl Ran {
    fn new(latencies: Vec<Duration>, jobs: u64, units: u64) -> Ran {
        Ran {
            latencies,
            jobs,
            units,
        }
    }

    /// One-unit jobs: one each.
    fn one_unit_jobs(latencies: Vec<Duration>) -> Ran {
        let jobs = latencies.len() as u64;
        Ran::new(latencies, jobs, jobs)
    }
}

/// Runs a phase, timed, with the CPU time the watched processes spent on it.
async fn phase(
    target: &Target,
    phase: Phase,
    run: impl Future<Output = anyhow::Result<Ran>>,
) -> anyhow::Result<Measured> {
    let cpu_before = target.cpu_time()?;
    let started = Instant::now();
    let ran = run.await?;
    let elapsed = started.elapsed();
    let cpu = match (cpu_before, target.cpu_time()?) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    Ok(Measured {
        phase,
        jobs: ran.jobs,
        units: ran.units,
        elapsed,
        latencies: ran.latencies,
        cpu,
    })
}

async fn in_turn(target: &Target, jobs: u32) -> anyhow::Result<Ran> {
    let mut latencies = Vec::new();
    for _ in 0..jobs {
        latencies.push(run_job(target, 1, LATENCY_POLL).await?);
    }
    Ok(Ran::one_unit_jobs(latencies))
}

/// `clients` clients, each posting a one-unit job as soon as its last one succeeded, until
/// `posting` has passed; the phase ends when the last job does. Between them they poll about
/// a thousand times a second, however many they are, so the polls do not swamp the api.
async fn concurrent(target: &Target, clients: u32, posting: Duration) -> anyhow::Result<Ran> {
    let until = Instant::now() + posting;
    let poll = LATENCY_POLL * clients;
    let client = || async move {
        let mut latencies = Vec::new();
        while Instant::now() < until {
            latencies.push(run_job(target, 1, poll).await?);
        }
        anyhow::Ok(latencies)
    };
    let each = try_join_all((0..clients).map(|_| client())).await?;
    Ok(Ran::one_unit_jobs(each.concat()))
}

/// Posts a `noop` job of `units` inputs and polls it every `poll` until it ends: the time
/// from the post to the end seen. A job that failed, or whose merge did not count each of its
/// units once, is a `JobFailed`.
async fn run_job(target: &Target, units: u64, poll: Duration) -> anyhow::Result<Duration> {
    // Numbers, never URLs: the worker downloads nothing for them.
    let inputs = vec![1; usize::try_from(units).context("too many units")?];
    let job = json!({"action": "noop", "inputs": inputs});
    let started = Instant::now();
    let mut job: Job = target.client.submit_unkeyed(&job).await?;
    target
        .posted
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(job.id);
    let mut polls = tokio::time::interval_at((started + poll).into(), poll);
    polls.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut moves = Moves::new(&job, started);
    while !job.is_complete() {
        polls.tick().await;
        job = target.client.job(job.id).await?;
        if moves.stalled(&job, Instant::now()) {
            anyhow::bail!(
                "job {} has not moved for {} s ({}, {} units left): does a worker run the noop \
                 action?",
                job.id,
                STALLED_AFTER.as_secs(),
                job.status,
                job.work_units
            );
        }
    }
    let took = started.elapsed();
    check(&job, units)?;
    Ok(took)
}

/// When a job last moved: its status or its count of units left changed.
struct Moves {
    seen: (String, i64),
    since: Instant,
}

impl Moves {
    fn new(job: &Job, now: Instant) -> Moves {
        Moves {
            seen: (job.status.clone(), job.work_units),
            since: now,
        }
    }

    /// Whether `job`, as seen at `now`, has been still for `STALLED_AFTER`.
    fn stalled(&mut self, job: &Job, now: Instant) -> bool {
        if (&job.status, job.work_units) != (&self.seen.0, self.seen.1) {
            *self = Moves::new(job, now);
        }
        now.duration_since(self.since) >= STALLED_AFTER
    }
}

/// A `noop` job of `units` inputs ends `succeeded` with `[units]`.
fn check(job: &Job, units: u64) -> Result<(), JobFailed> {
    let outputs = job.outputs.clone().unwrap_or(Value::Null);
    let why = match job.status.as_str() {
        "succeeded" if outputs == json!([units]) => return Ok(()),
        "succeeded" => format!(
            "succeeded with {}, not [{units}]: its merge did not count each unit once",
            shortened(&outputs)
        ),
        status => format!("{status}: {}", shortened(&first_error(&outputs))),
    };
    Err(JobFailed { id: job.id, why })
}

/// A failed job's outputs hold its units' errors: the first says enough.
fn first_error(outputs: &Value) -> Value {
    match outputs
        .as_array()
        .and_then(|all| all.iter().find(|o| o.is_string()))
    {
        Some(error) => error.clone(),
        None => outputs.clone(),
    }
}

fn shortened(value: &Value) -> String {
    const MAX_CHARS: usize = 300;
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Deletes the jobs posted, a few at a time; one that cannot be deleted is reported, not fatal:
/// the figures are in.
async fn delete_posted(target: &Target) {
    let ids = std::mem::take(&mut *target.posted.lock().unwrap_or_else(PoisonError::into_inner));
    let total = ids.len();
    let failed: Vec<(u64, client::ClientError)> = futures_util::stream::iter(ids)
        .map(|id| async move { (id, target.client.cancel(id).await) })
        .buffer_unordered(DELETING_AT_ONCE)
        .filter_map(|(id, result)| async move { result.err().map(|e| (id, e)) })
        .collect()
        .await;
    if let Some((id, error)) = failed.first() {
        eprintln!(
            "warning: {} of the {total} jobs posted were not deleted; job {id}: {error:#}",
            failed.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: &str, outputs: Value) -> Job {
        Job {
            id: 7,
            status: status.into(),
            percent_complete: 100,
            work_units: 0,
            time_taken: 0.1,
            outputs: Some(outputs),
            action: None,
        }
    }

    fn running(work_units: i64) -> Job {
        Job {
            work_units,
            ..job("processing", Value::Null)
        }
    }

    #[test]
    fn a_job_stalls_when_nothing_about_it_changes_for_a_while() {
        let start = Instant::now();
        let mut moves = Moves::new(&running(10), start);
        let later = |secs| start + Duration::from_secs(secs);
        assert!(!moves.stalled(&running(10), later(59)));
        assert!(!moves.stalled(&running(9), later(61)), "a unit ended");
        assert!(!moves.stalled(&running(9), later(120)));
        assert!(moves.stalled(&running(9), later(121)));
        let merging = Job {
            status: "merging".into(),
            ..running(9)
        };
        assert!(!moves.stalled(&merging, later(122)), "its status changed");
    }

    #[test]
    fn a_job_counts_only_if_its_merge_counted_every_unit() {
        assert!(check(&job("succeeded", json!([3])), 3).is_ok());
        let short = check(&job("succeeded", json!([2])), 3).expect_err("one unit missing");
        assert_eq!(
            short.to_string(),
            "job 7 succeeded with [2], not [3]: its merge did not count each unit once"
        );
        let failed = check(&job("failed", json!([1, "boom", "bang"])), 3).expect_err("failed");
        assert_eq!(failed.to_string(), "job 7 failed: boom");
    }

    #[test]
    fn long_outputs_are_cut() {
        let long = Value::String("x".repeat(1000));
        assert_eq!(shortened(&long).chars().count(), 301);
        assert_eq!(shortened(&json!([1, 2])), "[1,2]");
    }
}
