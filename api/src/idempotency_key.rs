//! The `Idempotency-Key` header of `POST /jobs`, read before the body: a key that cannot be
//! taken is refused (400, saying why) without reading a byte of the job.

use crowd_shared::idempotency::IdempotencyKey;
use warp::{http::HeaderMap, Filter, Rejection};

use crate::ApiError;

pub const HEADER: &str = "idempotency-key";

/// The post's key, if it sent one.
pub fn optional() -> impl Filter<Extract = (Option<IdempotencyKey>,), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and_then(|headers: HeaderMap| async move { read(&headers).map_err(warp::reject::custom) })
}

fn read(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    // Two keys could name two different jobs: which one the client meant is not ours to guess.
    if values.next().is_some() {
        return Err(ApiError::BadIdempotencyKey(
            "send one Idempotency-Key header, not several".into(),
        ));
    }
    IdempotencyKey::parse(first.as_bytes())
        .map(Some)
        .map_err(|e| ApiError::BadIdempotencyKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use warp::http::HeaderValue;

    use super::*;

    #[test]
    fn one_header_is_the_key_and_two_are_refused() {
        let mut headers = HeaderMap::new();
        assert!(matches!(read(&headers), Ok(None)));
        headers.insert(HEADER, HeaderValue::from_static("abc-123"));
        assert_eq!(
            read(&headers).ok().flatten().map(|k| k.to_string()),
            Some("abc-123".to_string())
        );
        headers.append(HEADER, HeaderValue::from_static("def-456"));
        let err = read(&headers).expect_err("two keys");
        assert!(err.to_string().contains("not several"), "{err}");
    }

    #[test]
    fn bytes_beyond_ascii_are_refused() {
        let mut headers = HeaderMap::new();
        let latin1 = HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is a valid value");
        headers.insert(HEADER, latin1);
        let err = read(&headers).expect_err("not ASCII");
        assert!(err.to_string().contains("printable ASCII"), "{err}");
    }
}
