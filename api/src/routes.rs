//! The filters: which method and path reach which handler, behind auth, with every rejection
//! turned into JSON by `error::recover`.

use std::{convert::Infallible, sync::Arc};

use bytes::Bytes;
use warp::{Filter, Reply};

use crate::{
    allowed_hosts, auth, error, events, handlers, listing, ops_page, same_origin, short::Short,
    ApiState,
};

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
        .and(with_state.clone())
        .and_then(handlers::delete_job);

    let list = warp::path!("jobs")
        .and(warp::get())
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_state.clone())
        .and_then(listing::list_jobs);

    let units = warp::path!("jobs" / String / "units")
        .and(warp::get())
        .and(with_state.clone())
        .and_then(listing::job_units);

    let events = warp::path!("events")
        .and(warp::get())
        .and(with_state)
        .and_then(events::stream);

    let ops = warp::get().and(
        warp::path::end()
            .map(ops_page::page)
            .or(warp::path!("ops" / "ops.js").map(ops_page::script))
            .unify()
            .or(warp::path!("ops" / "ops.css").map(ops_page::style))
            .unify(),
    );

    let cloudcrowd = heartbeat.or(status).or(create).or(show).or(delete);
    let browsing = list.or(units).or(events).or(ops);
    allowed_hosts::require(state.allowed_hosts.clone())
        .and(auth::require(state.credentials.clone()))
        .and(same_origin::require())
        .and(cloudcrowd.or(browsing))
        .recover(error::recover)
        // A path can be as long as a request head (hundreds of KB): logged cut short.
        .with(warp::trace(|info| {
            tracing::info_span!(
                "request",
                method = %info.method(),
                path = %Short(info.path()),
            )
        }))
}
