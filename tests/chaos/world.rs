//! Everything a chaos run sets up around the stack, and what it asks of it: its own database,
//! queues and S3 server, a text server that answers slowly (so units are mid-run when processes
//! die), jobs posted and followed over HTTP, and the store and queues read at the end.
//!
//! It follows jobs by polling their HTTP status: the run restarts the database and the api, so
//! no one connection could carry change events through it.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use crowd::shared::{config::StorageKind, Config, Secret};
use serde_json::Value;
use tokio_postgres::NoTls;
use warp::Filter;

use crate::{
    broker,
    jobs::{plan, Expect, Planned},
    rng::Rng,
    s3_server::{S3Server, ACCESS_KEY, SECRET_KEY},
};

/// Between two looks at a job that is not complete yet.
const POLL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct World {
    pub config: Config,
    pub api_port: u16,
    api: String,
    http: reqwest::Client,
    texts: String,
    admin_url: String,
    db_name: String,
    _s3: Arc<S3Server>,
    _scratch: Arc<tempfile::TempDir>,
}

/// The jobs the run posted and got an id for, and what became of the posts.
pub struct Posted {
    pub jobs: Vec<(i64, Planned)>,
    /// Posts that got no answer or a 503 (the api or its database down) and were sent again.
    pub refused: u64,
}

impl Posted {
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for (_, planned) in &self.jobs {
            *counts.entry(planned.kind.to_string()).or_default() += 1;
        }
        counts.insert("refused and sent again".into(), self.refused);
        counts
    }
}

/// How the jobs ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub checked: usize,
    pub right: usize,
    pub wrong: Vec<String>,
    pub unfinished: Vec<i64>,
    pub incomplete_in_store: i64,
    pub units: i64,
    pub most_attempts: i32,
}

