//! The operations page and its assets, compiled into the binary: users may have no internet,
//! so nothing comes from a CDN.

use warp::{
    http::header::{
        HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
        X_FRAME_OPTIONS,
    },
    Reply,
};

const PAGE: &str = include_str!("../assets/ops.html");
const SCRIPT: &str = include_str!("../assets/ops.js");
const STYLE: &str = include_str!("../assets/ops.css");

fn asset(body: &'static str, content_type: &'static str) -> warp::reply::Response {
    let mut reply = warp::reply::with_header(body, CONTENT_TYPE, content_type).into_response();
    let headers = reply.headers_mut();
    // Assets change with the binary; a page from an older version must not linger.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // No other site may frame the page and trick a click on its cancel button.
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    reply
}

pub fn page() -> warp::reply::Response {
    asset(PAGE, "text/html; charset=utf-8")
}

pub fn script() -> warp::reply::Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub fn style() -> warp::reply::Response {
    asset(STYLE, "text/css; charset=utf-8")
}
