//! Optional HTTP basic auth over every route (CloudCrowd's `http_authentication`).

use std::sync::Arc;

use base64::Engine;
use warp::{Filter, Rejection};

use crate::{short::Short, ApiError};

/// Passes every request when no credentials are configured.
pub fn require(
    credentials: Option<(String, String)>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let credentials = Arc::new(credentials);
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let credentials = credentials.clone();
            async move {
                let Some((login, password)) = credentials.as_ref() else {
                    return Ok(());
                };
                match given(header.as_deref()) {
                    Some(given)
                        if constant_time_eq(&given, format!("{login}:{password}").as_bytes()) =>
                    {
                        Ok(())
                    }
                    given => {
                        if let Some(given) = given {
                            // The connection's span names the client's address; the password
                            // it tried is never written down.
                            let tried = String::from_utf8_lossy(&given);
                            let login = tried.split(':').next().unwrap_or_default();
                            tracing::warn!(login = %Short(login), "wrong credentials");
                        }
                        Err(warp::reject::custom(ApiError::Unauthorized))
                    }
                }
            }
        })
        .untuple_one()
}

/// The `login:password` a basic `Authorization` header carries. The scheme name is matched in
/// any case, as RFC 9110 says it must be.
fn given(header: Option<&str>) -> Option<Vec<u8>> {
    let (scheme, encoded) = header?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
}

#[cfg(test)]
fn matches(header: Option<&str>, login: &str, password: &str) -> bool {
    given(header)
        .is_some_and(|given| constant_time_eq(&given, format!("{login}:{password}").as_bytes()))
}

/// Compares without stopping at the first difference, so timing does not reveal the password.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_pair_passes() {
        // "crowd:secret"
        assert!(matches(Some("Basic Y3Jvd2Q6c2VjcmV0"), "crowd", "secret"));
        assert!(!matches(Some("Basic Y3Jvd2Q6c2VjcmV0"), "crowd", "other"));
        assert!(!matches(Some("Bearer x"), "crowd", "secret"));
        assert!(matches(Some("basic Y3Jvd2Q6c2VjcmV0"), "crowd", "secret"));
        assert!(matches(Some("BASIC  Y3Jvd2Q6c2VjcmV0"), "crowd", "secret"));
        assert!(!matches(None, "crowd", "secret"));
    }
}
