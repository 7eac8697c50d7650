//! `crowd`: one binary for every part of CloudCrowd.

mod cli;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use crowd::one_machine;
use crowd::shared::{
    shutdown::{cancel_on_signal, CancellationToken},
    store::postgres::pool,
    telemetry, Config,
};

#[derive(Parser)]
#[command(
    name = "crowd",
    version,
    about = "CloudCrowd: parallel processing over Postgres, RabbitMQ and S3"
)]
struct Cli {
    /// A TOML configuration file (default: ./crowd.toml when present). Environment variables
    /// (`CROWD_*`, `DATABASE_URL`, `AMQP_URL`, `S3_*`, `AWS_*`) override it.
    #[arg(long, short, global = true, env = "CROWD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API. Example: `crowd api --port 9173`
    Api(Listen),
    /// Dispatch work units and move jobs on. Example: `crowd dispatcher --metrics-port 9464`
    Dispatcher {
        /// Serve /metrics, /healthz and /readyz on this port (on `metrics_host`).
        #[arg(long)]
        metrics_port: Option<u16>,
    },
    /// Run work units. Example: `crowd worker --max-workers 8 --actions word_count`
    Worker {
        /// Units run at once (and the prefetch).
        #[arg(long)]
        max_workers: Option<u16>,
        /// Comma-separated actions to consume (default: all).
        #[arg(long)]
        actions: Option<String>,
        /// A label shown beside this node in /status.
        #[arg(long)]
        tag: Option<String>,
        /// Serve /metrics, /healthz and /readyz on this port (on `metrics_host`).
        #[arg(long)]
        metrics_port: Option<u16>,
    },
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
    Bench(Box<cli::bench::BenchArgs>),
    /// List the actions this configuration sees (built in, and executables in `actions_path`
    /// and ./actions): name, stages, where defined. Example: `crowd actions`
    Actions,
    /// Run one stage of an action here and now, with no services, and print its output: for
    /// developing an action. Saved files go under --data-dir; a failure of the action exits 1.
    /// Example: `crowd run-action count_words notes.txt --stage split --options '{"lines_per_chunk": 10}'`
    RunAction(Box<cli::actions::RunActionArgs>),
    #[command(flatten)]
    Client(Box<cli::Command>),
}

