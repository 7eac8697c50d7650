//! The backends a process runs on: where jobs live (store), how units travel (queue), where
//! files go (asset store). Distributed: Postgres, RabbitMQ, S3 or a shared directory.
//! Embedded: SQLite in a file, in-process queues, a directory. `crowd up` mixes them as the
//! environment says.

use std::{path::Path, sync::Arc};

use crowd_shared::{
    queue::{AmqpQueue, MemoryQueue, Queue},
    storage::{self, AssetStore},
    store::{postgres::pool, PgStore, SqliteStore, Store},
    Config,
};

#[derive(Clone)]
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub assets: Arc<dyn AssetStore>,
}

impl Backends {
    /// Postgres (migrated first), RabbitMQ and the configured asset store.
    pub async fn distributed(config: &Config) -> anyhow::Result<Self> {
        Ok(Backends {
            store: postgres(config).await?,
            queue: Arc::new(AmqpQueue::from_config(config)),
            assets: storage::from_config(config).await?,
        })
    }

    /// What `crowd up` runs on: each distributed backend the environment names (Postgres for
    /// `DATABASE_URL`, RabbitMQ for `AMQP_URL`), the embedded one otherwise: SQLite in
    /// `data_dir`, in-process queues. The asset store is the configured one.
    pub async fn up(config: &Config, data_dir: &Path, choice: Choice) -> anyhow::Result<Self> {
        let store: Arc<dyn Store> = if choice.postgres {
            postgres(config).await?
        } else {
            let store = sqlite(config, data_dir)?;
            if !choice.rabbitmq {
                // In-process queues died with the last run: what they held goes back to the
                // outbox. (Postgres with in-process queues relies on the sweeper instead.)
                let requeued = store.forget_queue().await?;
                if requeued > 0 {
                    tracing::info!(
                        units = requeued,
                        "units in flight when the last run stopped are queued again"
                    );
                }
            }
            Arc::new(store)
        };
        let queue: Arc<dyn Queue> = if choice.rabbitmq {
            Arc::new(AmqpQueue::from_config(config))
        } else {
            crowd_dispatcher::job_progress::advance_every_incomplete_job(store.as_ref()).await?;
            Arc::new(MemoryQueue::new())
        };
        Ok(Backends {
            store,
            queue,
            assets: storage::from_config(config).await?,
        })
    }
}

/// The store `choice` names: Postgres (migrated first), or SQLite in `data_dir`.
pub async fn open_store(
    config: &Config,
    data_dir: &Path,
    choice: Choice,
) -> anyhow::Result<Arc<dyn Store>> {
    Ok(if choice.postgres {
        postgres(config).await?
    } else {
        Arc::new(sqlite(config, data_dir)?)
    })
}

async fn postgres(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    pool::migrate(&config.database_url).await?;
    Ok(Arc::new(
        PgStore::new(&config.database_url, config.db_pool_size)?
            .listing_at_most(config.max_listed_outputs),
    ))
}

fn sqlite(config: &Config, data_dir: &Path) -> anyhow::Result<SqliteStore> {
    Ok(SqliteStore::open(&data_dir.join("crowd.db"))?.listing_at_most(config.max_listed_outputs))
}

/// Which distributed backends to use instead of the embedded ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Choice {
    pub postgres: bool,
    pub rabbitmq: bool,
}

impl Choice {
    /// Postgres when `DATABASE_URL` (or `CROWD_DATABASE_URL`) is set, RabbitMQ when `AMQP_URL`
    /// (or `CROWD_AMQP_URL`) is.
    pub fn from_env() -> Self {
        let set = |names: &[&str]| names.iter().any(|n| std::env::var_os(n).is_some());
        Choice {
            postgres: set(&["DATABASE_URL", "CROWD_DATABASE_URL"]),
            rabbitmq: set(&["AMQP_URL", "CROWD_AMQP_URL"]),
        }
    }

    pub fn describe(self) -> &'static str {
        match (self.postgres, self.rabbitmq) {
            (false, false) => "embedded: SQLite and in-process queues",
            (true, false) => "Postgres and in-process queues",
            (false, true) => "SQLite and RabbitMQ",
            (true, true) => "Postgres and RabbitMQ",
        }
    }
}
