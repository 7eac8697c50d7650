//! `Idempotency-Key` on `POST /jobs`: a client that is not sure its post arrived (the
//! connection dropped, the api answered 502) posts again with the same key and gets the job
//! its first post made, never a second one.
//!
//! The key is parsed at the edge (`key`), the job is reduced to a fingerprint of what it asks
//! for (`fingerprint`), and what a post with a key does is decided from the key's stored row
//! by one pure function (`decide`). Each store runs that decision in the transaction that
//! writes the job, under a unique constraint on the key, so two posts racing with one key make
//! one job.

mod decide;
mod fingerprint;
mod key;

use std::time::Duration;

use crate::ids::JobId;

pub use decide::{decide, Decision, KeyRecord};
pub use fingerprint::Fingerprint;
pub use key::{IdempotencyKey, KeyError, MAX_KEY_BYTES};

/// Expired keys a post deletes at most, beside its own: every post with a key removes more
/// expired rows than it adds, so the table holds about a retention's worth of keys with no
/// periodic job, and no one post pays for a long backlog.
pub const SWEEP_LIMIT: i64 = 100;

/// A post's key, with what the store needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedPost {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    /// How long a key is remembered (`idempotency_key_secs`).
    pub retention: Duration,
}

/// What a post with a key came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedOutcome {
    /// The key was new (or expired): this job was created, and the key now names it.
    Created(JobId),
    /// The key named this job, posted with the same job: nothing was written.
    Replayed(JobId),
    /// The key named a job that differs from this post's: nothing was written.
    Conflict,
}
