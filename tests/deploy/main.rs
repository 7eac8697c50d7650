//! Deployment defaults, on the `crowd` binary as operators run it: the api listens on this
//! machine only unless told otherwise, will not listen beyond it without a login (unless that is
//! deliberate), logs a wrong login with the client's address and never the password tried; and
//! `docker-compose.yml` publishes only the api (and MinIO for its links), on 127.0.0.1, with no
//! password of its own; the Kubernetes manifests pass their schemas and the project's checks.

#[path = "../e2e/s3_server.rs"]
mod s3_server;

use std::{
    io::Read,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A `crowd api` process on its own database; its log is kept.
struct Api {
    child: Child,
    port: u16,
}

/// A test that passes never reads the log, so the process would outlive it: stop it here.
impl Drop for Api {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("addr").port()
}

fn admin_url() -> String {
    std::env::var("CROWD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of the test's own, which the api creates and the test drops.
struct Database {
    name: String,
}

impl Database {
    fn new(test: &str) -> Database {
        Database {
            name: format!("crowd_test_deploy_{}_{test}", std::process::id()),
        }
    }

    fn url(&self) -> String {
        let mut url = url::Url::parse(&admin_url()).expect("database URL");
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = tokio::runtime::Runtime::new().map(|rt| {
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        });
        let _ = dropped;
    }
}

impl Api {
    fn start(db: &Database, args: &[&str], env: &[(&str, &str)]) -> Api {
        Api::start_part("api", "--port", db, args, env)
    }

    /// `crowd <part>` with `port_flag` set to a free port.
    fn start_part(
        part: &str,
        port_flag: &str,
        db: &Database,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Api {
        let port = free_port();
        let dir = tempfile::tempdir().expect("a working directory");
        let mut command = Command::new(env!("CARGO_BIN_EXE_crowd"));
        command
            .arg(part)
            .args([port_flag, &port.to_string()])
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("CROWD_DATABASE_URL", db.url())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start crowd");
        Api { child, port }
    }

    /// Waits until `host` answers on the api's port; `false` if the process exited first.
    fn answers_on(&mut self, host: &str) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            if std::net::TcpStream::connect((host, self.port)).is_ok() {
                return true;
            }
            if self.child.try_wait().expect("try_wait").is_some() {
                return false;
            }
            assert!(Instant::now() < deadline, "the api never answered");
            std::thread::sleep(Duration::from_millis(50)); // no event to wait on: a process starting
        }
    }

    /// Stops it and returns what it logged.
    fn log(mut self) -> String {
        self.child.kill().ok();
        self.child.wait().ok();
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut log).ok();
        }
        log
    }

    /// Waits for it to exit by itself; its status and log.
    fn exit(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "the api did not exit");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            stderr.read_to_string(&mut log).ok();
        }
        (status, log)
    }
}

#[test]
fn the_api_listens_on_this_machine_only_by_default() {
    let db = Database::new("default");
    let mut api = Api::start(&db, &[], &[]);
    assert!(api.answers_on("127.0.0.1"), "{}", api.log());
    // Another loopback address reaches every socket bound to all addresses, not this one.
    assert!(
        std::net::TcpStream::connect(("127.0.0.2", api.port)).is_err(),
        "the api listens beyond 127.0.0.1"
    );
    api.log();
}

#[test]
fn beyond_this_machine_the_api_needs_a_login_or_a_deliberate_choice() {
    let db = Database::new("login");
    let (status, log) = Api::start(&db, &["--host", "0.0.0.0"], &[]).exit();
    assert!(!status.success());
    assert!(log.contains("allow_anonymous"), "{log}");

    let mut anonymous = Api::start(
        &db,
        &["--host", "0.0.0.0"],
        &[("CROWD_ALLOW_ANONYMOUS", "true")],
    );
    assert!(anonymous.answers_on("127.0.0.2"));
    let log = anonymous.log();
    assert!(log.contains("OPEN TO ANYONE"), "{log}");

    let mut guarded = Api::start(
        &db,
        &["--host", "0.0.0.0"],
        &[
            ("CROWD_LOGIN", "crowd"),
            ("CROWD_PASSWORD", "right-password"),
        ],
    );
    assert!(guarded.answers_on("127.0.0.2"));
    let (code, body) = get(guarded.port, "/jobs", Some("crowd:hunter2-wrong"));
    assert_eq!(code, 401, "{body}");
    let log = guarded.log();
    assert!(log.contains("wrong credentials"), "{log}");
    assert!(log.contains("127.0.0.1"), "the client's address: {log}");
    assert!(!log.contains("hunter2"), "the password tried: {log}");
}

