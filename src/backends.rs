//! The backends a process runs on: where jobs live (store), how units travel (queue), where
//! files go (asset store). Distributed: Postgres, RabbitMQ, S3 or a shared directory.
//! Embedded: SQLite in a file, in-process queues, a directory.

use std::{path::Path, sync::Arc};

use crowd_shared::{
    db,
    queue::{AmqpQueue, MemoryQueue, Queue},
    storage::{self, AssetStore},
    store::{PgStore, SqliteStore, Store},
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
        db::migrate(&config.database_url).await?;
        Ok(Backends {
            store: Arc::new(PgStore::new(&config.database_url, config.db_pool_size)?),
            queue: Arc::new(AmqpQueue::new(&config.amqp_url, &config.queue_prefix)),
            assets: storage::from_config(config).await?,
        })
    }

    /// SQLite in `data_dir`, in-process queues, and the configured asset store. Units the
    /// last run had queued are put back in the outbox: its queues died with it.
    pub async fn embedded(config: &Config, data_dir: &Path) -> anyhow::Result<Self> {
        let store = SqliteStore::open(&data_dir.join("crowd.db"))?;
        let requeued = store.forget_queue().await?;
        if requeued > 0 {
            tracing::info!(
                units = requeued,
                "units in flight when the last run stopped are queued again"
            );
        }
        Ok(Backends {
            store: Arc::new(store),
            queue: Arc::new(MemoryQueue::new()),
            assets: storage::from_config(config).await?,
        })
    }
}
