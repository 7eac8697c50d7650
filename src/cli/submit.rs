//! `crowd submit`: builds a job from the command line (or reads one from a file), posts it
//! (again, with the same `Idempotency-Key`, if the api could not be reached or answer), and
//! with `--wait` follows it to its end with a progress bar on stderr.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use reqwest::Url;
use serde_json::{json, Map, Value};

use super::{
    client::{Client, ClientError, Job},
    retry, ApiArgs, Outcome,
};

/// How often `--wait` asks for the job: quick enough to feel live, cheap for the api.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Polls in a row that may find the api unreachable (about a minute) before giving up.
const MAX_POLL_FAILURES: u32 = 240;

#[derive(Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub(super) api: ApiArgs,
    /// The action to run, e.g. word_count.
    #[arg(required_unless_present = "file")]
    action: Option<String>,
    /// The inputs: URLs, local paths (sent as absolute file:// URLs) or text.
    #[arg(required_unless_present = "file")]
    inputs: Vec<String>,
    /// The action's options, a JSON object, e.g. '{"lines_per_chunk": 100}'.
    #[arg(long, value_name = "JSON", value_parser = parse_options)]
    options: Option<Map<String, Value>>,
    /// A URL the api POSTs the job to when it ends.
    #[arg(long, value_name = "URL")]
    callback_url: Option<String>,
    /// A whole job in a JSON file, as POST /jobs takes it, instead of ACTION and INPUTS.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["action", "inputs", "options", "callback_url"])]
    file: Option<PathBuf>,
    /// Follow the job until it ends, then print its outputs (exit 1 if it failed).
    #[arg(long)]
    wait: bool,
}

pub async fn run(args: SubmitArgs) -> anyhow::Result<Outcome> {
    let client = args.api.client()?;
    let job = post(&client, &job_json(&args)?).await?;
    if !args.wait {
        println!("{}", job.id);
        return Ok(Outcome::Done);
    }
    // The id on stderr, so that stdout holds the outputs alone, for pipes.
    eprintln!("job {} submitted", job.id);
    let job = follow(&client, job).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(job.outputs.as_ref().unwrap_or(&Value::Null))?
    );
    if job.status == "succeeded" {
        Ok(Outcome::Done)
    } else {
        eprintln!("job {} {} (see `crowd job {}`)", job.id, job.status, job.id);
        Ok(Outcome::JobFailed)
    }
}

/// Posts the job, and posts it again while the api cannot be reached or cannot answer (it may
/// be restarting), always with the same `Idempotency-Key`: a post that got through before its
/// reply was lost is answered with the job it made, so one invocation makes one job.
async fn post(client: &Client, job: &Value) -> anyhow::Result<Job> {
    // One key per invocation: every try is the same post.
    let key = uuid::Uuid::new_v4().to_string();
    let mut tries = 0;
    loop {
        tries += 1;
        let error = match client.submit(job, &key).await {
            Ok(job) => return Ok(job),
            Err(error) => error,
        };
        let Some(wait) = retry::wait_before_retry(tries, &error) else {
            return Err(error.into());
        };
        eprintln!(
            "{error}; trying again in {} ms (try {} of {})",
            wait.as_millis(),
            tries + 1,
            retry::MAX_TRIES
        );
        tokio::time::sleep(wait).await;
    }
}

fn job_json(args: &SubmitArgs) -> anyhow::Result<Value> {
    if let Some(path) = &args.file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON job", path.display()));
    }
    let mut job = json!({
        "action": args.action,
        "inputs": args.inputs.iter().map(|input| input_value(input)).collect::<Vec<_>>(),
        "options": args.options.clone().unwrap_or_default(),
    });
    if let Some(url) = &args.callback_url {
        job["callback_url"] = url.as_str().into();
    }
    Ok(job)
}

/// A local file becomes an absolute `file://` URL (the worker does not share our current
/// directory); a URL, or anything that names no existing file, is sent as it is.
pub(super) fn input_value(raw: &str) -> String {
    if raw.contains("://") || !Path::new(raw).is_file() {
        return raw.to_string();
    }
    std::fs::canonicalize(raw)
        .ok()
        .and_then(|path| Url::from_file_path(path).ok())
        .map_or_else(|| raw.to_string(), String::from)
}

pub(super) fn parse_options(raw: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(raw) {
        Ok(Value::Object(options)) => Ok(options),
        Ok(_) => Err("the options must be a JSON object, e.g. '{\"key\": 1}'".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// Polls the job until it ends, showing its progress (hidden when stderr is not a terminal).
async fn follow(client: &Client, mut job: Job) -> anyhow::Result<Job> {
    let bar = ProgressBar::new(100)
        .with_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {wide_bar} {pos:>3}% {msg}")
                .expect("a valid template"),
        )
        .with_finish(ProgressFinish::AndClear);
    bar.enable_steady_tick(Duration::from_millis(100));
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    let mut failures = 0;
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        bar.set_position(u64::try_from(job.percent_complete).unwrap_or(0));
        bar.set_message(format!(
            "job {} {}, {} units left",
            job.id, job.status, job.work_units
        ));
        if job.is_complete() {
            return Ok(job);
        }
        poll.tick().await;
        match client.job(job.id).await {
            Ok(now) => {
                job = now;
                failures = 0;
            }
            Err(e) => match &e {
                // The job goes on without us: a restarting api is worth waiting for.
                ClientError::Unreachable { .. } | ClientError::Unavailable(_)
                    if failures < MAX_POLL_FAILURES =>
                {
                    failures += 1;
                    bar.set_message(format!("job {}: {e}; trying again", job.id));
                }
                ClientError::NotFound(_) => anyhow::bail!(
                    "job {} was deleted before it could be read (a callback that answers 201 \
                     deletes its job, and so does `crowd cancel`)",
                    job.id
                ),
                _ => return Err(e.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_files_become_file_urls_and_the_rest_stays_as_it_is() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("a b.txt");
        std::fs::write(&file, "x").expect("write");
        let url = input_value(file.to_str().expect("utf-8"));
        assert!(
            url.starts_with("file:///") && url.ends_with("/a%20b.txt"),
            "{url}"
        );
        assert_eq!(input_value("to be or not to be"), "to be or not to be");
        assert_eq!(input_value("s3://bucket/key"), "s3://bucket/key");
        let folder = dir.path().to_str().expect("utf-8");
        assert_eq!(
            input_value(folder),
            folder,
            "only files are sent as file:// URLs"
        );
    }

    #[test]
    fn options_must_be_a_json_object() {
        assert!(parse_options(r#"{"lines_per_chunk": 1}"#).is_ok());
        assert!(parse_options("[1]").is_err());
        assert!(parse_options("{bad").is_err());
    }
}
