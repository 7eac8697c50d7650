//! Optional HTTP basic auth over every route (CloudCrowd's `http_authentication`).

use std::sync::Arc;

use base64::Engine;
use warp::{Filter, Rejection};

use crate::ApiError;

/// Passes every request when no credentials are configured.
pub fn require(
    credentials: Option<(String, String)>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let credentials = Arc::new(credentials);
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let credentials = credentials.clone();
            async move {
                match credentials.as_ref() {
                    None => Ok(()),
                    Some((login, password)) if matches(header.as_deref(), login, password) => {
                        Ok(())
                    }
                    Some(_) => Err(warp::reject::custom(ApiError::Unauthorized)),
                }
            }
        })
        .untuple_one()
}

fn matches(header: Option<&str>, login: &str, password: &str) -> bool {
    let Some(encoded) = header.and_then(|h| h.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    constant_time_eq(&decoded, format!("{login}:{password}").as_bytes())
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
        assert!(!matches(None, "crowd", "secret"));
    }
}
