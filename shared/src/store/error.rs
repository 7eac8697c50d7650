//! Why a store call failed, told apart by what callers do about it.

use super::{postgres, sqlite};

/// Why a store call failed; callers answer differently (503 or 500).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; trying later may work.
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The database refused the data itself (bad encoding, out of range): trying the same
    /// again will fail the same way.
    #[error("the store refused the data: {0:#}")]
    Refused(#[source] anyhow::Error),
    #[error(transparent)]
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StoreError {
    /// Every error a store passes on with `?` is told apart by its cause, whichever backend
    /// raised it: a database that went away mid-transaction is `Unavailable` (a 503 and a
    /// retry), not an internal error.
    fn from(e: anyhow::Error) -> Self {
        if e.chain().any(|cause| cause.is::<rusqlite::Error>()) {
            sqlite::classify(e)
        } else {
            postgres::classify(e)
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
