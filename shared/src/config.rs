//! Configuration: typed, read once at start-up from defaults, an optional TOML file and the
//! environment (the environment wins). Secrets never print.

use std::{fmt, path::PathBuf, time::Duration};

use anyhow::Context;
use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    outbound::{BadEntry, Outbound, Purpose},
    shown::redact_url,
    webhook::{BadSecret, SigningKey},
};

/// The default port of CloudCrowd's central server, kept so its clients work unchanged.
pub const DEFAULT_PORT: u16 = 9173;

/// The longest `idempotency_key_secs`: ten years.
pub const MAX_IDEMPOTENCY_KEY_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// Where actions' saved files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    Filesystem,
    S3,
}

/// What kind of URL `save` hands back for an S3 object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UrlStyle {
    /// A pre-signed GET URL (CloudCrowd's `s3_authentication`): works on a private bucket.
    Presigned,
    /// `<s3_public_url or endpoint/bucket>/<key>`: for a bucket readable by everyone.
    Public,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP API listens on: this machine only unless said otherwise.
    pub host: String,
    /// Port of the HTTP API.
    pub port: u16,
    pub database_url: String,
    /// Connections in each service's Postgres pool.
    pub db_pool_size: usize,
    pub amqp_url: String,
    /// Prefix of every queue name, so several installations (or tests) share one broker.
    pub queue_prefix: String,
    /// Total attempts a work unit gets before it fails for good (CloudCrowd's meaning).
    pub work_unit_retries: u32,
    /// Units a worker runs at once; also its prefetch, so it never holds more than it runs.
    pub max_workers: u16,
    /// Actions this worker consumes; empty means every registered action.
    #[serde(deserialize_with = "list_or_csv")]
    pub actions: Vec<String>,
    /// Actions this worker never consumes.
    #[serde(deserialize_with = "list_or_csv")]
    pub disabled_actions: Vec<String>,
    /// `text` (the default) or `json`: one JSON object per log line.
    pub log_format: crate::telemetry::LogFormat,
    /// A worker takes no new units while the machine's 1-minute load average is above this.
    pub max_load: Option<f64>,
    /// A worker takes no new units while the machine's available memory, in megabytes, is
    /// below this.
    pub min_free_memory: Option<u64>,
    /// Directories of executable actions (any language; see the README's "Actions in any
    /// language"), beside the built-in ones.
    #[serde(deserialize_with = "list_or_csv")]
    pub actions_path: Vec<PathBuf>,
    /// This worker's name in `/status`; defaults to `hostname:pid`.
    pub node_name: Option<String>,
    /// A free label shown beside the node in `/status`.
    pub node_tag: Option<String>,
    /// Seconds between worker heartbeats; a node unheard for three of them is gone.
    pub heartbeat_secs: u64,
    pub storage: StorageKind,
    /// Root of the filesystem asset store.
    pub local_storage_path: PathBuf,
    /// Root of the workers' scratch directories.
    pub temp_storage_path: PathBuf,
    /// Directories `file://` inputs may be read from. Empty by default for the distributed
    /// services, so a job cannot read a worker's private files.
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_file_roots: Vec<PathBuf>,
    /// Networks (CIDRs, addresses) and host names that downloads and callbacks may reach
    /// although they are local: loopback, private, link-local, unique-local, multicast and
    /// unspecified addresses are refused otherwise (see `outbound`), so a job cannot make a
    /// worker or a dispatcher reach what only they can. Empty by default for the distributed
    /// services; `crowd up` on a loopback address opens loopback and the private networks.
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_networks: Vec<String>,
    /// Buckets other than `s3_bucket` that `s3://` inputs may be read from. Empty by default,
    /// so a job cannot read what else the workers' S3 credentials can.
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_buckets: Vec<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_bucket: Option<String>,
    pub s3_path_style: bool,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
    /// With temporary keys (an assumed role's), their session token.
    pub aws_session_token: Option<Secret>,
    pub s3_url_style: UrlStyle,
    /// S3 as users reach it, when the services reach it under another name (MinIO beside
    /// them, say): with `s3_url_style = presigned`, the endpoint URLs are signed for; with
    /// `public`, the base of the URLs (`<base>/<key>`). Workers read such URLs of the store's
    /// own bucket through S3 itself, not through this address.
    pub s3_public_url: Option<String>,
    /// Lifetime of pre-signed URLs, in seconds (CloudCrowd's was 24 h).
    pub s3_presign_secs: u64,
    /// HTTP basic auth for every API route, when both are set.
    pub login: Option<String>,
    /// Host names (no port) the api answers to; any when empty. `crowd up` on a loopback
    /// address sets the loopback names, so a page that rebinds its own DNS name to 127.0.0.1
    /// cannot reach the api.
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_hosts: Vec<String>,
    pub password: Option<Secret>,
    /// Lets the api listen beyond this machine with no login (something in front of it must
    /// check who comes in).
    pub allow_anonymous: bool,
    /// Largest `POST /jobs` body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Most inputs one job may have.
    pub max_inputs: usize,
    /// Timeout of one callback POST, in seconds: the whole request, connecting to the end of
    /// the reply's head.
    pub callback_timeout_secs: u64,
    /// The key callbacks are signed with (Standard Webhooks: `whsec_` + base64 of at least 24
    /// bytes). Unset: callbacks carry no `webhook-signature`, and the dispatcher says so when
    /// it starts.
    pub callback_secret: Option<Secret>,
    /// First wait before a failed callback is retried, in milliseconds; it doubles each time.
    pub callback_backoff_ms: u64,
    /// How long failed callbacks keep being retried, in seconds, before they are given up.
    pub callback_retry_secs: u64,
    /// Timeout of one input download, in seconds.
    pub download_timeout_secs: u64,
    /// Largest input a worker downloads, in bytes. A bigger one fails its unit for good (a
    /// retry would fetch the same bytes), so one oversized input cannot fill a worker's disk
    /// or hold it for the whole `download_timeout_secs`.
    pub max_download_bytes: u64,
    /// How long a stopping worker lets running units finish, in seconds.
    pub shutdown_grace_secs: u64,
    /// Longest one stage may run, in seconds (download included); a stage that takes longer
    /// fails its attempt, which is retried like any other failure. 0: no limit. The default is
    /// below RabbitMQ's `consumer_timeout` (30 minutes), past which the broker would close the
    /// worker's channel instead.
    pub unit_timeout_secs: u64,
    /// Outputs a job's JSON lists at most; a job with more says how many and pages the rest
    /// (`GET /jobs/:id/outputs`).
    pub max_listed_outputs: i64,
    /// Largest message sent through the queue, in bytes: a unit's work message or a stage's
    /// result. Below RabbitMQ's own limit (16 MiB in 4.x), so what is too big fails its unit
    /// with a message instead of closing a channel.
    pub max_message_bytes: u64,
    /// Fallback poll of the outbox when no notification arrives, in milliseconds.
    pub poll_interval_ms: u64,
    /// A unit queued this long (seconds) that is neither in its queue nor running on a live
    /// worker was lost by the broker (a purge, a lost disk): it is published again.
    pub lost_unit_secs: u64,
    /// How long an `Idempotency-Key` of `POST /jobs` names the job it created, in seconds;
    /// after that the key is forgotten and may make a new job. 0: keys are not kept at all.
    pub idempotency_key_secs: u64,
    /// Where the dispatcher's and the worker's own listener serves `/metrics`, `/healthz` and
    /// `/readyz` (the api serves them on its own port): this machine only unless said
    /// otherwise. No listener when `metrics_port` is unset.
    pub metrics_host: String,
    pub metrics_port: Option<u16>,
    /// HTTP basic auth for `/metrics`, when both are set; otherwise the api's `login` and
    /// `password` guard it, when they are set.
    pub metrics_login: Option<String>,
    pub metrics_password: Option<Secret>,
    /// The kind of work queues declared on RabbitMQ: `classic` (the default) or `quorum`
    /// (replicated; what a RabbitMQ cluster should use).
    pub queue_type: QueueType,
    /// Quorum queues only: deliveries of one unit's message before the broker gives up on it;
    /// the dispatcher then fails the unit, saying so. A backstop: a worker that dies running a
    /// unit makes it fail after `work_unit_retries` runs long before this.
    pub queue_delivery_limit: u32,
}

