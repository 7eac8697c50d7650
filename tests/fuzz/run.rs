//! Sending a run's requests, a few at a time, and judging each answer as it comes; between
//! them, now and then, asking the api for `/heartbeat`.

use std::collections::{BTreeSet, HashSet};

use futures_util::StreamExt;

use crate::{
    guard,
    request::{self, Context, Request},
    tally::Tally,
    verdict,
    wire::{self, Answer},
};

/// Requests in flight at once.
const IN_FLIGHT: usize = 8;
/// `/heartbeat` is asked after every this many answers.
const HEARTBEAT_EVERY: usize = 100;

/// What the requests did.
pub struct Results {
    pub tally: Tally,
    /// Each broken promise, with what it takes to see it again.
    pub failures: Vec<String>,
    /// Jobs the api accepted, and those a `DELETE` then removed.
    pub accepted: BTreeSet<i64>,
    pub deleted: HashSet<i64>,
}

/// How one request went.
enum Sent {
    Answered(Answer),
    /// Not sent: its body names this URL, off this machine.
    Withheld(String),
}

/// Sends requests `indices` of the run seeded with `seed` to the api at `api`.
pub async fn send_all(seed: u64, indices: Vec<u64>, context: &Context<'_>, api: &str) -> Results {
    let http = reqwest::Client::builder()
        // Idle connections go before the api's idle timeout (5 s) closes them under a request.
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .timeout(wire::ANSWER_TIME)
        .build()
        .expect("an HTTP client");
    let mut results = Results {
        tally: Tally::default(),
        failures: Vec::new(),
        accepted: BTreeSet::new(),
        deleted: HashSet::new(),
    };
    let mut sent = futures_util::stream::iter(indices)
        .map(|index| {
            let request = request::generate(seed, index, context);
            let http = &http;
            async move {
                let sent = match guard::url_leaving(&request.body) {
                    Some(url) => Sent::Withheld(url),
                    None => Sent::Answered(wire::send(http, api, &request).await),
                };
                (request, sent)
            }
        })
        .buffer_unordered(IN_FLIGHT);
    let mut count = 0;
    while let Some((request, sent)) = sent.next().await {
        results.record(seed, &request, sent);
        count += 1;
        if count % HEARTBEAT_EVERY == 0 {
            if let Err(e) = heartbeat(api).await {
                results
                    .failures
                    .push(format!("seed {seed}, after {count} requests: {e}"));
            }
            results.tally.heartbeats += 1;
        }
    }
    results
}

impl Results {
    fn record(&mut self, seed: u64, request: &Request, sent: Sent) {
        let answer = match sent {
            Sent::Answered(answer) => answer,
            Sent::Withheld(url) => {
                // A bug of the generator's, not the api's: said, and counted.
                println!(
                    "fuzz: request #{} not sent: it names {url:?}",
                    request.index
                );
                self.tally.skipped += 1;
                return;
            }
        };
        match verdict::judge(request, &answer) {
            Ok(seen) => {
                self.tally.answer(request.kind, &seen.label);
                self.accepted.extend(seen.accepted);
                self.deleted.extend(seen.deleted);
            }
            Err(broken) => {
                self.tally.answer(request.kind, "FAILED");
                self.failures.push(failure(seed, request, &broken, &answer));
            }
        }
    }
}

/// The api, asked on a connection of its own, still answers `/heartbeat`.
async fn heartbeat(api: &str) -> Result<(), String> {
    let request = format!(
        "GET /heartbeat HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        api.trim_start_matches("http://")
    );
    match wire::exchange(api, request.as_bytes()).await {
        Answer::Responses(responses, _)
            if responses.len() == 1
                && responses[0].status == 200
                && responses[0].body == b"buh-bump" =>
        {
            Ok(())
        }
        other => Err(format!("GET /heartbeat got {other}")),
    }
}

/// A failure, with what it takes to see it again.
fn failure(seed: u64, request: &Request, broken: &str, answer: &Answer) -> String {
    let answer: String = answer.to_string().chars().take(1_000).collect();
    let broken: String = broken.chars().take(2_000).collect();
    format!(
        "seed {seed}, {request}\n  broke a promise: {broken}\n  answer: {answer}\n  again: \
         CROWD_FUZZ_SEED={seed} CROWD_FUZZ_ONLY={} cargo test --test fuzz",
        request.index
    )
}
