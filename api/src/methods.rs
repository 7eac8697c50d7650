//! Which methods a path takes. Each route matches its path first and its methods second, so a
//! path no route knows is a 404 whatever the method (warp's method filters, first, would make
//! it a 405), and a known path asked with a method it does not take is a 405 that lists those
//! it does in `Allow`.

use warp::{http::Method, Filter, Rejection};

use crate::ApiError;

/// What every page and read-only resource takes: `HEAD` wherever `GET` is, as HTTP expects
/// (hyper sends a `HEAD` answer's headers and drops its body).
pub const READ: &[Method] = &[Method::GET, Method::HEAD];
/// `/jobs`: the listing, and posting a job.
pub const READ_OR_POST: &[Method] = &[Method::GET, Method::HEAD, Method::POST];
/// `/jobs/:id/retry`: an action, never a read.
pub const POST: &[Method] = &[Method::POST];
/// `/blacklist/:action`: resuming a paused action.
pub const DELETE: &[Method] = &[Method::DELETE];
/// `/jobs/:id`: the job, and deleting it.
pub const READ_OR_DELETE: &[Method] = &[Method::GET, Method::HEAD, Method::DELETE];

/// A known path asked with a method it does not take. Its own type, so that `error::recover`
/// finds it before the 401 of the guarded routes tried after a public one (`/healthz` with
/// a wrong method is a 405, login or not).
#[derive(Debug)]
pub struct WrongMethod(pub ApiError);

impl warp::reject::Reject for WrongMethod {}

/// Passes the methods in `allowed`, refuses any other with a 405 naming them. Goes right
/// after a route's path.
pub fn only(allowed: &'static [Method]) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and_then(move |method: Method| async move {
            if allowed.contains(&method) {
                Ok(())
            } else {
                Err(warp::reject::custom(WrongMethod(
                    ApiError::MethodNotAllowed { method, allowed },
                )))
            }
        })
        .untuple_one()
}

/// `GET` or `HEAD`, for a path that takes another method too.
pub fn read() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::get().or(warp::head()).unify()
}

/// `Allow`'s value: `GET, HEAD, POST`.
pub fn allow_header(allowed: &[Method]) -> String {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    names.join(", ")
}