/// The kind of RabbitMQ queue that holds each action's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    Classic,
    Quorum,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            database_url: "postgres://postgres@127.0.0.1:5432/crowd".into(),
            db_pool_size: 16,
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            queue_prefix: "crowd".into(),
            work_unit_retries: 3,
            max_workers: 5,
            actions: Vec::new(),
            disabled_actions: Vec::new(),
            actions_path: Vec::new(),
            log_format: crate::telemetry::LogFormat::Text,
            max_load: None,
            min_free_memory: None,
            node_name: None,
            node_tag: None,
            heartbeat_secs: 5,
            storage: StorageKind::Filesystem,
            local_storage_path: PathBuf::from("/tmp/cloud_crowd_storage"),
            temp_storage_path: std::env::temp_dir().join("cloud_crowd_tmp"),
            allowed_file_roots: Vec::new(),
            allowed_networks: Vec::new(),
            allowed_buckets: Vec::new(),
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: None,
            s3_path_style: true,
            aws_access_key_id: None,
            aws_secret_access_key: None,
            aws_session_token: None,
            s3_url_style: UrlStyle::Presigned,
            s3_public_url: None,
            s3_presign_secs: 24 * 60 * 60,
            login: None,
            allowed_hosts: Vec::new(),
            password: None,
            allow_anonymous: false,
            max_body_bytes: 16 * 1024 * 1024,
            max_inputs: 100_000,
            callback_timeout_secs: 30,
            callback_secret: None,
            callback_backoff_ms: 1_000,
            callback_retry_secs: 60 * 60,
            download_timeout_secs: 300,
            max_download_bytes: 1024 * 1024 * 1024,
            shutdown_grace_secs: 25,
            unit_timeout_secs: 25 * 60,
            max_message_bytes: 8 * 1024 * 1024,
            max_listed_outputs: crate::job_view::MAX_LISTED_OUTPUTS,
            poll_interval_ms: 2_000,
            lost_unit_secs: 300,
            idempotency_key_secs: 24 * 60 * 60,
            metrics_host: "127.0.0.1".into(),
            metrics_port: None,
            metrics_login: None,
            metrics_password: None,
            queue_type: QueueType::Classic,
            queue_delivery_limit: 20,
        }
    }
}

