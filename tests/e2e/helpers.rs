//! `TestStack`: the whole system in-process on one of the two backend sets. Distributed: the
//! real Postgres and RabbitMQ and an S3 server of the test's own, each stack with its own
//! database, queue names and bucket, so tests run side by side. Embedded: SQLite in a temporary
//! directory, in-process queues, files on disk, as `crowd up` runs. Either way the test waits
//! on the database's change events, never on sleeps.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use crowd::{
    shared::{
        config::StorageKind,
        queue::{AmqpQueue, MemoryQueue, Queue},
        shutdown::CancellationToken,
        storage::{self, AssetStore},
        store::{JobDetail, Paging, PgStore, SqliteStore, Store, UnitView},
        Config, Secret,
    },
    Backends,
};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_postgres::NoTls;

use crate::{
    probe::{pg_url, Probe},
    s3_server::{S3Server, ACCESS_KEY, SECRET_KEY},
};

/// How long any one wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(90);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Which backends a stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Postgres, RabbitMQ and S3.
    Distributed,
    /// SQLite, in-process queues and files on disk.
    Embedded,
}

pub struct StackOptions {
    pub workers: usize,
    pub dispatchers: usize,
    pub configure: fn(&mut Config),
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            workers: 2,
            dispatchers: 1,
            configure: |_| {},
        }
    }
}

/// What the stack runs on, and how to take it down.
enum Services {
    Distributed {
        admin_url: String,
        db_name: String,
        _s3_server: S3Server,
    },
    Embedded {
        backends: Backends,
        _data: tempfile::TempDir,
    },
}

