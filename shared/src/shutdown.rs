//! Shutdown is a value: every long-running part takes a `CancellationToken`, so tests start
//! and stop whole services in-process and `main` cancels the same token on a signal.

pub use tokio_util::sync::CancellationToken;

/// Cancels `token` on SIGINT or SIGTERM, so every part stops taking work and finishes (or
/// hands back) what it holds. A second signal, or `grace` running out, ends the process at
/// once: what it still holds goes back to the queue when its connections drop.
pub fn cancel_on_signal(token: CancellationToken, grace: std::time::Duration) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            "shutdown signal received; finishing what is in flight (signal again to stop at once)"
        );
        token.cancel();
        tokio::select! {
            _ = wait_for_signal() => tracing::warn!("second signal: stopping now"),
            _ = tokio::time::sleep(grace) => tracing::warn!(?grace, "still stopping after the grace period: stopping now"),
        }
        std::process::exit(1);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
