//! Refuses requests addressed to a host name the api does not answer to. A page can point its
//! own DNS name at 127.0.0.1 ("DNS rebinding") and then be same-origin with an api on the
//! user's machine; its requests still name the page's host, so checking `Host` stops them.

use std::sync::Arc;

use warp::{Filter, Rejection};

use crate::ApiError;

/// `allowed`: host names without ports, lower case; empty lets every host through.
pub fn require(allowed: Arc<Vec<String>>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("host")
        .and_then(move |host: Option<String>| {
            let allowed = allowed.clone();
            async move {
                if allowed.is_empty() || host.as_deref().is_some_and(|h| is_allowed(h, &allowed)) {
                    Ok(())
                } else {
                    Err(warp::reject::custom(ApiError::ForeignHost(
                        host.unwrap_or_default(),
                    )))
                }
            }
        })
        .untuple_one()
}

fn is_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.rsplit_once(':') {
        // Not the colons of a bracketed IPv6 address.
        Some((name, port)) if !port.contains(']') => name,
        _ => host,
    };
    allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::is_allowed;

    #[test]
    fn names_match_whatever_the_port() {
        let allowed = ["localhost".to_string(), "127.0.0.1".into(), "[::1]".into()];
        assert!(is_allowed("127.0.0.1:9173", &allowed));
        assert!(is_allowed("LOCALHOST:9173", &allowed));
        assert!(is_allowed("[::1]:9173", &allowed));
        assert!(is_allowed("[::1]", &allowed));
        assert!(!is_allowed("rebound.example:9173", &allowed));
        assert!(!is_allowed("127.0.0.1.evil.example", &allowed));
    }
}
