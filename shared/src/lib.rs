//! What the api, the dispatcher and the worker all need: the domain types and the job
//! state machine, configuration, the wire messages, the stores and queues with their adapters, the asset stores, tracing and shutdown.

pub mod catalog;
pub mod config;
pub mod health;
pub mod idempotency;
pub mod ids;
pub mod job_view;
pub mod jobs;
pub mod lane;
pub mod messages;
pub mod metrics;
pub mod outbound;
pub mod outbound_http;
pub mod plain_name;
pub mod queue;
pub mod recent;
pub mod retry;
pub mod shown;
pub mod shutdown;
pub mod state_machine;
pub mod status;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod webhook;

pub use config::{Config, Secret};
pub use ids::{JobId, UnitId};

/// Names of the Postgres notification channels.
pub mod channels {
    /// New pending units: the outbox has work.
    pub const WORK: &str = "crowd_work";
    /// A callback became due.
    pub const CALLBACKS: &str = "crowd_callbacks";
}
