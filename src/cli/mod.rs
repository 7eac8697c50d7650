//! The client commands of `crowd` (`submit`, `status`, `jobs`, `job`, `cancel`): they talk to a
//! running api over HTTP, so they work against `crowd up`, `crowd serve` or an api elsewhere.
//! `bench` does too, or starts a stack of its own to talk to.
//!
//! Exit codes: 0 when done, 1 when a job `submit --wait` or `bench` followed failed, 2 for a
//! usage, connection or api error (clap exits 2 on usage errors too).

pub mod actions;
pub mod args;
pub mod bench;
mod bench_cpu;
mod bench_report;
mod bench_stack;
mod retry;
mod show;
mod submit;

use std::io::Write;

use clap::{Args, Subcommand};
use crowd::shared::Config;
use reqwest::Url;

use client::{Client, ClientError};
/// The typed client of the api, a crate of its own so Rust programs can use it too.
use crowd_client as client;

/// Where the api is and how to log in to it; every client command takes these. What flags and
/// the environment leave out comes from the configuration (`crowd.toml`, `CROWD_*`), as the api
/// on this machine reads it.
#[derive(Args)]
pub struct ApiArgs {
    /// The api's base URL [default: http://127.0.0.1 on the configured port, 9173]
    #[arg(long, env = "CROWD_API", value_parser = client::parse_base_url)]
    api: Option<Url>,
    /// User name for the api's basic auth (its `login`).
    #[arg(long, env = "CROWD_LOGIN")]
    user: Option<String>,
    /// Password for the api's basic auth.
    #[arg(long, env = "CROWD_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Submit a job and print its id; with --wait, follow it, then print its outputs.
    /// Example: `crowd submit word_count book.txt "to be or not to be" --wait`
    ///
    /// Local paths become absolute file:// URLs; other inputs (URLs, text) are sent as they
    /// are. --wait shows a progress bar on stderr, prints the outputs as JSON on stdout, and
    /// exits 1 if the job failed. A post the api may not have received (no reply, or a 502,
    /// 503 or 504) is sent again with the same Idempotency-Key, up to 8 times over about 16 s,
    /// so it makes one job. Errors (bad arguments, an unreachable api, a job the api refuses)
    /// exit 2.
    Submit(submit::SubmitArgs),
    /// Show the worker nodes and how many jobs and units are incomplete. Example: `crowd status`
    Status {
        #[command(flatten)]
        api: ApiArgs,
        /// Print the api's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List jobs, newest first. Example: `crowd jobs --status failed --per-page 50`
    Jobs(show::JobsArgs),
    /// Show one job and its work units. Example: `crowd job 12`
    Job {
        #[command(flatten)]
        api: ApiArgs,
        /// The job's id.
        id: u64,
        /// Print the api's JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Run a failed job's failed units again. Example: `crowd retry 12`
    Retry {
        #[command(flatten)]
        api: ApiArgs,
        /// The job's id.
        id: u64,
    },
    /// Cancel a job: delete it with its work units and stored files. Example: `crowd cancel 12`
    Cancel {
        #[command(flatten)]
        api: ApiArgs,
        /// The job's id.
        id: u64,
    },
}

impl ApiArgs {
    /// The client of the api these name (127.0.0.1 on the default port when none is named).
    pub fn client(&self) -> anyhow::Result<Client> {
        let base = match &self.api {
            Some(api) => api.clone(),
            None => client::parse_base_url(&format!(
                "127.0.0.1:{}",
                crowd::shared::config::DEFAULT_PORT
            ))
            .map_err(|e| anyhow::anyhow!(e))?,
        };
        let client = Client::new(base)?;
        Ok(match &self.user {
            Some(user) => client.with_login(user, self.password.clone().unwrap_or_default()),
            None => client,
        })
    }

    /// Fills in from `config` what flags and the environment left out: the api on this
    /// machine's configured port, and the api's own login.
    fn fill_from(&mut self, config: &Config) {
        if self.api.is_none() {
            self.api = client::parse_base_url(&format!("127.0.0.1:{}", config.port)).ok();
        }
        if self.user.is_none() && self.password.is_none() {
            if let (Some(login), Some(password)) = (&config.login, &config.password) {
                self.user = Some(login.clone());
                self.password = Some(password.expose().to_string());
            }
        }
    }
}

impl Command {
    fn api_args(&mut self) -> &mut ApiArgs {
        match self {
            Command::Submit(args) => &mut args.api,
            Command::Jobs(args) => &mut args.api,
            Command::Status { api, .. }
            | Command::Job { api, .. }
            | Command::Retry { api, .. }
            | Command::Cancel { api, .. } => api,
        }
    }
}

/// How a command ended, beyond errors.
pub enum Outcome {
    Done,
    /// A job the command followed ended `failed` (or, for `bench`, not as it should).
    JobFailed,
}

/// Runs a client command and returns the process's exit code.
pub async fn run(mut command: Command, config: &Config) -> i32 {
    command.api_args().fill_from(config);
    exit_code(dispatch(command).await)
}

/// Runs `crowd actions` and returns the process's exit code, as `run` does.
pub fn run_list_actions(config: Config) -> i32 {
    exit_code(actions::list(config))
}

/// Runs `crowd run-action` and returns the process's exit code, as `run` does.
pub async fn run_action(args: actions::RunActionArgs, config: Config) -> i32 {
    exit_code(actions::run(args, config).await)
}

/// Runs `crowd bench` and returns the process's exit code, as `run` does.
pub async fn run_bench(args: bench::BenchArgs, config: Config) -> i32 {
    exit_code(bench::run(args, config).await)
}

fn exit_code(result: anyhow::Result<Outcome>) -> i32 {
    let code = match result {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::JobFailed) => 1,
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(ClientError::Unauthorized(_)) = e.downcast_ref::<ClientError>() {
                eprintln!("give --user and --password, or set CROWD_LOGIN and CROWD_PASSWORD");
            }
            2
        }
    };
    // The caller exits the process at once; whatever was printed must be out first.
    let _ = std::io::stdout().flush();
    code
}

async fn dispatch(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Submit(args) => submit::run(args).await,
        Command::Status { api, json } => show::status(&api.client()?, json).await,
        Command::Jobs(args) => show::jobs(args).await,
        Command::Job { api, id, json } => show::job(&api.client()?, id, json).await,
        Command::Retry { api, id } => {
            let job = api.client()?.retry(id).await?;
            println!("job {id} retried: {}", job.status);
            Ok(Outcome::Done)
        }
        Command::Cancel { api, id } => {
            api.client()?.cancel(id).await?;
            println!("job {id} cancelled");
            Ok(Outcome::Done)
        }
    }
}