/// Conventional variable names read without the `CROWD_` prefix.
const PLAIN_ENV: &[&str] = &[
    "DATABASE_URL",
    "AMQP_URL",
    "S3_ENDPOINT",
    "S3_BUCKET",
    "S3_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

impl Config {
    /// Defaults, then `file` (or `crowd.toml` if it exists), then the plain variables above,
    /// then `CROWD_<FIELD>` variables.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let path = match file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "config file {} not found", path.display());
                path
            }
            None => std::path::Path::new("crowd.toml"),
        };
        let toml = Toml::file(path);
        refuse_unknown_keys(&toml, path)?;
        Figment::from(Serialized::defaults(Config::default()))
            .merge(toml)
            .merge(Env::raw().only(PLAIN_ENV).map(|key| match key.as_str() {
                "aws_region" => "s3_region".into(),
                _ => key.into(),
            }))
            .merge(Env::prefixed("CROWD_"))
            .extract::<Config>()
            .context("reading configuration")?
            .validated()
    }

    /// Refuses settings that would silently do something else than asked.
    pub fn validated(self) -> anyhow::Result<Config> {
        anyhow::ensure!(
            self.login.is_some() == self.password.is_some(),
            "basic auth needs both `login` and `password` (CROWD_LOGIN, CROWD_PASSWORD), not one"
        );
        anyhow::ensure!(
            self.work_unit_retries >= 1,
            "`work_unit_retries` must be at least 1"
        );
        anyhow::ensure!(self.max_workers >= 1, "`max_workers` must be at least 1");
        // Past this the stores' interval arithmetic would fail every post with a key.
        anyhow::ensure!(
            self.idempotency_key_secs <= MAX_IDEMPOTENCY_KEY_SECS,
            "`idempotency_key_secs` may be at most {MAX_IDEMPOTENCY_KEY_SECS} (ten years)"
        );
        // Read here, so a typo stops every service at start rather than its first request.
        Outbound::new(&self.allowed_networks, Purpose::Downloads)?;
        self.callback_key()?;
        Ok(self)
    }

    /// Basic-auth credentials, when both halves are configured.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match (&self.login, &self.password) {
            (Some(login), Some(password)) => Some((login, password.expose())),
            _ => None,
        }
    }

    /// Who may read `/metrics`: `metrics_login` when it is set, the api's login otherwise.
    pub fn metrics_credentials(&self) -> Option<(&str, &str)> {
        match (&self.metrics_login, &self.metrics_password) {
            (Some(login), Some(password)) => Some((login, password.expose())),
            _ => self.credentials(),
        }
    }

    /// The rule downloads (or callbacks) go by: `allowed_networks` opened.
    pub fn outbound(&self, purpose: Purpose) -> Result<Outbound, BadEntry> {
        Outbound::new(&self.allowed_networks, purpose)
    }

    /// The key callbacks are signed with, when `callback_secret` is set.
    pub fn callback_key(&self) -> Result<Option<SigningKey>, BadSecret> {
        self.callback_secret
            .as_ref()
            .map(|secret| SigningKey::from_secret(secret.expose()))
            .transpose()
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.max(1))
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    /// The effective configuration as JSON, secrets redacted: `Secret`s print as asterisks,
    /// and every URL (`database_url`, `amqp_url`, `s3_endpoint`, ...) loses its credentials
    /// and the values of its secret query parameters (see `shown::redact_url`).
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(fields) = &mut value {
            for field in fields.values_mut() {
                if let serde_json::Value::String(text) = field {
                    if text.contains("://") {
                        *text = redact_url(text);
                    }
                }
            }
        }
        value
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.redacted_json())
    }
}

