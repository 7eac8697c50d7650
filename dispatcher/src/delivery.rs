//! One callback delivery: the signed POST, and what its answer means for the job. The
//! request carries the Standard Webhooks headers: `webhook-id` (the same on every retry of a
//! job's callback, so a receiver can drop repeats), `webhook-timestamp` (this try's, in Unix
//! seconds, so a receiver can refuse old replays) and, when `callback_secret` is set,
//! `webhook-signature` over `{id}.{timestamp}.{body}`.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crowd_shared::{
    jobs, metrics,
    outbound::{Outbound, Purpose},
    outbound_http::{self, CheckedResolver},
    shown::ShownUrl,
    store::DueCallback,
    webhook::{self, SigningKey},
    Config,
};

use crate::Dispatcher;

/// Longest wait between two tries of one callback.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// What an answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// 201: the receiver took the job; it is deleted.
    Taken,
    /// Any other 2xx.
    Delivered,
    /// Anything else: tried again later, until `callback_retry_secs` have passed.
    Failed(String),
}

impl Answered {
    pub fn of(status: reqwest::StatusCode) -> Answered {
        if status == reqwest::StatusCode::CREATED {
            Answered::Taken
        } else if status.is_success() {
            Answered::Delivered
        } else if status.is_redirection() {
            Answered::Failed(format!("answered {status} (redirects are not followed)"))
        } else {
            Answered::Failed(format!("answered {status}"))
        }
    }
}

/// What every delivery shares.
pub struct Delivery {
    http: reqwest::Client,
    outbound: Arc<Outbound>,
    key: Option<SigningKey>,
    timeout: Duration,
}

impl Delivery {
    pub fn new(config: &Config) -> anyhow::Result<Delivery> {
        let outbound = Arc::new(config.outbound(Purpose::Callbacks)?);
        let timeout = Duration::from_secs(config.callback_timeout_secs);
        // It reaches only what the outbound rule allows, follows no redirect (a receiver that
        // moved is told by its owner, not followed to an address no one checked), and gives
        // each request `timeout` in all, from connecting to the end of the reply's head.
        let http = reqwest::Client::builder()
            .dns_resolver(CheckedResolver::new(outbound.clone()))
            .redirect(reqwest::redirect::Policy::none())
            // Through a proxy, the proxy would connect where we checked nothing.
            .no_proxy()
            .timeout(timeout)
            .build()?;
        Ok(Delivery {
            http,
            outbound,
            key: config.callback_key()?,
            timeout,
        })
    }

    pub fn is_signed(&self) -> bool {
        self.key.is_some()
    }

    /// The longest one request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Delivers `due` and records what came of it.
    pub async fn deliver(&self, d: &Dispatcher, due: DueCallback) -> anyhow::Result<()> {
        let id = due.job_id;
        let Some(view) = d.store.job_view(id).await? else {
            return Ok(());
        };
        let shown = ShownUrl(&due.url).to_string();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("job", &serde_json::to_string(&view)?)
            .finish();
        let message_id = webhook::message_id(id.0, due.created_at_ms);
        let answered = match self.post(&due.url, &message_id, body).await {
            Ok(status) => Answered::of(status),
            Err(Failure::Refused(why)) => {
                // Refused now, refused on every retry: given up at once.
                tracing::warn!(job.id = id.0, url = %shown, error = %why, "callback refused");
                metrics::callback_delivery("refused");
                d.store
                    .callback_failed(id, &why, MAX_RETRY_DELAY, Duration::ZERO)
                    .await?;
                return Ok(());
            }
            Err(Failure::Other(why)) => Answered::Failed(why),
        };
        metrics::callback_delivery(match answered {
            Answered::Taken | Answered::Delivered => "delivered",
            Answered::Failed(_) => "failed",
        });
        match answered {
            Answered::Taken => {
                tracing::info!(job.id = id.0, "callback answered 201: deleting the job");
                jobs::delete_and_stop(d.store.as_ref(), d.assets.as_ref(), d.queue.as_ref(), id)
                    .await?;
            }
            Answered::Delivered => d.store.callback_delivered(id).await?,
            Answered::Failed(why) => {
                let retry_in = retry_delay(d.config.callback_backoff_ms, due.attempts);
                tracing::info!(job.id = id.0, url = %shown, attempts = due.attempts, error = %why,
                    ?retry_in, "callback failed");
                let give_up_after = Duration::from_secs(d.config.callback_retry_secs);
                d.store
                    .callback_failed(id, &why, retry_in, give_up_after)
                    .await?;
            }
        }
        Ok(())
    }

    /// POSTs the form `body`, signed, and returns the answer's status.
    async fn post(
        &self,
        url: &str,
        message_id: &str,
        body: String,
    ) -> Result<reqwest::StatusCode, Failure> {
        let parsed = url::Url::parse(url).map_err(|e| Failure::Other(e.to_string()))?;
        // An address in the URL is connected to without the resolver: checked here.
        self.outbound
            .check_url(&parsed)
            .map_err(|refused| Failure::Refused(refused.to_string()))?;
        let timestamp = unix_seconds();
        let mut request = self
            .http
            .post(parsed)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("webhook-id", message_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(key) = &self.key {
            request = request.header(
                "webhook-signature",
                key.sign(message_id, timestamp, body.as_bytes()),
            );
        }
        match request.body(body).send().await {
            Ok(reply) => Ok(reply.status()),
            Err(e) => Err(match outbound_http::refusal_in(&e) {
                Some(refused) => Failure::Refused(refused.to_string()),
                None => Failure::Other(outbound_http::describe(e)),
            }),
        }
    }
}

/// Why a POST got no answer.
enum Failure {
    /// The outbound rule refused its address.
    Refused(String),
    Other(String),
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
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

    #[test]
    fn only_2xx_delivers_and_a_redirect_is_a_failure() {
        use reqwest::StatusCode;
        assert_eq!(Answered::of(StatusCode::CREATED), Answered::Taken);
        assert_eq!(Answered::of(StatusCode::NO_CONTENT), Answered::Delivered);
        assert_eq!(
            Answered::of(StatusCode::FOUND),
            Answered::Failed("answered 302 Found (redirects are not followed)".into())
        );
        assert_eq!(
            Answered::of(StatusCode::INTERNAL_SERVER_ERROR),
            Answered::Failed("answered 500 Internal Server Error".into())
        );
    }
}
