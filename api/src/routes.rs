//! The filters: which path and method reach which handler, behind auth, with every rejection
//! turned into JSON by `error::recover`. Each route matches its path first and then its
//! methods (`methods`), so an unknown path is a 404 and a wrong method on a known one a 405.

use std::{convert::Infallible, sync::Arc};

use warp::{Filter, Reply};

use crate::{
    actions, allowed_hosts, auth, blacklist, error, events, handlers, idempotency_key, job_body,
    listing,
    methods::{self, READ, READ_OR_DELETE, READ_OR_POST},
    metrics_page, openapi, ops_page, same_origin,
    short::Short,
    ApiState,
};

pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };

    let heartbeat = warp::path!("heartbeat")
        .and(methods::only(READ))
        .map(|| "buh-bump");

    let status = warp::path!("status")
        .and(methods::only(READ))
        .and(with_state.clone())
        .and_then(handlers::status);

    // A path that takes several methods: each method's route matches the path again.
    let jobs = warp::path!("jobs").and(methods::only(READ_OR_POST));
    let create = jobs
        .clone()
        .and(warp::post())
        .and(warp::header::optional::<String>("content-type"))
        .and(idempotency_key::optional())
        .and(job_body::receive(state.clone()))
        .and(with_state.clone())
        .and_then(handlers::create_job);
    let list = jobs
        .and(methods::read())
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_state.clone())
        .and_then(listing::list_jobs);

    let job = warp::path!("jobs" / String).and(methods::only(READ_OR_DELETE));
    let show = job
        .clone()
        .and(methods::read())
        .and(with_state.clone())
        .and_then(handlers::get_job);
    let delete = job
        .and(warp::delete())
        .and(with_state.clone())
        .and_then(handlers::delete_job);

    let retry = warp::path!("jobs" / String / "retry")
        .and(methods::only(methods::POST))
        .and(with_state.clone())
        .and_then(handlers::retry_job);

    let units = warp::path!("jobs" / String / "units")
        .and(methods::only(READ))
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_state.clone())
        .and_then(listing::job_units);

    let outputs = warp::path!("jobs" / String / "outputs")
        .and(methods::only(READ))
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_state.clone())
        .and_then(listing::job_outputs);

    let failed_units = warp::path!("units")
        .and(methods::only(READ))
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_state.clone())
        .and_then(listing::failed_units);

    let history = warp::path!("status" / "history")
        .and(methods::only(READ))
        .and(with_state.clone())
        .map(|state: Arc<ApiState>| warp::reply::json(&state.snapshots.history.reply()));

    let actions = warp::path!("actions")
        .and(methods::only(READ))
        .and(with_state.clone())
        .and_then(actions::list);

    // CloudCrowd's blacklist: pausing and resuming actions.
    let blacklist = warp::path!("blacklist").and(methods::only(READ_OR_POST));
    let paused = blacklist
        .clone()
        .and(methods::read())
        .and(with_state.clone())
        .and_then(blacklist::list);
    let pause = blacklist
        .and(warp::post())
        .and(warp::header::optional::<String>("content-type"))
        .and(blacklist::body())
        .and(with_state.clone())
        .and_then(blacklist::pause);
    let resume = warp::path!("blacklist" / String)
        .and(methods::only(methods::DELETE))
        .and(with_state.clone())
        .and_then(blacklist::resume);

    let events = warp::path!("events")
        .and(methods::only(READ))
        .and(with_state.clone())
        .and_then(events::stream);

    let ops = warp::path::end()
        .and(methods::only(READ))
        .map(ops_page::page)
        .or(warp::path!("ops" / "ops.js")
            .and(methods::only(READ))
            .map(ops_page::script))
        .unify()
        .or(warp::path!("ops" / "ops.css")
            .and(methods::only(READ))
            .map(ops_page::style))
        .unify();

    // For probes (a load balancer, Kubernetes): no login, any Host.
    let healthz = warp::path!("healthz")
        .and(methods::only(READ))
        .map(crate::probes::alive);
    let readyz = warp::path!("readyz")
        .and(methods::only(READ))
        .and(with_state.clone())
        .and_then(handlers::ready);
    let health = healthz.or(readyz);
    // The API's description is public, as any client library's documentation is.
    let spec = warp::path!("openapi.json")
        .and(methods::only(READ))
        .map(openapi::document);
    // Its own login (`metrics_login`, or the api's), so a scraper needs no more than that.
    let scrape = warp::path!("metrics")
        .and(methods::only(READ))
        .and(allowed_hosts::require(state.allowed_hosts.clone()))
        .and(auth::require(state.metrics_credentials.clone()))
        .and(with_state)
        .and_then(metrics_page::scrape);

    let cloudcrowd = heartbeat.or(status).or(create).or(show).or(delete).or(list);
    let acting = retry.or(paused).or(pause).or(resume);
    let browsing = units
        .or(outputs)
        .or(failed_units)
        .or(history)
        .or(actions)
        .or(events)
        .or(ops);
    let guarded = allowed_hosts::require(state.allowed_hosts.clone())
        .and(auth::require(state.credentials.clone()))
        .and(same_origin::require())
        .and(cloudcrowd.or(acting).or(browsing));
    health
        .or(spec)
        .or(scrape)
        .or(guarded)
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