/// A misspelt key would otherwise leave its setting at the default without a word.
fn refuse_unknown_keys(
    toml: &figment::providers::Data<Toml>,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let known = serde_json::to_value(Config::default()).context("listing the settings")?;
    let given: std::collections::BTreeMap<String, figment::value::Value> = Figment::from(toml)
        .extract()
        .with_context(|| format!("reading {}", path.display()))?;
    let unknown: Vec<&str> = given
        .keys()
        .map(String::as_str)
        .filter(|key| known.get(key).is_none())
        .collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "{} has unknown settings: {} (see `crowd config` for the known ones)",
        path.display(),
        unknown.join(", ")
    );
    Ok(())
}

/// A value that must not appear in logs or printed configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("********")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The environment provider turns "12345" into a number; a password is still a string.
        Ok(Secret(scalar_to_string(serde_json::Value::deserialize(
            deserializer,
        )?)))
    }
}

fn scalar_to_string(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Accepts a list or a comma-separated string (as environment variables give it).
fn list_or_csv<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    let items: Vec<String> = match value {
        serde_json::Value::Array(items) => items.into_iter().map(scalar_to_string).collect(),
        serde_json::Value::Null => Vec::new(),
        other => scalar_to_string(other)
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
    };
    Ok(items
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(T::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_passwords_are_redacted() {
        let config = Config {
            password: Some(Secret::new("hunter2")),
            database_url: "postgres://u:pw@db/crowd?sslmode=require&password=hunter3".into(),
            s3_public_url: Some("https://cdn.example.com/files?sig=hunter4".into()),
            callback_secret: Some(Secret::new("whsec_hunter5")),
            ..Config::default()
        };
        let printed = format!("{config:?}");
        for secret in ["hunter2", ":pw@", "hunter3", "hunter4", "hunter5"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("sslmode=require"), "{printed}");
    }

    #[test]
    fn bad_allowed_networks_and_callback_secrets_stop_the_start() {
        let config = Config {
            allowed_networks: vec!["10.0.0.0/8".into(), "10.0.0.0/99".into()],
            ..Config::default()
        };
        let err = format!("{:#}", config.validated().expect_err("refused"));
        assert!(err.contains("10.0.0.0/99"), "{err}");
        let config = Config {
            callback_secret: Some(Secret::new("whsec_dG9vIHNob3J0")),
            ..Config::default()
        };
        let err = format!("{:#}", config.validated().expect_err("refused"));
        assert!(err.contains("callback_secret"), "{err}");
    }

    #[test]
    fn half_configured_auth_is_refused() {
        let config = Config {
            login: Some("crowd".into()),
            ..Config::default()
        };
        assert!(config.validated().is_err());
    }

    #[test]
    fn an_idempotency_retention_beyond_ten_years_is_refused() {
        let at_most = Config {
            idempotency_key_secs: MAX_IDEMPOTENCY_KEY_SECS,
            ..Config::default()
        };
        assert!(at_most.validated().is_ok());
        let beyond = Config {
            idempotency_key_secs: MAX_IDEMPOTENCY_KEY_SECS + 1,
            ..Config::default()
        };
        assert!(beyond.validated().is_err());
    }

    #[test]
    fn unknown_keys_in_the_file_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("crowd.toml");
        std::fs::write(
            &path,
            "max_workers = 2\nmax_wrokers = 3\nunit_timeout = 5\n",
        )
        .expect("write");
        let err = format!("{:#}", Config::load(Some(&path)).expect_err("refused"));
        assert!(err.contains("max_wrokers, unit_timeout"), "{err}");
        std::fs::write(&path, "max_workers = 2\n").expect("write");
        assert_eq!(Config::load(Some(&path)).expect("loads").max_workers, 2);
    }

    #[test]
    fn lists_accept_comma_separated_strings() {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(("actions", "word_count, failure_testing"))
            .extract()
            .expect("valid config");
        assert_eq!(config.actions, vec!["word_count", "failure_testing"]);
    }
}
