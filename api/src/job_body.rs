//! Receiving the body of `POST /jobs`: its length checked against `max_body_bytes` before a
//! byte is read (a chunked body, whose length is not declared, is cut off at it), its memory
//! reserved from the budget (`body_budget`), and a deadline for it to arrive. hyper times out a request's head but not its body, so without the deadline a
//! client that declares a length and sends less holds its connection, and its share of the
//! budget, forever.

use std::{sync::Arc, time::Duration};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::{Filter, Rejection};

use crate::{body_budget::Reservation, ApiError, ApiState};

/// Every body gets this long to arrive...
pub const BODY_TIME: Duration = Duration::from_secs(5);
/// ... and this much more per MiB it declares, so an upload slower than 1 MiB/s is cut off:
/// 21 s for the largest body of the default `max_body_bytes` (16 MiB).
pub const BODY_TIME_PER_MIB: Duration = Duration::from_secs(1);

const MIB: f64 = 1024.0 * 1024.0;

/// A job's body, with the share of the memory budget it holds until dropped.
pub struct JobBody {
    pub bytes: Bytes,
    _reservation: Reservation,
}

/// The body of the request, read as `receive` says.
pub fn receive(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (JobBody,), Error = Rejection> + Clone {
    declared_length()
        .and(warp::body::stream())
        .and_then(move |length: Option<u64>, body| {
            let state = state.clone();
            async move {
                read(length, body, &state)
                    .await
                    .map_err(warp::reject::custom)
            }
        })
}

/// The body's length as its head declares it: its `Content-Length`, or 0 when it has neither
/// that nor a `Transfer-Encoding` (a request without a body, RFC 9112 6.3); `None` for a
/// chunked body, whose length is not known until it has all come.
pub fn declared_length() -> impl Filter<Extract = (Option<u64>,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("transfer-encoding"))
        .map(|length: Option<u64>, coding: Option<String>| {
            length.or_else(|| coding.is_none().then_some(0))
        })
}

/// The time a body of `length` bytes gets to arrive.
pub fn time_allowed(length: u64) -> Duration {
    BODY_TIME + BODY_TIME_PER_MIB.mul_f64(length as f64 / MIB)
}

async fn read<S, B>(length: Option<u64>, body: S, state: &ApiState) -> Result<JobBody, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let too_large = || ApiError::TooLarge {
        max_body_bytes: state.max_body_bytes,
    };
    if length.is_some_and(|n| n > state.max_body_bytes) {
        return Err(too_large());
    }
    // A chunked body may be as long as the largest one allowed: that much is reserved.
    let limit = length.unwrap_or(state.max_body_bytes);
    let reservation = state.body_budget.reserve(limit).await?;
    let allowed = time_allowed(limit);
    let bytes = tokio::time::timeout(allowed, collect(body, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout { allowed })??;
    let bytes = match (bytes, length) {
        (Some(bytes), _) => bytes,
        // hyper ends a body at its Content-Length; this only keeps the budget honest if not.
        (None, Some(_)) => {
            return Err(ApiError::UnreadableBody(
                "the body is longer than its Content-Length".into(),
            ))
        }
        (None, None) => return Err(too_large()),
    };
    Ok(JobBody {
        bytes,
        _reservation: reservation,
    })
}

/// The body's chunks in one buffer; `None` as soon as they pass `limit` bytes.
pub async fn collect<S, B>(body: S, limit: u64) -> Result<Option<Bytes>, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut bytes = BytesMut::new();
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::UnreadableBody(e.to_string()))?;
        if (bytes.len() + chunk.remaining()) as u64 > limit {
            return Ok(None);
        }
        bytes.put(chunk);
    }
    Ok(Some(bytes.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_gets_five_seconds_and_one_more_per_mib() {
        assert_eq!(time_allowed(0), Duration::from_secs(5));
        assert_eq!(time_allowed(16 * 1024 * 1024), Duration::from_secs(21));
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_its_limit_and_no_further() {
        let chunks = futures_util::stream::iter([
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"c")),
        ]);
        assert_eq!(
            collect(chunks, 2).await.expect("read"),
            None,
            "one byte too many"
        );
        let chunks = futures_util::stream::iter([Ok(Bytes::from_static(b"ab"))]);
        let body = collect(chunks, 2).await.expect("read");
        assert_eq!(body.as_deref(), Some(&b"ab"[..]));
    }
}
