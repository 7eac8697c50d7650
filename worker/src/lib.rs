//! The worker: consumes the queues of the actions it has, runs each unit's stage in a scratch
//! directory, stores files in the asset store and publishes a completion before it acks.

pub mod action;
pub mod actions;
pub mod consumer;
pub mod download;
pub mod env;
pub mod executable;
pub mod heartbeat;
pub mod local;
use crowd_shared::plain_name;
mod referenced;
pub mod registry;
mod reporting;
mod running;
mod scratch;
pub mod stage;
pub mod throttle;
mod unit;

pub use action::{Action, ActionError, StageContext};
pub use consumer::run;
pub use env::WorkerEnv;
pub use registry::Registry;