pub struct TestStack {
    pub backend: Backend,
    /// Base URL of the api.
    pub api: String,
    pub http: reqwest::Client,
    /// The store, queue and asset store the services use (another connection to the same
    /// ones, for the distributed set).
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub assets: Arc<dyn AssetStore>,
    pub config: Config,
    pub probe: Probe,
    services: Services,
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

pub(crate) fn admin_url() -> String {
    std::env::var("CROWD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Settings every stack shares: quick heartbeats and callback retries, a short grace, and
/// loopback opened, where the tests' own servers (inputs, callback receivers) are.
fn base_config(id: &str, scratch: PathBuf) -> Config {
    Config {
        queue_prefix: format!("crowd_test_{id}"),
        temp_storage_path: scratch,
        heartbeat_secs: 1,
        max_workers: 4,
        callback_backoff_ms: 50,
        shutdown_grace_secs: 5,
        allowed_networks: loopback_networks(),
        ..Config::default()
    }
}

/// `allowed_networks` that open loopback, and nothing else.
pub fn loopback_networks() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

impl TestStack {
    pub async fn start(backend: Backend) -> TestStack {
        TestStack::start_with(backend, StackOptions::default()).await
    }

    /// A stack with no workers: the test takes the units itself (or starts workers later).
    pub async fn without_workers(backend: Backend) -> TestStack {
        let options = StackOptions {
            workers: 0,
            ..Default::default()
        };
        TestStack::start_with(backend, options).await
    }

    pub async fn start_with(backend: Backend, options: StackOptions) -> TestStack {
        if std::env::var("RUST_LOG").is_ok() {
            crowd::shared::telemetry::init(Default::default());
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("t{}_{n}", std::process::id());
        let mut stack = match backend {
            Backend::Distributed => TestStack::distributed(&id, &options).await,
            Backend::Embedded => TestStack::embedded(&id, &options).await,
        };
        let listener = crowd::bind_api("127.0.0.1", 0).await.expect("bind the api");
        stack.api = format!("http://{}", listener.local_addr().expect("api addr"));
        let (config, shutdown) = (stack.config.clone(), stack.shutdown.clone());
        match stack.shared_backends() {
            None => {
                stack
                    .tasks
                    .spawn(crowd::run_api(config, listener, shutdown));
            }
            Some(backends) => {
                stack.tasks.spawn(async move {
                    crowd::api_on(&config, &backends, listener, shutdown).await
                });
            }
        }
        for _ in 0..options.dispatchers {
            stack.start_dispatcher();
        }
        for w in 0..options.workers {
            stack.start_worker(&format!("worker-{w}"), |_| {});
        }
        stack.wait_for_api().await;
        stack
    }

    async fn distributed(id: &str, options: &StackOptions) -> TestStack {
        let admin_url = admin_url();
        let db_name = format!("crowd_test_{id}");
        let database_url = pg_url(&admin_url, &db_name);
        let s3_server = S3Server::start().await;
        let mut config = Config {
            database_url: database_url.clone(),
            db_pool_size: 8,
            amqp_url: amqp_url(),
            storage: StorageKind::S3,
            s3_endpoint: Some(s3_server.endpoint.clone()),
            s3_bucket: Some(format!("crowd-test-{}", id.replace('_', "-"))),
            aws_access_key_id: Some(ACCESS_KEY.into()),
            aws_secret_access_key: Some(Secret::new(SECRET_KEY)),
            ..base_config(
                id,
                std::env::temp_dir().join(format!("crowd_test_scratch_{id}")),
            )
        };
        (options.configure)(&mut config);
        crowd::shared::store::postgres::pool::migrate(&database_url)
            .await
            .expect("migrations apply");
        TestStack {
            backend: Backend::Distributed,
            api: String::new(),
            http: reqwest::Client::new(),
            store: Arc::new(PgStore::new(&database_url, 4).expect("store")),
            queue: Arc::new(AmqpQueue::from_config(&config)),
            assets: storage::from_config(&config).await.expect("asset store"),
            probe: Probe::postgres(&database_url).await,
            config,
            services: Services::Distributed {
                admin_url,
                db_name,
                _s3_server: s3_server,
            },
            shutdown: CancellationToken::new(),
            tasks: JoinSet::new(),
        }
    }

    async fn embedded(id: &str, options: &StackOptions) -> TestStack {
        let data = tempfile::tempdir().expect("data dir");
        let mut config = Config {
            storage: StorageKind::Filesystem,
            local_storage_path: data.path().join("files"),
            ..base_config(id, data.path().join("tmp"))
        };
        (options.configure)(&mut config);
        let sqlite = SqliteStore::open(&data.path().join("crowd.db"))
            .expect("SQLite store")
            .listing_at_most(config.max_listed_outputs);
        let probe = Probe::sqlite(&data.path().join("crowd.db"), sqlite.changes());
        let backends = Backends {
            store: Arc::new(sqlite),
            queue: Arc::new(MemoryQueue::new()),
            assets: storage::from_config(&config).await.expect("asset store"),
        };
        TestStack {
            backend: Backend::Embedded,
            api: String::new(),
            http: reqwest::Client::new(),
            store: backends.store.clone(),
            queue: backends.queue.clone(),
            assets: backends.assets.clone(),
            probe,
            config,
            services: Services::Embedded {
                backends,
                _data: data,
            },
            shutdown: CancellationToken::new(),
            tasks: JoinSet::new(),
        }
    }

    /// The embedded set's backends, which every service shares; `None` for the distributed
    /// set, where each service connects on its own as separate processes would.
    fn shared_backends(&self) -> Option<Backends> {
        match &self.services {
            Services::Embedded { backends, .. } => Some(backends.clone()),
            Services::Distributed { .. } => None,
        }
    }

    /// The listener is bound before the api task starts, so a request waits in its backlog
    /// until the api serves (or fails with it, if the api could not start).
    async fn wait_for_api(&self) {
        let reply = self
            .http
            .get(format!("{}/heartbeat", self.api))
            .send()
            .await;
        // Any answer will do: with basic auth on, it is a 401.
        reply.expect("the api answers");
    }

    /// Starts one more dispatcher (a test that needs the outbox held starts with none).
    pub fn start_dispatcher(&mut self) {
        let (config, shutdown) = (self.config.clone(), self.shutdown.clone());
        match self.shared_backends() {
            None => {
                self.tasks.spawn(crowd::run_dispatcher(config, shutdown));
            }
            Some(backends) => {
                self.tasks
                    .spawn(async move { crowd::dispatcher_on(&config, &backends, shutdown).await });
            }
        }
    }

    /// Starts one more worker, stopped by the token returned (its own, not the stack's).
    pub fn start_worker(&mut self, name: &str, configure: fn(&mut Config)) -> CancellationToken {
        let mut config = self.config.clone();
        config.node_name = Some(format!("{name}.{}", self.config.queue_prefix));
        configure(&mut config);
        let token = self.shutdown.child_token();
        match self.backend {
            Backend::Distributed => {
                self.tasks.spawn(crowd::run_worker(config, token.clone()));
            }
            Backend::Embedded => {
                let (queue, assets, stop) =
                    (self.queue.clone(), self.assets.clone(), token.clone());
                self.tasks
                    .spawn(async move { crowd::worker_on(&config, queue, assets, stop).await });
            }
        }
        token
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// Posts a job as CloudCrowd's clients do (form field `job`) and returns the reply's JSON.
    pub async fn post_job(&self, job: Value) -> Value {
        let reply = self
            .http
            .post(self.url("/jobs"))
            .form(&[("job", job.to_string())])
            .send()
            .await
            .expect("POST /jobs");
        let status = reply.status();
        let body: Value = reply.json().await.expect("job JSON");
        assert_eq!(status, 200, "POST /jobs answered {status}: {body}");
        body
    }

    /// `DELETE /jobs/:id`; its status.
    pub async fn delete_job(&self, id: i64) -> u16 {
        self.http
            .delete(self.url(&format!("/jobs/{id}")))
            .send()
            .await
            .expect("DELETE /jobs/:id")
            .status()
            .as_u16()
    }

    /// Waits until the job's callback has failed at least once; the error recorded.
    pub async fn wait_for_callback_error(&mut self, id: i64) -> String {
        self.wait_until("the callback to fail", async |stack: &Self| {
            stack
                .probe
                .text(
                    "SELECT COALESCE(callback_error, '') FROM jobs WHERE id = $1",
                    id,
                )
                .await
                .filter(|error| !error.is_empty())
        })
        .await
    }

    /// Posts a job as `post_job` does and returns its id.
    pub async fn post_id(&self, job: Value) -> i64 {
        self.post_job(job).await["id"].as_i64().expect("a job id")
    }

    pub async fn get_job(&self, id: i64) -> (u16, Value) {
        let reply = self
            .http
            .get(self.url(&format!("/jobs/{id}")))
            .send()
            .await
            .expect("GET /jobs/:id");
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }

    /// The job's first thousand units in unit order, as `GET /jobs/:id/units` lists them.
    pub async fn units(&self, job_id: i64) -> Vec<UnitView> {
        let first = Paging {
            page: 1,
            per_page: 1000,
        };
        let detail: Option<JobDetail> = self
            .store
            .job_detail(crowd_shared::JobId(job_id), first)
            .await
            .expect("units");
        detail.map(|d| d.units).unwrap_or_default()
    }

    /// The attempts of the job's units in unit order (all stages, or stage code `stage`).
    pub async fn attempts(&self, job_id: i64, stage: Option<i16>) -> Vec<i32> {
        self.units(job_id)
            .await
            .iter()
            .filter(|u| stage.is_none_or(|s| u.stage.code() == s))
            .map(|u| u.attempts)
            .collect()
    }

    /// The nodes `GET /status` lists now.
    pub async fn status_nodes(&self) -> Option<Vec<Value>> {
        let status: Value = self
            .http
            .get(self.url("/status"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        status["nodes"].as_array().cloned()
    }

    /// Waits, on the database's change events, until `done` says yes.
    pub async fn wait_until<T>(
        &mut self,
        what: &str,
        mut done: impl AsyncFnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(value) = done(self).await {
                return value;
            }
            match tokio::time::timeout_at(deadline, self.probe.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => panic!("the change events ended while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// Polls `done` until it says yes: for effects no database event announces (files in the
    /// asset store, messages in a queue).
    pub async fn eventually<T>(
        &self,
        what: &str,
        mut done: impl AsyncFnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(value) = done(self).await {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the job is complete and returns its JSON.
    pub async fn wait_for_job(&mut self, id: i64) -> Value {
        self.wait_until(&format!("job {id} to complete"), async |stack: &Self| {
            let (status, job) = stack.get_job(id).await;
            assert_eq!(status, 200, "job {id} vanished: {job}");
            matches!(job["status"].as_str(), Some("succeeded" | "failed")).then_some(job)
        })
        .await
    }

    /// Waits until `/status` lists one node, running nothing: what a stack of one worker shows
    /// once every unit it ran has ended (and not before, if the heartbeat is to be believed).
    pub async fn wait_for_idle_node(&mut self) {
        self.wait_until("the node to list no units", async |s: &Self| {
            let nodes = s.status_nodes().await?;
            (nodes.len() == 1 && nodes[0]["workers"] == serde_json::json!([])).then_some(())
        })
        .await
    }

    /// Waits until the job is gone.
    pub async fn wait_for_deletion(&mut self, id: i64) {
        self.wait_until(&format!("job {id} to be deleted"), async |stack: &Self| {
            (stack.get_job(id).await.0 == 404).then_some(())
        })
        .await
    }

    /// Connects the probe again, after the database server restarted under it.
    #[allow(dead_code)] // The fault tests restart the server; the end-to-end ones do not.
    pub async fn reconnect_probe(&mut self) {
        if let Probe::Postgres { .. } = self.probe {
            self.probe = Probe::postgres(&self.config.database_url).await;
        }
    }

    /// The statuses the job went through, in order (from the test's trigger).
    pub async fn status_history(&self, id: i64) -> Vec<i16> {
        self.probe.status_history(id).await
    }

    /// The JSON stored under `key` (a merge's input, a job's big options).
    pub async fn stored_json(&self, key: &str) -> Value {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        self.assets
            .fetch(key, file.path())
            .await
            .unwrap_or_else(|e| panic!("reading {key}: {e:#}"));
        serde_json::from_slice(&std::fs::read(file.path()).expect("read")).expect("JSON")
    }

    /// Keys of the files units stored under `prefix` (not what the dispatcher stored there
    /// for them: big options, a merge's input).
    pub async fn unit_files(&self, prefix: &str) -> Vec<String> {
        let mut keys = self.stored_keys(prefix).await;
        keys.retain(|key| key.contains("/unit_"));
        keys
    }

    /// Keys of the stored files under `prefix`, whichever asset store is in use.
    pub async fn stored_keys(&self, prefix: &str) -> Vec<String> {
        match self.config.storage {
            StorageKind::S3 => {
                let s3 = storage::s3_client(&self.config).await.expect("S3 client");
                let listing = s3
                    .list_objects_v2()
                    .bucket(self.config.s3_bucket.clone().expect("bucket"))
                    .prefix(prefix)
                    .send()
                    .await
                    .expect("list objects");
                listing
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from))
                    .collect()
            }
            StorageKind::Filesystem => {
                let root = &self.config.local_storage_path;
                let mut keys = Vec::new();
                let mut dirs = vec![root.join(prefix)];
                while let Some(dir) = dirs.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let path = entry.path();
                        if path.is_dir() {
                            dirs.push(path);
                        } else if let Ok(key) = path.strip_prefix(root) {
                            keys.push(key.to_string_lossy().into_owned());
                        }
                    }
                }
                keys
            }
        }
    }

    /// Stores `body` as an input file and returns the URL a job names it by: `s3://` on S3,
    /// `file://` on disk.
    pub async fn put_input(&self, key: &str, body: &str) -> String {
        let source = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(source.path(), body).expect("write input");
        self.put_input_file(key, source.path()).await
    }

    /// Stores the file at `path` as an input, as `put_input` does.
    pub async fn put_input_file(&self, key: &str, path: &std::path::Path) -> String {
        let url = self.assets.save(key, path).await.expect("save input");
        match self.config.storage {
            StorageKind::S3 => format!(
                "s3://{}/{key}",
                self.config.s3_bucket.clone().expect("bucket")
            ),
            StorageKind::Filesystem => url,
        }
    }

    /// Stops every service, removes what the stack made, then fails if a service failed.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let mut failures = Vec::new();
        while let Some(ended) = self.tasks.join_next().await {
            match ended {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("{e:#}")),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if let Services::Distributed {
            admin_url, db_name, ..
        } = &self.services
        {
            crate::broker::delete_queues(&self.config).await;
            if let Ok((client, conn)) = tokio_postgres::connect(admin_url, NoTls).await {
                tokio::spawn(conn);
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                    .await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.config.temp_storage_path);
        assert!(failures.is_empty(), "services failed: {failures:?}");
    }
}
