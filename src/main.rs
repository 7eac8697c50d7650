//! `crowd`: one binary for every part of CloudCrowd. The command line is `cli::args`; what
//! each part does is the library's (`crowd::run_*`, `crowd::one_machine`, `crowd::WorkerFlags`).

mod cli;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use cli::args::{Cli, Command, Listen};
use crowd::shared::{
    shutdown::{cancel_on_signal, CancellationToken},
    store::postgres::pool,
    telemetry, Config,
};

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
        Command::Api(Listen { port, host }) => {
            let listener = crowd::bind_checked(&mut config, port, host).await?;
            crowd::run_api(config, listener, shutdown).await
        }
        Command::Dispatcher { metrics_port } => {
            config.metrics_port = metrics_port.or(config.metrics_port);
            crowd::run_dispatcher(config, shutdown).await
        }
        Command::Worker(flags) => {
            flags.apply(&mut config);
            crowd::run_worker(config, shutdown).await
        }
        Command::Up {
            port,
            host,
            data_dir,
        } => {
            crowd::private_dir::make_private(&data_dir)?;
            let host = crowd::one_machine::prepare_up(&mut config, &data_dir, host, home(), cwd());
            let listener = crowd::bind_checked(&mut config, port, Some(host)).await?;
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
        Command::Serve(Listen { port, host }) => {
            let listener = crowd::bind_checked(&mut config, port, host).await?;
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
fn client_config(path: Option<&Path>) -> Config {
    Config::load(path).unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::exit(2)
    })
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn cwd() -> Option<PathBuf> {
    std::env::current_dir().ok()
}

/// Deletes old complete jobs from the store the environment names, and their files from where
/// `crowd up` keeps them when its data directory is here.
async fn cleanup(config: &mut Config, days: u32, data_dir: &Path) -> anyhow::Result<()> {
    let choice = crowd::Choice::from_env();
    anyhow::ensure!(
        choice.postgres || data_dir.join("crowd.db").is_file(),
        "no embedded store in {} (set DATABASE_URL for Postgres, or --data-dir)",
        data_dir.display()
    );
    if data_dir.is_dir() {
        crowd::one_machine::data_defaults(config, data_dir, home(), cwd());
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
