//! A cap on the memory the bodies of `POST /jobs` take at once. `max_body_bytes` bounds one
//! body, not how many arrive together: a hundred clients posting 16 MiB each would have the api
//! hold 1.6 GB of bodies, and more again while it parses them. Each post reserves its declared
//! length before its body is read and keeps it until its job is stored; one that cannot get it
//! in time is turned away with a 503, so the api slows down instead of running out of memory.

use std::{sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

/// The budget, in bodies of the largest size allowed: four of them may be read at once, as many
/// smaller ones as fit beside them.
pub const BODIES_AT_ONCE: u64 = 4;

/// How long a post waits for its share before it is refused. Bodies being read hold theirs
/// for at most the body deadline (`job_body`), so a wait this long is spent behind clients
/// that are slow, not behind ones that are merely many.
pub const WAIT: Duration = Duration::from_secs(3);

/// Counted in KiB, so that any body's share fits the `u32` a semaphore acquires at once.
const UNIT_BYTES: u64 = 1024;

pub struct BodyBudget {
    units: Arc<Semaphore>,
    /// All the units there are, the most one reservation may ask.
    total_units: u32,
    /// The budget in bytes, for the message of a refusal.
    bytes: u64,
}

/// A share of the budget; given back when dropped.
pub type Reservation = OwnedSemaphorePermit;

impl BodyBudget {
    /// `BODIES_AT_ONCE` bodies of `max_body_bytes`.
    pub fn for_bodies_of(max_body_bytes: u64) -> Self {
        let bytes = max_body_bytes.saturating_mul(BODIES_AT_ONCE);
        // Capped at 4 TiB (u32 KiB), or what a semaphore can count; beyond that it is no cap.
        let most = u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX);
        let total_units = u32::try_from(bytes.div_ceil(UNIT_BYTES))
            .unwrap_or(u32::MAX)
            .min(most);
        BodyBudget {
            units: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            bytes,
        }
    }

    /// Waits up to `WAIT` for `bytes` of the budget.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation, ApiError> {
        self.reserve_within(bytes, WAIT).await
    }

    async fn reserve_within(&self, bytes: u64, wait: Duration) -> Result<Reservation, ApiError> {
        // Never more than the whole budget, or the wait could never end; a body within
        // max_body_bytes does not ask that much.
        let units = u32::try_from(bytes.div_ceil(UNIT_BYTES))
            .unwrap_or(u32::MAX)
            .min(self.total_units);
        match tokio::time::timeout(wait, self.units.clone().acquire_many_owned(units)).await {
            Ok(Ok(reservation)) => Ok(reservation),
            Ok(Err(closed)) => Err(ApiError::Internal(closed.into())),
            Err(_) => Err(ApiError::Busy {
                budget_bytes: self.bytes,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(20);

    #[tokio::test]
    async fn a_share_waits_for_others_to_be_given_back_and_then_gives_up() {
        let budget = BodyBudget::for_bodies_of(4096);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(budget.reserve_within(4096, SHORT).await.expect("four fit"));
        }
        // A byte more is refused after the wait, with a message naming the budget.
        let refused = budget
            .reserve_within(1, SHORT)
            .await
            .expect_err("the budget is spent");
        assert!(refused.to_string().contains("16384 bytes"), "{refused}");
        // A share given back goes to the one waiting.
        let (granted, ()) = tokio::join!(
            budget.reserve_within(4096, Duration::from_secs(10)),
            async {
                tokio::task::yield_now().await;
                held.pop();
            }
        );
        let _granted = granted.expect("the share given back is taken");
    }

    #[tokio::test]
    async fn a_budget_too_big_to_count_is_capped_and_still_grants() {
        let budget = BodyBudget::for_bodies_of(u64::MAX);
        assert!(budget.total_units > 0);
        let _all = budget
            .reserve_within(u64::MAX, SHORT)
            .await
            .expect("all of it, not more than there is");
    }
}