#[derive(clap::Args)]
struct Listen {
    /// Port of the HTTP API.
    #[arg(long, short)]
    port: Option<u16>,
    /// Address to listen on (default: `host`, 127.0.0.1). Beyond this machine, the api needs
    /// a login (or `allow_anonymous = true`).
    #[arg(long)]
    host: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = match cli.command {
        // Client commands only talk HTTP to an api: the configuration gives them its address and
        // login, but no logs or signal handler (Ctrl-C must still stop `submit --wait` at once).
        Command::Client(command) => {
            let config = client_config(cli.config.as_deref());
            std::process::exit(cli::run(*command, &config).await)
        }
        Command::Bench(args) => {
            let config = client_config(cli.config.as_deref());
            std::process::exit(cli::run_bench(*args, config).await)
        }
        Command::Actions => {
            let config = client_config(cli.config.as_deref());
            std::process::exit(cli::run_list_actions(config))
        }
        Command::RunAction(args) => {
            let config = client_config(cli.config.as_deref());
            std::process::exit(cli::run_action(*args, config).await)
        }
        command => command,
    };
    let mut config = Config::load(cli.config.as_deref())?;
    telemetry::init(config.log_format);
    let shutdown = CancellationToken::new();
    // The worker's own drain takes up to `shutdown_grace_secs`; the rest gets a little more.
    let grace = std::time::Duration::from_secs(config.shutdown_grace_secs + 5);
    cancel_on_signal(shutdown.clone(), grace);
    match command {
        Command::Api(listen) => {
            let listener = bind(&listen, &mut config).await?;
            crowd::run_api(config, listener, shutdown).await
        }
        Command::Dispatcher { metrics_port } => {
            config.metrics_port = metrics_port.or(config.metrics_port);
            crowd::run_dispatcher(config, shutdown).await
        }
        Command::Worker {
            max_workers,
            actions,
            tag,
            metrics_port,
        } => {
            config.metrics_port = metrics_port.or(config.metrics_port);
            if let Some(n) = max_workers {
                config.max_workers = n;
            }
            if let Some(actions) = actions {
                config.actions = actions
                    .split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect();
            }
            if tag.is_some() {
                config.node_tag = tag;
            }
            crowd::run_worker(config, shutdown).await
        }
        Command::Up {
            port,
            host,
            data_dir,
        } => {
            crowd::private_dir::make_private(&data_dir)?;
            embedded_defaults(&mut config, &data_dir);
            one_machine::actions_defaults(&mut config, std::env::current_dir().ok());
            let host = host.unwrap_or_else(|| config.host.clone());
            one_machine::listening_defaults(&mut config, &host);
            let listen = Listen {
                port,
                host: Some(host),
            };
            let listener = bind(&listen, &mut config).await?;
            let addr = listener.local_addr()?;
            let choice = crowd::Choice::from_env();
            println!(
                "CloudCrowd is up: the API and the operations page are at http://{}:{} ({}; data in {})",
                if addr.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    addr.ip().to_string()
                },
                addr.port(),
                choice.describe(),
                data_dir.display()
            );
            crowd::run_up(config, data_dir, choice, listener, shutdown).await
        }
        Command::Serve(listen) => {
            let listener = bind(&listen, &mut config).await?;
            crowd::run_all(config, listener, shutdown).await
        }
        Command::Migrate => pool::migrate(&config.database_url)
            .await
            .context("migrating"),
        Command::Cleanup { days, data_dir } => {
            if let Err(e) = cleanup(&mut config, days, &data_dir).await {
                // As every client command reports a failure.
                eprintln!("error: {e:#}");
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Config => {
            println!("{}", serde_json::to_string_pretty(&config.redacted_json())?);
            Ok(())
        }
        Command::Client(_) | Command::Bench(_) | Command::Actions | Command::RunAction(_) => {
            unreachable!("client commands ran above")
        }
    }
}

/// The configuration a client command reads; exits 2 with why when it cannot be read, as the
/// commands' own errors do.
fn client_config(path: Option<&std::path::Path>) -> Config {
    Config::load(path).unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::exit(2)
    })
}

/// Deletes old complete jobs from the store the environment names, and their files from where
/// `crowd up` keeps them when its data directory is here.
async fn cleanup(config: &mut Config, days: u32, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let choice = crowd::Choice::from_env();
    anyhow::ensure!(
        choice.postgres || data_dir.join("crowd.db").is_file(),
        "no embedded store in {} (set DATABASE_URL for Postgres, or --data-dir)",
        data_dir.display()
    );
    if data_dir.is_dir() {
        embedded_defaults(config, data_dir);
    }
    let age = std::time::Duration::from_secs(u64::from(days) * 86_400);
    let removed = crowd::cleanup(config, data_dir, choice, age).await?;
    println!(
        "removed {} complete jobs older than {days} days, with their files, and the files of {} \
         jobs that no longer exist",
        removed.jobs, removed.orphaned
    );
    Ok(())
}

/// `crowd up`'s data under `data_dir`, and `file://` inputs under the user's home and here.
fn embedded_defaults(config: &mut Config, data_dir: &std::path::Path) {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    one_machine::data_defaults(config, data_dir, home, std::env::current_dir().ok());
}

/// Binds the api's address, if it may listen there (see `exposure`).
async fn bind(listen: &Listen, config: &mut Config) -> anyhow::Result<tokio::net::TcpListener> {
    if let Some(port) = listen.port {
        config.port = port;
    }
    if let Some(host) = &listen.host {
        config.host = host.clone();
    }
    if crowd::exposure::check(&config.host, config)? == crowd::exposure::Exposure::Anonymous {
        tracing::warn!(
            host = %config.host,
            "THE API IS OPEN TO ANYONE WHO CAN REACH {}: no login is set and allow_anonymous is on",
            config.host
        );
    }
    crowd::bind_api(&config.host, config.port).await
}
