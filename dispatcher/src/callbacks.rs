//! Callbacks: when a job completes, POST `job=<job JSON>` (a form, as CloudCrowd did) to its
//! `callback_url`. A `201` reply deletes the job; any other 2xx is delivered; anything else is
//! retried with exponential backoff for `callback_retry_secs`, then abandoned.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use crowd_shared::{jobs, shutdown::CancellationToken, store::Store};

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
    loop {
        let claimed = claim(d).await?;
        let count = claimed.len();
        let deliveries = claimed
            .into_iter()
            .map(|(id, url, attempts)| deliver(d, http, id, url, attempts));
        for result in futures_util::future::join_all(deliveries).await {
            if let Err(e) = result {
                tracing::warn!(error = format!("{e:#}"), "recording a callback failed");
            }
        }
        if (count as i64) < BATCH {
            break;
        }
    }
    let client = d.pool.get().await?;
    let row = client
        .query_one(
            "SELECT EXTRACT(EPOCH FROM min(callback_due_at) - now())::float8 FROM jobs WHERE callback_state = 'pending'",
            &[],
        )
        .await?;
    Ok(row
        .get::<_, Option<f64>>(0)
        .map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}

/// Takes a lease on due callbacks by pushing their due time past the request timeout, so
/// another dispatcher leaves them alone, and a crash mid-request only delays them.
async fn claim(d: &Dispatcher) -> anyhow::Result<Vec<(i64, String, i32)>> {
    let lease_secs = (d.config.callback_timeout_secs + 5) as f64;
    let client = d.pool.get().await?;
    let rows = client
        .query(
            "UPDATE jobs SET callback_due_at = now() + make_interval(secs => $2),
                             callback_attempts = callback_attempts + 1
             WHERE id IN (SELECT id FROM jobs
                          WHERE callback_state = 'pending' AND callback_due_at <= now()
                          ORDER BY callback_due_at LIMIT $1
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, callback_url, callback_attempts",
            &[&BATCH, &lease_secs],
        )
        .await
        .context("claiming due callbacks")?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

async fn deliver(
    d: &Dispatcher,
    http: &reqwest::Client,
    id: i64,
    url: String,
    attempts: i32,
) -> anyhow::Result<()> {
    // No pooled connection is held across the POST: a slow receiver must not starve the relay
    // and the completions of connections.
    let view = d.store.job_view(id).await?;
    let Some(view) = view else { return Ok(()) };
    let body = serde_json::to_string(&view)?;
    let result = http.post(&url).form(&[("job", body)]).send().await;
    let client = d.pool.get().await?;
    match result {
        Ok(reply) if reply.status() == reqwest::StatusCode::CREATED => {
            tracing::info!(job.id = id, "callback answered 201: deleting the job");
            jobs::delete_with_files(&d.store, d.assets.as_ref(), id).await?;
        }
        Ok(reply) if reply.status().is_success() => {
            client
                .execute("UPDATE jobs SET callback_state = 'delivered', callback_error = NULL WHERE id = $1", &[&id])
                .await?;
        }
        Ok(reply) => {
            retry_later(
                d,
                &client,
                id,
                attempts,
                &format!("answered {}", reply.status()),
            )
            .await?
        }
        Err(e) => retry_later(d, &client, id, attempts, &e.to_string()).await?,
    }
    Ok(())
}

async fn retry_later(
    d: &Dispatcher,
    client: &impl deadpool_postgres::GenericClient,
    id: i64,
    attempts: i32,
    error: &str,
) -> anyhow::Result<()> {
    let delay = retry_delay(d.config.callback_backoff_ms, attempts);
    tracing::info!(job.id = id, attempts, error, retry_in = ?delay, "callback failed");
    // Given up once the job has been complete for longer than the retry window.
    client
        .execute(
            "UPDATE jobs SET callback_error = $2,
                    callback_state = CASE WHEN now() + make_interval(secs => $3) > updated_at + make_interval(secs => $4)
                                          THEN 'abandoned' ELSE 'pending' END,
                    callback_due_at = now() + make_interval(secs => $3)
             WHERE id = $1",
            &[&id, &error, &delay.as_secs_f64(), &(d.config.callback_retry_secs as f64)],
        )
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
