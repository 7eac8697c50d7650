//! When `crowd submit` posts its job again. The post carries an `Idempotency-Key`, so trying
//! again after a failure that may have come after the api stored the job (a connection reset
//! on the way back, a proxy's 502, a timeout) cannot make a second job; a refusal (4xx) is
//! final. The backoff rides out an api restarting (a few seconds) without hammering it.

use std::time::Duration;

use super::client::ClientError;

/// Tries of one post at most, the first included: about 16 s of waiting in all.
pub const MAX_TRIES: u32 = 8;
const FIRST_WAIT: Duration = Duration::from_millis(250);
const LONGEST_WAIT: Duration = Duration::from_secs(4);

/// How long to wait after the `tries`-th try (from 1) failed with `error` before the next,
/// or `None` to give up and report it.
pub fn wait_before_retry(tries: u32, error: &ClientError) -> Option<Duration> {
    let transient = match error {
        ClientError::Unreachable { .. } | ClientError::Unavailable(_) => true,
        ClientError::NotFound(_)
        | ClientError::Unauthorized(_)
        | ClientError::Refused(_)
        | ClientError::Undecodable(_) => false,
    };
    if !transient || tries >= MAX_TRIES {
        return None;
    }
    let doubled = FIRST_WAIT.saturating_mul(1 << tries.saturating_sub(1).min(16));
    Some(doubled.min(LONGEST_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable() -> ClientError {
        ClientError::Unreachable {
            api: "http://127.0.0.1:9173/".into(),
            cause: "connection reset by peer".into(),
        }
    }

    #[test]
    fn a_lost_connection_or_a_gateway_error_is_tried_again_with_growing_waits() {
        let waits: Vec<_> = (1..MAX_TRIES)
            .map(|tries| wait_before_retry(tries, &unreachable()).expect("a retry"))
            .collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [250, 500, 1000, 2000, 4000, 4000, 4000]);
        let busy = ClientError::Unavailable("the api answered 503".into());
        assert_eq!(wait_before_retry(1, &busy), Some(FIRST_WAIT));
    }

    #[test]
    fn the_tries_are_bounded() {
        assert_eq!(wait_before_retry(MAX_TRIES, &unreachable()), None);
        assert_eq!(wait_before_retry(u32::MAX, &unreachable()), None);
    }

    #[test]
    fn a_refusal_is_final() {
        let refused = ClientError::Refused("no action named \"x\"".into());
        assert_eq!(wait_before_retry(1, &refused), None);
        assert_eq!(
            wait_before_retry(1, &ClientError::NotFound("x".into())),
            None
        );
    }
}
