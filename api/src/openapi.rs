//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole HTTP API, compiled in.
//! `tests/e2e/openapi.rs` keeps it true to the routes, and CI runs schemathesis from it
//! (`scripts/schemathesis.sh`).

use warp::{
    http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE},
    Reply,
};

pub const DOCUMENT: &str = include_str!("../assets/openapi.json");

pub fn document() -> warp::reply::Response {
    let mut reply = warp::reply::Response::new(DOCUMENT.into());
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // It changes with the binary.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reply.into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_1_json() {
        let document: serde_json::Value =
            serde_json::from_str(super::DOCUMENT).expect("openapi.json is JSON");
        assert!(document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")));
        assert!(document["paths"].as_object().is_some_and(|p| !p.is_empty()));
    }
}
