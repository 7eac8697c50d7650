//! Callbacks: when a job completes, POST `job=<job JSON>` (a form, as CloudCrowd did) to its
//! `callback_url`. A `201` reply deletes the job; any other 2xx is delivered; anything else is
//! retried with exponential backoff for `callback_retry_secs`, then abandoned.

use std::{sync::Arc, time::Duration};

use crowd_shared::{jobs, shutdown::CancellationToken, store::DueCallback};

use crate::{Backoff, Dispatcher};

/// Callbacks claimed per round.
const BATCH: i64 = 16;

/// Longest wait between two tries of one callback.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

pub async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(d.config.callback_timeout_secs))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the callback HTTP client; callbacks are off");
            return;
        }
    };
    let mut backoff = Backoff::new();
    loop {
        let notified = d.wakeups.callbacks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next_due = match deliver_due(&d, &http).await {
            Ok(next) => {
                backoff.reset();
                next
            }
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "callback round failed");
                if !backoff.wait(&shutdown).await {
                    return;
                }
                continue;
            }
        };
        let sleep = next_due
            .unwrap_or(d.config.poll_interval())
            .min(d.config.poll_interval());
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut notified => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Delivers every due callback; returns how long until the next one is due.
async fn deliver_due(d: &Dispatcher, http: &reqwest::Client) -> anyhow::Result<Option<Duration>> {
    let lease = Duration::from_secs(d.config.callback_timeout_secs + 5);
    loop {
        let claimed = d.store.claim_callbacks(BATCH, lease).await?;
        let count = claimed.len();
        let deliveries = claimed.into_iter().map(|due| deliver(d, http, due));
        for result in futures_util::future::join_all(deliveries).await {
            if let Err(e) = result {
                tracing::warn!(error = format!("{e:#}"), "recording a callback failed");
            }
        }
        if (count as i64) < BATCH {
            break;
        }
    }
    Ok(d.store.next_callback_in().await?)
}

async fn deliver(d: &Dispatcher, http: &reqwest::Client, due: DueCallback) -> anyhow::Result<()> {
    let id = due.job_id;
    let Some(view) = d.store.job_view(id).await? else {
        return Ok(());
    };
    let body = serde_json::to_string(&view)?;
    let failure = match http.post(&due.url).form(&[("job", body)]).send().await {
        Ok(reply) if reply.status() == reqwest::StatusCode::CREATED => {
            tracing::info!(job.id = id, "callback answered 201: deleting the job");
            jobs::delete_and_stop(d.store.as_ref(), d.assets.as_ref(), d.queue.as_ref(), id)
                .await?;
            return Ok(());
        }
        Ok(reply) if reply.status().is_success() => {
            d.store.callback_delivered(id).await?;
            return Ok(());
        }
        Ok(reply) => format!("answered {}", reply.status()),
        Err(e) => e.to_string(),
    };
    let retry_in = retry_delay(d.config.callback_backoff_ms, due.attempts);
    tracing::info!(job.id = id, attempts = due.attempts, error = %failure, ?retry_in, "callback failed");
    let give_up_after = Duration::from_secs(d.config.callback_retry_secs);
    d.store
        .callback_failed(id, &failure, retry_in, give_up_after)
        .await?;
    Ok(())
}

fn retry_delay(base_ms: u64, attempts: i32) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 20) as u32;
    Duration::from_millis(base_ms.saturating_mul(1u64 << exp)).min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_a_cap() {
        assert_eq!(retry_delay(1000, 1), Duration::from_secs(1));
        assert_eq!(retry_delay(1000, 3), Duration::from_secs(4));
        assert_eq!(retry_delay(1000, 30), MAX_RETRY_DELAY);
    }
}
