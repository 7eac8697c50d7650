//! `TestStack`: the whole system in-process against the real Postgres, RabbitMQ and an S3
//! server of the test's own. Each stack owns its database, its queue names and its bucket, so
//! tests run side by side; it waits on database notifications, never on sleeps.

use std::{
    str::FromStr,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use crowd::shared::{config::StorageKind, db, shutdown::CancellationToken, Config, Secret};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::{sync::mpsc, task::JoinSet};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::s3_server::{S3Server, ACCESS_KEY, SECRET_KEY};

/// How long any one wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(90);

static NEXT: AtomicUsize = AtomicUsize::new(0);

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

pub struct TestStack {
    /// Base URL of the api.
    pub api: String,
    pub http: reqwest::Client,
    /// The test's own connection to the stack's database.
    pub db: tokio_postgres::Client,
    pub s3: aws_sdk_s3::Client,
    pub config: Config,
    events: mpsc::UnboundedReceiver<String>,
    shutdown: CancellationToken,
    services: JoinSet<anyhow::Result<()>>,
    admin_url: String,
    db_name: String,
    _s3_server: S3Server,
}

fn admin_url() -> String {
    std::env::var("CROWD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

impl TestStack {
    pub async fn start() -> TestStack {
        TestStack::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> TestStack {
        if std::env::var("RUST_LOG").is_ok() {
            crowd::shared::telemetry::init();
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("t{}_{n}", std::process::id());
        let admin_url = admin_url();
        let db_name = format!("crowd_test_{id}");
        let mut pg =
            tokio_postgres::Config::from_str(&admin_url).expect("CROWD_TEST_DATABASE_URL parses");
        pg.dbname(&db_name);
        let database_url = pg_url(&admin_url, &db_name);

        let s3_server = S3Server::start().await;
        let scratch = std::env::temp_dir().join(format!("crowd_test_scratch_{id}"));
        let mut config = Config {
            database_url: database_url.clone(),
            db_pool_size: 8,
            amqp_url: amqp_url(),
            queue_prefix: format!("crowd_test_{id}"),
            storage: StorageKind::S3,
            s3_endpoint: Some(s3_server.endpoint.clone()),
            s3_bucket: Some(format!("crowd-test-{}", id.replace('_', "-"))),
            aws_access_key_id: Some(ACCESS_KEY.into()),
            aws_secret_access_key: Some(Secret::new(SECRET_KEY)),
            temp_storage_path: scratch,
            heartbeat_secs: 1,
            max_workers: 4,
            callback_backoff_ms: 50,
            shutdown_grace_secs: 5,
            ..Config::default()
        };
        (options.configure)(&mut config);

        db::migrate(&database_url).await.expect("migrations apply");
        let (db, events) = connect_with_events(&database_url).await;
        db.batch_execute(TEST_EVENTS_SQL)
            .await
            .expect("install the test's job event trigger");

        let shutdown = CancellationToken::new();
        let mut services = JoinSet::new();
        let listener = crowd::bind_api("127.0.0.1", 0).await.expect("bind the api");
        let api = format!("http://{}", listener.local_addr().expect("api addr"));
        services.spawn(crowd::run_api(config.clone(), listener, shutdown.clone()));
        for _ in 0..options.dispatchers {
            services.spawn(crowd::run_dispatcher(config.clone(), shutdown.clone()));
        }
        for w in 0..options.workers {
            let mut worker_config = config.clone();
            worker_config.node_name = Some(format!("worker-{w}.{id}"));
            services.spawn(crowd::run_worker(worker_config, shutdown.clone()));
        }
        let s3 = crowd::shared::storage::s3_client(&config).expect("S3 client");
        let stack = TestStack {
            api,
            http: reqwest::Client::new(),
            db,
            s3,
            config,
            events,
            shutdown,
            services,
            admin_url,
            db_name,
            _s3_server: s3_server,
        };
        stack.wait_for_api().await;
        stack
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

    /// Starts one more worker, stopped by the token returned (its own, not the stack's).
    pub fn start_worker(&mut self, name: &str, configure: fn(&mut Config)) -> CancellationToken {
        let mut config = self.config.clone();
        config.node_name = Some(format!("{name}.{}", self.config.queue_prefix));
        configure(&mut config);
        let token = self.shutdown.child_token();
        self.services
            .spawn(crowd::run_worker(config, token.clone()));
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

    /// A store on the stack's database, for tests that drive the dispatcher's logic directly.
    pub fn store(&self) -> crowd::shared::store::PgStore {
        crowd::shared::store::PgStore::new(&self.config.database_url, 4).expect("store")
    }

    /// The attempts of the job's units in unit order (all stages, or stage code `stage`).
    pub async fn attempts(&self, job_id: i64, stage: Option<i16>) -> Vec<i32> {
        self.db
            .query(
                "SELECT attempts FROM work_units WHERE job_id = $1 AND ($2::int2 IS NULL OR stage = $2)
                 ORDER BY id",
                &[&job_id, &stage],
            )
            .await
            .expect("units")
            .iter()
            .map(|r| r.get(0))
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

    /// Waits, on the job's change notifications, until `done` says yes.
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
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the event connection closed while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
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

    /// Waits until the job's row is gone.
    pub async fn wait_for_deletion(&mut self, id: i64) {
        self.wait_until(&format!("job {id} to be deleted"), async |stack: &Self| {
            let rows = stack
                .db
                .query("SELECT 1 FROM jobs WHERE id = $1", &[&id])
                .await
                .expect("query jobs");
            rows.is_empty().then_some(())
        })
        .await
    }

    /// The statuses the job went through, in order (from the test's trigger).
    pub async fn status_history(&self, id: i64) -> Vec<i16> {
        self.db
            .query(
                "SELECT status FROM test_status_log WHERE job_id = $1 ORDER BY seq",
                &[&id],
            )
            .await
            .expect("status log")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    pub async fn bucket_keys(&self, prefix: &str) -> Vec<String> {
        let bucket = self.config.s3_bucket.clone().expect("bucket");
        let listing = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
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

    pub async fn put_object(&self, key: &str, body: &str) -> String {
        let bucket = self.config.s3_bucket.clone().expect("bucket");
        self.s3
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put object");
        format!("s3://{bucket}/{key}")
    }

    /// Stops every service, then drops the database and the queues.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while let Some(ended) = self.services.join_next().await {
            ended.expect("service task").expect("service ended cleanly");
        }
        delete_queues(&self.config).await;
        if let Ok((client, conn)) = tokio_postgres::connect(&self.admin_url, NoTls).await {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.db_name
                ))
                .await;
        }
        let _ = std::fs::remove_dir_all(&self.config.temp_storage_path);
    }
}

/// Logs every status a job takes and notifies the test of every change to a job, a unit or a
/// node.
const TEST_EVENTS_SQL: &str = "
CREATE TABLE test_status_log (seq BIGSERIAL PRIMARY KEY, job_id BIGINT NOT NULL, status SMALLINT NOT NULL);
CREATE FUNCTION test_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('test_events', 'deleted');
    RETURN OLD;
  END IF;
  IF TG_OP = 'INSERT' OR NEW.status <> OLD.status THEN
    INSERT INTO test_status_log (job_id, status) VALUES (NEW.id, NEW.status);
  END IF;
  PERFORM pg_notify('test_events', NEW.id::text);
  RETURN NEW;
END $$;
CREATE TRIGGER test_job_event AFTER INSERT OR UPDATE OR DELETE ON jobs
  FOR EACH ROW EXECUTE FUNCTION test_job_event();
CREATE FUNCTION test_node_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('test_events', 'node');
  RETURN NULL;
END $$;
CREATE TRIGGER test_node_event AFTER INSERT OR UPDATE OR DELETE ON nodes
  FOR EACH STATEMENT EXECUTE FUNCTION test_node_event();
CREATE TRIGGER test_unit_event AFTER INSERT OR UPDATE OR DELETE ON work_units
  FOR EACH STATEMENT EXECUTE FUNCTION test_node_event();
LISTEN test_events;
";

async fn connect_with_events(
    url: &str,
) -> (tokio_postgres::Client, mpsc::UnboundedReceiver<String>) {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the test database");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.payload().to_string());
            }
        }
    });
    (client, rx)
}

fn pg_url(admin_url: &str, db_name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("database URL");
    url.set_path(&format!("/{db_name}"));
    url.to_string()
}

async fn delete_queues(config: &Config) {
    let names = crowd::shared::amqp::QueueNames::new(&config.queue_prefix);
    let Ok(conn) = crowd::shared::amqp::connect(&config.amqp_url, "crowd test cleanup").await
    else {
        return;
    };
    let Ok(channel) = conn.create_channel().await else {
        return;
    };
    let mut queues = vec![names.completions(), names.heartbeats()];
    queues.extend(
        crowd::worker::Registry::builtin()
            .names()
            .map(|a| names.work(a)),
    );
    for queue in queues {
        let _ = channel
            .queue_delete(queue.as_str().into(), Default::default())
            .await;
    }
    let _ = conn.close(200, "done".into()).await;
}
