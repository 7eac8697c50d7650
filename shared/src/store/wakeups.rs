//! What wakes the dispatcher's loops.

use tokio::sync::Notify;

/// What the dispatcher's loops wait on between rounds.
#[derive(Default)]
pub struct Wakeups {
    /// New pending units may be in the outbox.
    pub work: Notify,
    /// A callback may be due.
    pub callbacks: Notify,
}

impl Wakeups {
    pub fn wake_all(&self) {
        self.work.notify_one();
        self.callbacks.notify_one();
    }
}