#[test]
fn the_compose_file_publishes_only_the_api_and_minio_on_this_machine() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/check_compose.py"))
        .arg(root.join("docker-compose.yml"))
        .arg(root.join("compose.admin.yml"))
        .output()
        .expect("python3 runs (with PyYAML: pip install pyyaml)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_kubernetes_manifests_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/check_manifests.py"))
        .arg(root.join("deploy/kubernetes"))
        .output()
        .expect("python3 runs (with kubernetes-validate: pip install kubernetes-validate)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// scripts/schemathesis.sh against the real `crowd api` on Postgres: every operation of
/// api/assets/openapi.json, with data made up from its schemas, must answer within the document
/// (status, content type, body) and never with a 5xx. Prints schemathesis' summary.
#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let db = Database::new("schemathesis");
    // Errors only: its log is read at the end, and thousands of requests' lines would fill the
    // pipe and stall the api before that.
    let mut api = Api::start(&db, &[], &[("RUST_LOG", "error")]);
    assert!(api.answers_on("127.0.0.1"), "{}", api.log());
    let out = Command::new("bash")
        .arg(root.join("scripts/schemathesis.sh"))
        .arg(format!("http://127.0.0.1:{}", api.port))
        // Enough to find what the full run of 400 found here, in half its time.
        .env("SCHEMATHESIS_EXAMPLES", "150")
        .output()
        .expect("bash runs scripts/schemathesis.sh");
    let summary = String::from_utf8_lossy(&out.stdout);
    println!("{summary}");
    assert!(
        out.status.success(),
        "schemathesis found failures (or is missing: pip install the version \
         scripts/schemathesis.sh names):\n{summary}{}\n--- the api's log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        api.log()
    );
}

/// `GET path` on 127.0.0.1:`port`, with basic auth `pair` if given: the status code and body.
fn get(port: u16, path: &str, pair: Option<&str>) -> (u16, String) {
    use base64::Engine;
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    // A process that has bound its port but serves nothing yet never answers.
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("a read timeout");
    let auth = pair
        .map(|pair| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            format!("Authorization: Basic {encoded}\r\n")
        })
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok();
    let code = reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string());
    (code, body.unwrap_or_default())
}

/// Asks `path` until it answers 200 (a process starting: no event to wait on); its body.
fn ready_body(part: &mut Api, path: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, body) = get(part.port, path, None);
        if code == 200 {
            return body;
        }
        if part.child.try_wait().expect("try_wait").is_some() || Instant::now() > deadline {
            panic!(
                "{path} never answered 200 (last {code} {body}): {}",
                std::mem::replace(part, dead()).log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn dead() -> Api {
    Api {
        child: Command::new("true").spawn().expect("true"),
        port: 0,
    }
}

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

#[test]
fn a_dispatcher_and_a_worker_serve_probes_and_metrics_on_their_own_port() {
    let db = Database::new("probes");
    let prefix = format!("crowd_test_probes_{}", std::process::id());
    let storage = tempfile::tempdir().expect("a storage dir");
    let storage = storage.path().to_str().expect("utf-8").to_string();
    let env = [
        ("AMQP_URL", amqp_url()),
        ("CROWD_QUEUE_PREFIX", prefix.clone()),
        ("CROWD_LOCAL_STORAGE_PATH", storage.clone()),
        ("CROWD_METRICS_LOGIN", "scraper".into()),
        ("CROWD_METRICS_PASSWORD", "scrape-secret".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for part in ["dispatcher", "worker"] {
        let mut process = Api::start_part(part, "--metrics-port", &db, &[], &env);
        let ready = ready_body(&mut process, "/readyz");
        assert!(ready.contains(r#""queue":"ok""#), "{part}: {ready}");
        if part == "dispatcher" {
            assert!(ready.contains(r#""store":"ok""#), "{part}: {ready}");
        } else {
            assert!(!ready.contains("store"), "a worker has no store: {ready}");
        }
        assert_eq!(get(process.port, "/healthz", None).0, 200, "{part}");
        assert_eq!(
            get(process.port, "/metrics", None).0,
            401,
            "{part}: metrics need the login"
        );
        let (code, metrics) = get(process.port, "/metrics", Some("scraper:scrape-secret"));
        assert_eq!(code, 200, "{part}: {metrics}");
        assert!(
            metrics.contains("process_resident_memory_bytes"),
            "{part}: {metrics}"
        );
        process.log();
    }
}

#[test]
fn an_api_that_cannot_reach_its_broker_is_still_ready_and_says_so() {
    let db = Database::new("broker_away");
    let closed = free_port();
    let mut api = Api::start(
        &db,
        &[],
        &[(
            "AMQP_URL",
            &format!("amqp://guest:guest@127.0.0.1:{closed}/%2f"),
        )],
    );
    // Jobs posted now wait in the outbox: the api stays in service.
    let body = ready_body(&mut api, "/readyz");
    assert!(body.contains(r#""store":"ok""#), "{body}");
    assert!(!body.contains(r#""queue":"ok""#), "{body}");
    api.log();
}

#[test]
fn with_no_keys_configured_s3_credentials_come_from_the_aws_chain() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let server = runtime.block_on(s3_server::S3Server::start());
    let home = tempfile::tempdir().expect("a home");
    let credentials = home.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            s3_server::ACCESS_KEY,
            s3_server::SECRET_KEY
        ),
    )
    .expect("a profile file");
    let db = Database::new("aws_chain");
    let credentials = credentials.to_str().expect("utf-8");
    let missing = home.path().join("config");
    let mut api = Api::start(
        &db,
        &[],
        &[
            ("CROWD_STORAGE", "s3"),
            ("S3_ENDPOINT", &server.endpoint),
            ("S3_BUCKET", "crowd-chain"),
            ("AWS_SHARED_CREDENTIALS_FILE", credentials),
            ("AWS_CONFIG_FILE", missing.to_str().expect("utf-8")),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    // The api serves once its store and its bucket answer, which takes the profile's keys.
    let ready = ready_body(&mut api, "/readyz");
    assert!(ready.contains(r#""store":"ok""#), "{ready}");
    api.log();
    drop(server);
}
