//! The operations page and its assets, compiled into the binary: users may have no internet,
//! so nothing comes from a CDN.

use warp::{
    http::header::{CACHE_CONTROL, CONTENT_TYPE},
    Reply,
};

const PAGE: &str = include_str!("../assets/ops.html");
const SCRIPT: &str = include_str!("../assets/ops.js");
const STYLE: &str = include_str!("../assets/ops.css");

fn asset(body: &'static str, content_type: &'static str) -> warp::reply::Response {
    let reply = warp::reply::with_header(body, CONTENT_TYPE, content_type);
    // Assets change with the binary; a page from an older version must not linger.
    warp::reply::with_header(reply, CACHE_CONTROL, "no-cache").into_response()
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
