//! Refuses requests a web page in a browser sends to the API from another site. A form POST
//! needs no CORS preflight, so without this any page a user visits could post jobs to an API
//! on their machine (and `crowd up` may read their files). Browsers always send `Origin` on
//! such requests; API clients (curl, CloudCrowd's RestClient) send none and pass.

use warp::{Filter, Rejection};

use crate::ApiError;

pub fn require() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("origin")
        .and(warp::header::optional::<String>("host"))
        .and_then(|origin: Option<String>, host: Option<String>| async move {
            match origin {
                Some(origin) if !same_host(&origin, host.as_deref()) => {
                    Err(warp::reject::custom(ApiError::ForeignOrigin(origin)))
                }
                _ => Ok(()),
            }
        })
        .untuple_one()
}

fn same_host(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    match url::Url::parse(origin) {
        Ok(url) => {
            let origin_host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                _ => return false,
            };
            origin_host.eq_ignore_ascii_case(host)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_host;

    #[test]
    fn only_the_api_own_pages_pass() {
        assert!(same_host("http://127.0.0.1:9173", Some("127.0.0.1:9173")));
        assert!(!same_host("http://evil.example", Some("127.0.0.1:9173")));
        assert!(!same_host("null", Some("127.0.0.1:9173")));
        assert!(!same_host("http://127.0.0.1:9173", None));
    }
}
