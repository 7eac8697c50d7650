//! The `crowd` command line: its parts (api, dispatcher, worker, up, serve...) and the client
//! commands, as clap reads them. What each does with its flags is in the library
//! (`crowd::WorkerFlags`, `crowd::one_machine::prepare_up`, `crowd::bind_checked`), where
//! tests reach it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "crowd",
    version,
    about = "CloudCrowd: parallel processing over Postgres, RabbitMQ and S3"
)]
pub struct Cli {
    /// A TOML configuration file (default: ./crowd.toml when present). Environment variables
    /// (`CROWD_*`, `DATABASE_URL`, `AMQP_URL`, `S3_*`, `AWS_*`) override it.
    #[arg(long, short, global = true, env = "CROWD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API. Example: `crowd api --port 9173`
    Api(Listen),
    /// Dispatch work units and move jobs on. Example: `crowd dispatcher --metrics-port 9464`
    Dispatcher {
        /// Serve /metrics, /healthz and /readyz on this port (on `metrics_host`).
        #[arg(long)]
        metrics_port: Option<u16>,
    },
    /// Run work units. Example: `crowd worker --max-workers 8 --actions word_count`
    Worker(crowd::WorkerFlags),
    /// Everything in one process with nothing installed: SQLite in --data-dir, in-process
    /// queues, files on disk. Example: `crowd up --port 9173 --data-dir crowd-data`
    Up {
        /// Port of the HTTP API.
        #[arg(long, short)]
        port: Option<u16>,
        /// Address to listen on (default: `host`, 127.0.0.1): this machine only, since `crowd up`
        /// may read your files (`file://` inputs under your home directory).
        #[arg(long)]
        host: Option<String>,
        /// Where the embedded database, stored files and scratch space live.
        #[arg(long, default_value = "crowd-data")]
        data_dir: PathBuf,
    },
    /// The api, a dispatcher and a worker in one process, on Postgres and RabbitMQ.
    /// Example: `crowd serve`
    Serve(Listen),
    /// Apply the database migrations in schema/. Example: `crowd migrate`
    Migrate,
    /// Print the effective configuration, secrets redacted. Example: `crowd config`
    Config,
    /// Delete complete jobs that completed more than --days days ago, with their units and
    /// stored files. Runs on the store itself: Postgres when DATABASE_URL is set, otherwise
    /// the embedded store in --data-dir. Example: `crowd cleanup --days 7`
    Cleanup {
        /// Keep jobs that completed within this many days.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// The data directory of `crowd up` (when DATABASE_URL is not set).
        #[arg(long, default_value = "crowd-data")]
        data_dir: PathBuf,
    },
    /// Measure an installation with jobs of the built-in `noop` action: one job of many units
    /// and its merge (units/s), one-unit jobs in turn (latency percentiles) and, with
    /// --concurrent, clients posting at once (jobs/s), with CPU per unit where the processes
    /// can be seen. Against --url, or a stack of its own started in this process.
    /// Example: `crowd bench --units 10000 --jobs 100 --json`
    ///
    /// Without --url it starts `crowd up`'s stack (SQLite, in-process queues) in a temporary
    /// directory, with the configuration's other settings (max_workers...), and counts the CPU
    /// of this process, client included; RUST_LOG shows the stack's logs. With --url, --pid
    /// names the processes whose CPU counts, and the jobs posted are deleted afterwards
    /// (--keep-jobs keeps them). A job that fails ends the run with exit code 1.
    Bench(Box<super::bench::BenchArgs>),
    /// List the actions this configuration sees (built in, and executables in `actions_path`
    /// and ./actions): name, stages, where defined. Example: `crowd actions`
    Actions,
    /// Run one stage of an action here and now, with no services, and print its output: for
    /// developing an action. Saved files go under --data-dir; a failure of the action exits 1.
    /// Example: `crowd run-action count_words notes.txt --stage split --options '{"lines_per_chunk": 10}'`
    RunAction(Box<super::actions::RunActionArgs>),
    #[command(flatten)]
    Client(Box<super::Command>),
}

#[derive(clap::Args)]
pub struct Listen {
    /// Port of the HTTP API.
    #[arg(long, short)]
    pub port: Option<u16>,
    /// Address to listen on (default: `host`, 127.0.0.1). Beyond this machine, the api needs
    /// a login (or `allow_anonymous = true`).
    #[arg(long)]
    pub host: Option<String>,
}
