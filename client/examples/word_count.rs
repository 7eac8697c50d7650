//! Counts the words of a few texts on a running CloudCrowd and prints the job as it ends.
//!
//!     cargo run --release -- up                       # in another terminal
//!     cargo run -p crowd-client --example word_count  # CROWD_API=host:port for another api
//!
//! CROWD_LOGIN and CROWD_PASSWORD, when set, are sent as the api's login.

use std::time::{Duration, SystemTime};

use crowd_client::{parse_base_url, Client, Job};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api = std::env::var("CROWD_API").unwrap_or_else(|_| "127.0.0.1:9173".into());
    let mut client = Client::new(parse_base_url(&api)?)?;
    if let (Ok(user), Ok(password)) = (
        std::env::var("CROWD_LOGIN"),
        std::env::var("CROWD_PASSWORD"),
    ) {
        client = client.with_login(user, password);
    }
    let job = json!({
        "action": "word_count",
        "inputs": ["the quick brown fox", "jumps over", "the lazy dog"],
    });
    // The idempotency key makes a retried post safe: the api answers the job it made for it.
    let key = format!("word-count-example-{:?}", SystemTime::now());
    let posted: Job = client.submit(&job, &key).await?;
    println!("job {} posted", posted.id);
    let done = client
        .wait_for(posted.id, Duration::from_millis(100))
        .await?;
    println!(
        "job {} {} in {:.3} s: {:?}",
        done.id, done.status, done.time_taken, done.outputs
    );
    Ok(())
}
