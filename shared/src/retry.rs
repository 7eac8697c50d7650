//! Retrying what failed for a reason that passes: a lost connection, a restarting server.

use crate::shutdown::CancellationToken;

/// Runs `session` until it ends cleanly or `shutdown`, starting it again (after a growing
/// pause) whenever it fails: a lost broker or database connection is retried, never fatal.
pub async fn keep_running<F, Fut>(what: &str, shutdown: &CancellationToken, mut session: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut backoff = Backoff::new();
    while !shutdown.is_cancelled() {
        let started = tokio::time::Instant::now();
        match session().await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = format!("{e:#}"), "{what} failed; starting again"),
        }
        // A session that lasted was connected: the next failure starts the pauses afresh.
        if started.elapsed() > Backoff::MAX {
            backoff.reset();
        }
        if !backoff.wait(shutdown).await {
            return;
        }
    }
}

/// Runs `connect` until it succeeds, pausing more each time it fails: a service that starts
/// while its database or asset store is away waits for them instead of exiting. `None` if
/// `shutdown` comes first.
pub async fn until_ready<T, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    mut connect: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut backoff = Backoff::new();
    loop {
        match connect().await {
            Ok(ready) => return Some(ready),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "{what} failed; trying again"),
        }
        if !backoff.wait(shutdown).await {
            return None;
        }
    }
}

/// Exponential backoff for reconnect loops.
pub struct Backoff(std::time::Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    pub const MAX: std::time::Duration = std::time::Duration::from_secs(10);

    pub fn new() -> Self {
        Backoff(std::time::Duration::from_millis(100))
    }

    pub fn reset(&mut self) {
        *self = Backoff::new();
    }

    /// Waits, unless shutdown comes first; `false` then.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}
