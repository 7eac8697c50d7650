//! Postgres: the pool every service uses, creating the database when it is missing, and the
//! migrations in `schema/`.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

mod embedded {
    refinery::embed_migrations!("../schema/postgres");
}

/// Any number will do as long as every crowd process uses the same one: it serialises
/// migrations when the api and the dispatcher start at the same moment.
const MIGRATION_LOCK: i64 = 0x63_726f_7764; // "crowd" in ASCII

/// Longest wait for a new connection: an unreachable server is an answer (503, a retry)
/// within seconds, not a hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a free pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(5);
/// Longest any one statement runs: a lock or a query stuck behind a failing disk is cut off,
/// so no pooled connection is held forever.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings of `database_url`, with the timeouts every service's connections get, and the
/// TLS it asks for (`crate::tls`: none, or verified).
pub fn connection_config(
    database_url: &str,
) -> anyhow::Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let tls = crate::tls::postgres(database_url)?;
    let mut pg = tokio_postgres::Config::from_str(&tls.url).context("parsing DATABASE_URL")?;
    pg.connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    let options = format!(
        "{} -c statement_timeout={}",
        pg.get_options().unwrap_or_default(),
        STATEMENT_TIMEOUT.as_millis()
    );
    pg.options(options.trim_start());
    let connector = MakeRustlsConnect::new(crate::tls::client_config(tls.root_cert.as_deref())?);
    Ok((pg, connector))
}

pub fn pool(database_url: &str, size: usize) -> anyhow::Result<Pool> {
    let (pg, tls) = connection_config(database_url)?;
    let manager = Manager::from_config(
        pg,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(2))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .context("building the Postgres pool")
}

/// Creates the configured database if the server does not have it yet, so a first start needs
/// no manual `createdb`.
pub async fn ensure_database(database_url: &str) -> anyhow::Result<()> {
    let (config, tls) = connection_config(database_url)?;
    if connect(&config, &tls).await.is_ok() {
        return Ok(());
    }
    let name = config
        .get_dbname()
        .context("DATABASE_URL names no database")?
        .to_string();
    let mut admin = config.clone();
    admin.dbname("postgres");
    let client = connect(&admin, &tls)
        .await
        .context("connecting to the `postgres` database")?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match client
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await
    {
        Ok(()) => {
            tracing::info!(database = %name, "created database");
            Ok(())
        }
        // Another process created it first.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating database {name}")),
    }
}

/// Applies the migrations in `schema/` that this database lacks.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    ensure_database(database_url).await?;
    let (config, tls) = connection_config(database_url)?;
    let mut client = connect(&config, &tls).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("taking the migration lock")?;
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .context("applying migrations");
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .ok();
    for m in report?.applied_migrations() {
        tracing::info!(migration = %m, "applied migration");
    }
    Ok(())
}

async fn connect(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(tls.clone())
        .await
        .context("connecting to Postgres")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "migration connection closed");
        }
    });
    Ok(client)
}