impl World {
    pub async fn start() -> World {
        let id = format!("chaos_{}", std::process::id());
        let admin_url = std::env::var("CROWD_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let db_name = format!("crowd_test_{id}");
        let mut url = url::Url::parse(&admin_url).expect("database URL");
        url.set_path(&format!("/{db_name}"));
        let s3 = S3Server::start().await;
        let scratch = tempfile::tempdir().expect("scratch");
        let config = Config {
            database_url: url.to_string(),
            amqp_url: std::env::var("AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
            queue_prefix: format!("crowd_test_{id}"),
            storage: StorageKind::S3,
            s3_endpoint: Some(s3.endpoint.clone()),
            s3_bucket: Some(format!("crowd-test-{}", id.replace('_', "-"))),
            aws_access_key_id: Some(ACCESS_KEY.into()),
            aws_secret_access_key: Some(Secret::new(SECRET_KEY)),
            temp_storage_path: scratch.path().to_path_buf(),
            heartbeat_secs: 1,
            max_workers: 4,
            shutdown_grace_secs: 5,
            // Every SIGKILL counts as an attempt for each unit its victim held.
            work_unit_retries: 5,
            // Units a restart lost are found and sent again within the run, not after it.
            lost_unit_secs: 30,
            // The test's text server is on loopback.
            allowed_networks: vec!["127.0.0.0/8".into()],
            ..Config::default()
        };
        crowd::shared::store::postgres::pool::migrate(&config.database_url)
            .await
            .expect("migrations");
        let api_port = free_port();
        World {
            api: format!("http://127.0.0.1:{api_port}"),
            api_port,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            texts: slow_texts().await,
            config,
            admin_url,
            db_name,
            _s3: Arc::new(s3),
            _scratch: Arc::new(scratch),
        }
    }

    pub async fn wait_for_api(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers().await {
            assert!(Instant::now() < deadline, "the api did not start");
            tokio::time::sleep(POLL).await;
        }
    }

    async fn answers(&self) -> bool {
        self.http
            .get(format!("{}/heartbeat", self.api))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Posts jobs until `duration` has passed; returns those it got an id for.
    pub async fn post_jobs(self, seed: u64, duration: Duration) -> Posted {
        let mut rng = Rng::new(seed);
        let started = Instant::now();
        let mut posted = Posted {
            jobs: Vec::new(),
            refused: 0,
        };
        let texts = self.texts.clone();
        let slow = move |words: u64| format!("{texts}/slow/{words}/{}", 50 + words * 37 % 400);
        while started.elapsed() < duration {
            let planned = plan(&mut rng, &slow);
            let (id, refused) = self.post(&planned.job).await;
            posted.refused += refused;
            posted.jobs.push((id, planned));
            tokio::time::sleep(Duration::from_millis(rng.between(50..300))).await;
        }
        posted
    }

    /// Posts `job` until the api takes it; returns its id and how many posts were refused.
    async fn post(&self, job: &Value) -> (i64, u64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut refused = 0;
        loop {
            let reply = self
                .http
                .post(format!("{}/jobs", self.api))
                .form(&[("job", job.to_string())])
                .send()
                .await;
            match reply {
                Ok(r) if r.status() == 200 => {
                    let body: Value = r.json().await.expect("job JSON");
                    return (body["id"].as_i64().expect("id"), refused);
                }
                Ok(r) if r.status() == 503 => refused += 1,
                Ok(r) => panic!("POST /jobs answered {}: {:?}", r.status(), r.text().await),
                Err(_) => refused += 1, // the api is being restarted
            }
            assert!(Instant::now() < deadline, "no api took a job for 2 minutes");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Posts a small job and waits until it succeeds: when the system works again.
    pub async fn probe_job(&self) -> Instant {
        let job = serde_json::json!({"action": "word_count", "inputs": ["probe one two"]});
        let (id, _) = self.post(&job).await;
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Some(job) = self.complete(id).await {
                assert_eq!(job["outputs"], serde_json::json!([3]), "probe {job}");
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "the probe job {id} did not finish"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The job's JSON once it is complete.
    async fn complete(&self, id: i64) -> Option<Value> {
        let reply = self
            .http
            .get(format!("{}/jobs/{id}", self.api))
            .send()
            .await
            .ok()?;
        let job: Value = reply.json().await.ok()?;
        matches!(job["status"].as_str(), Some("succeeded" | "failed")).then_some(job)
    }

    /// Waits for every job to end (at most `within`) and checks each against its plan and the
    /// store against what must hold.
    pub async fn settle(&self, jobs: &[(i64, Planned)], within: Duration) -> Outcome {
        let deadline = Instant::now() + within;
        let mut outcome = Outcome::default();
        for (id, planned) in jobs {
            let job = loop {
                if let Some(job) = self.complete(*id).await {
                    break Some(job);
                }
                if Instant::now() > deadline {
                    break None;
                }
                tokio::time::sleep(POLL).await;
            };
            outcome.checked += 1;
            let Some(job) = job else {
                outcome.unfinished.push(*id);
                continue;
            };
            let right = match &planned.expect {
                Expect::Succeeds(outputs) => {
                    job["status"] == "succeeded" && &job["outputs"] == outputs
                }
                Expect::Fails => job["status"] == "failed",
            };
            if right {
                outcome.right += 1;
            } else {
                outcome
                    .wrong
                    .push(format!("job {id} ({}): {job}", planned.kind));
            }
        }
        let db = self.db().await;
        let row = db
            .query_one(
                "SELECT (SELECT count(*) FROM jobs WHERE status IN (1, 4, 5)),
                        (SELECT count(*) FROM work_units),
                        (SELECT coalesce(max(attempts), 0) FROM work_units)",
                &[],
            )
            .await
            .expect("store counts");
        (
            outcome.incomplete_in_store,
            outcome.units,
            outcome.most_attempts,
        ) = (row.get(0), row.get(1), row.get(2));
        outcome
    }

    /// The queues that still hold messages once they had a minute to drain.
    pub async fn queues_left(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut left = Vec::new();
            let heartbeats =
                crowd::shared::queue::amqp::wire::QueueNames::new(&self.config.queue_prefix)
                    .heartbeats();
            // Heartbeats are short-lived and read without acks; only work and results count.
            for queue in broker::queues_of(&self.config)
                .into_iter()
                .filter(|q| *q != heartbeats)
            {
                let state = broker::queue_state(&self.config.amqp_url, &queue).await;
                match state.map(|s| s.messages) {
                    Some(0) => {}
                    Some(n) => left.push(format!("{queue}: {n}")),
                    None => left.push(format!("{queue}: cannot be read")),
                }
            }
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn db(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.config.database_url, NoTls)
            .await
            .expect("connect to the run's database");
        tokio::spawn(conn);
        client
    }

    /// Drops the run's database and queues.
    pub async fn clean_up(&self) {
        if let Ok((client, conn)) = tokio_postgres::connect(&self.admin_url, NoTls).await {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.db_name
                ))
                .await;
        }
        broker::delete_queues(&self.config).await;
    }
}

/// A free port on loopback for the api, which is started (and restarted) on it.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("addr").port()
}

/// `/slow/<words>/<millis>`: a text of that many words, sent after that long.
async fn slow_texts() -> String {
    let route = warp::path!("slow" / u64 / u64).then(|words: u64, millis: u64| async move {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        vec!["w"; words as usize].join(" ")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the text server");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(warp::serve(route).incoming(listener).run());
    base
}
