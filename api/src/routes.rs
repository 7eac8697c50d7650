//! The filters: which method and path reach which handler, behind auth, with every rejection
//! turned into JSON by `error::recover`.

use std::{convert::Infallible, sync::Arc};

use bytes::Bytes;
use warp::{Filter, Reply};

use crate::{auth, error, handlers, same_origin, ApiState};

pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };

    let heartbeat = warp::path!("heartbeat").and(warp::get()).map(|| "buh-bump");

    let status = warp::path!("status")
        .and(warp::get())
        .and(with_state.clone())
        .and_then(handlers::status);

    let create = warp::path!("jobs")
        .and(warp::post())
        .and(warp::body::content_length_limit(state.max_body_bytes))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::bytes())
        .and(with_state.clone())
        .and_then(|ct: Option<String>, body: Bytes, state| handlers::create_job(ct, body, state));

    let show = warp::path!("jobs" / String)
        .and(warp::get())
        .and(with_state.clone())
        .and_then(handlers::get_job);

    let delete = warp::path!("jobs" / String)
        .and(warp::delete())
        .and(with_state)
        .and_then(handlers::delete_job);

    auth::require(state.credentials.clone())
        .and(same_origin::require())
        .and(heartbeat.or(status).or(create).or(show).or(delete))
        .recover(error::recover)
        .with(warp::trace::request())
}
