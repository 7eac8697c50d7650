//! After the requests: every job the api accepted must end. A job ends `succeeded` or
//! `failed`, or is gone because this test deleted it (`DELETE` answered 204) or because its
//! callback was answered 201; and the units of each that remains are listed, all complete.

use std::collections::HashSet;

use serde_json::Value;
use tokio::time::Instant;

use crate::{fixtures::World, helpers::TestStack, run::Results};

/// What became of the jobs `results` has accepted, counted in its tally; what broke a promise
/// goes in its failures.
pub async fn check(stack: &mut TestStack, world: &mut World, results: &mut Results) {
    let Results {
        tally,
        failures,
        accepted,
        deleted,
    } = results;
    let deadline = Instant::now() + crate::helpers::WAIT;
    let mut deleted_by_callback = HashSet::new();
    for &id in accepted.iter() {
        let ended = match wait_for_end(stack, id, deadline).await {
            Ok(ended) => ended,
            Err(e) => {
                failures.push(format!("job {id} did not end: {e}"));
                tally.ending("did not end");
                continue;
            }
        };
        world.deleted_by_callback(&mut deleted_by_callback);
        match ended {
            None if deleted.contains(&id) => tally.ending("deleted by the test"),
            None if deleted_by_callback.contains(&id) => {
                tally.ending("deleted by its callback (201)")
            }
            None => {
                failures.push(format!("job {id} was accepted, then vanished"));
                tally.ending("vanished");
            }
            Some(job) if deleted.contains(&id) => {
                failures.push(format!(
                    "job {id} was deleted (204), and is still there: {job}"
                ));
                tally.ending("deleted, still there");
            }
            Some(job) => match units_complete(stack, id).await {
                Ok(units) => {
                    tally.ending(job["status"].as_str().unwrap_or("?"));
                    tally.units += units;
                }
                Err(e) => {
                    // Its callback may have been answered 201 since it was seen ended: the
                    // dispatcher deletes it then, between the two reads.
                    world.deleted_by_callback(&mut deleted_by_callback);
                    if deleted_by_callback.contains(&id) {
                        tally.ending("deleted by its callback (201)");
                    } else {
                        tally.ending(job["status"].as_str().unwrap_or("?"));
                        failures.push(format!("job {id} ended {}, but {e}", job["status"]));
                    }
                }
            },
        }
    }
}

/// The job once complete (`None` once gone), waiting on the database's change events.
async fn wait_for_end(
    stack: &mut TestStack,
    id: i64,
    deadline: Instant,
) -> Result<Option<Value>, String> {
    loop {
        let (status, job) = stack.get_job(id).await;
        match status {
            200 if matches!(job["status"].as_str(), Some("succeeded" | "failed")) => {
                return Ok(Some(job))
            }
            200 => {}
            404 => return Ok(None),
            other => return Err(format!("GET /jobs/{id} answered {other}: {job}")),
        }
        match tokio::time::timeout_at(deadline, stack.probe.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err("the database's change events ended".into()),
            Err(_) => {
                let units = stack
                    .http
                    .get(stack.url(&format!("/jobs/{id}/units")))
                    .send()
                    .await;
                let units = match units {
                    Ok(reply) => reply.text().await.unwrap_or_default(),
                    Err(e) => e.to_string(),
                };
                let units: String = units.chars().take(2_000).collect();
                return Err(format!("still {job} after the wait; its units: {units}"));
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct Listing {
    units: Vec<Unit>,
    total: usize,
}

#[derive(Debug, serde::Deserialize)]
struct Unit {
    id: i64,
    status: String,
}

/// `GET /jobs/:id/units`, page after page, answers 200 with JSON, every unit `succeeded` or
/// `failed`; how many there are.
async fn units_complete(stack: &TestStack, id: i64) -> Result<usize, String> {
    let mut units = Vec::new();
    for page in 1.. {
        let path = format!("/jobs/{id}/units?page={page}");
        let reply = stack
            .http
            .get(stack.url(&path))
            .send()
            .await
            .map_err(|e| format!("GET {path} failed: {e}"))?;
        let status = reply.status().as_u16();
        let text = reply
            .text()
            .await
            .map_err(|e| format!("reading its units: {e}"))?;
        if status != 200 {
            return Err(format!("GET {path} answered {status}: {text}"));
        }
        // Units' inputs are skipped unread: one may be nested deeper than a `Value` is read.
        let listing: Listing = serde_json::from_str(&text)
            .map_err(|e| format!("its units listing does not read ({e})"))?;
        let last = listing.units.is_empty() || units.len() + listing.units.len() >= listing.total;
        units.extend(listing.units);
        if last {
            break;
        }
    }
    let incomplete: Vec<&Unit> = units
        .iter()
        .filter(|u| !matches!(u.status.as_str(), "succeeded" | "failed"))
        .collect();
    if incomplete.is_empty() {
        Ok(units.len())
    } else {
        Err(format!("units are still incomplete: {incomplete:?}"))
    }
}
