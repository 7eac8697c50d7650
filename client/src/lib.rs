//! A typed client of CloudCrowd's HTTP API (this project's, and the original's): one method
//! per route, replies as Rust types, and every failure as a [`ClientError`] that says whether
//! trying again may help. The `crowd` command line is built on it.
//!
//! ```no_run
//! use crowd_client::{parse_base_url, Client, Job};
//! use serde_json::json;
//!
//! # async fn example() -> Result<(), crowd_client::ClientError> {
//! let client = Client::new(parse_base_url("127.0.0.1:9173").expect("a URL"))?
//!     .with_login("crowd", "s3cret");
//! let job: Job = client
//!     .submit(&json!({"action": "word_count", "inputs": ["one two three"]}), "my-job-1")
//!     .await?;
//! let done = client.wait_for(job.id, std::time::Duration::from_millis(200)).await?;
//! println!("job {} {}: {:?}", done.id, done.status, done.outputs);
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

pub use reqwest::Url;
use reqwest::{RequestBuilder, StatusCode};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::Value;

/// Long enough for a busy api, short enough that a wrong `--api` does not hang the terminal.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A job as the api shows it. `action` and `created_at` come only from `GET /jobs` and
/// `GET /jobs/:id/units`.
#[derive(Debug, Deserialize)]
pub struct Job {
    pub id: u64,
    pub status: String,
    pub percent_complete: i64,
    /// Units not yet complete.
    pub work_units: i64,
    /// Seconds.
    pub time_taken: f64,
    pub outputs: Option<Value>,
    pub action: Option<String>,
}

impl Job {
    pub fn is_complete(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed")
    }
}

/// `GET /jobs`.
#[derive(Debug, Deserialize)]
pub struct JobsPage {
    pub jobs: Vec<Job>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

/// `GET /jobs/:id/units`: the job and the first page of its units.
#[derive(Debug, Deserialize)]
pub struct JobUnits {
    pub job: Job,
    pub units: Vec<Unit>,
    /// Units on every page (an api before paging sent them all, and no total).
    pub total: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Unit {
    pub id: u64,
    pub stage: String,
    pub status: String,
    pub attempts: i64,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    /// Seconds the unit took, once it ended.
    pub time: Option<f64>,
}

/// `GET /status`.
#[derive(Debug, Deserialize)]
pub struct Status {
    pub nodes: Vec<Node>,
    pub job_count: i64,
    pub work_unit_count: i64,
}

#[derive(Debug, Deserialize)]
pub struct Node {
    pub host: String,
    pub tag: Option<String>,
    /// Ids of the units the node is running.
    pub workers: Vec<i64>,
    pub max_workers: i64,
    pub status: String,
}

/// The filter and page of `GET /jobs`.
pub struct JobsQuery {
    pub status: Option<String>,
    pub page: u32,
    pub per_page: u32,
}

/// The `{"error", "message"}` body of every api error.
#[derive(Deserialize)]
struct ApiErrorBody {
    message: String,
}

/// The api at one base URL, with its login if it asks for one.
pub struct Client {
    http: reqwest::Client,
    /// Ends with `/`, so route paths join under it (an api behind a path prefix works too).
    base: Url,
    user: Option<String>,
    password: Option<String>,
}

impl Client {
    /// The api at `base` (see [`parse_base_url`]), with no login.
    pub fn new(base: Url) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Unreachable {
                api: base.to_string(),
                cause: root_cause(&e),
            })?;
        Ok(Client {
            http,
            base,
            user: None,
            password: None,
        })
    }

    /// Sends the api's basic-auth login (its `login` and `password`) with every request.
    pub fn with_login(self, user: impl Into<String>, password: impl Into<String>) -> Client {
        Client {
            user: Some(user.into()),
            password: Some(password.into()),
            ..self
        }
    }

    /// Polls the job every `poll` until it has succeeded or failed, and returns it then.
    pub async fn wait_for(&self, id: u64, poll: Duration) -> Result<Job, ClientError> {
        loop {
            let job: Job = self.job(id).await?;
            if job.is_complete() {
                return Ok(job);
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// `POST /jobs` with the job as a JSON body, once. `key` (its `Idempotency-Key`) makes
    /// posting it again safe: the api answers the job the key made, if it made one.
    pub async fn submit(&self, job: &Value, key: &str) -> Result<Job, ClientError> {
        let url = self.url(&["jobs"]);
        let request = self.http.post(url).header(IDEMPOTENCY_KEY, key).json(job);
        decode(self.send(request).await?)
    }

    /// `POST /jobs` with the job as a JSON body and no `Idempotency-Key`, as CloudCrowd's own
    /// clients post: the api keeps nothing of the post but the job. Not safe to send again.
    pub async fn submit_unkeyed(&self, job: &Value) -> Result<Job, ClientError> {
        let request = self.http.post(self.url(&["jobs"])).json(job);
        decode(self.send(request).await?)
    }

    /// `GET /jobs/:id`.
    pub async fn job<T: DeserializeOwned>(&self, id: u64) -> Result<T, ClientError> {
        decode(self.get(self.url(&["jobs", &id.to_string()])).await?)
    }

    /// `GET /jobs/:id/units`.
    pub async fn units<T: DeserializeOwned>(&self, id: u64) -> Result<T, ClientError> {
        let url = self.url(&["jobs", &id.to_string(), "units"]);
        decode(self.get(url).await?)
    }

    /// `GET /jobs?status=&page=&per_page=`, newest first.
    pub async fn jobs<T: DeserializeOwned>(&self, query: &JobsQuery) -> Result<T, ClientError> {
        let mut url = self.url(&["jobs"]);
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(status) = &query.status {
                pairs.append_pair("status", status);
            }
            pairs.append_pair("page", &query.page.to_string());
            pairs.append_pair("per_page", &query.per_page.to_string());
        }
        decode(self.get(url).await?)
    }

    /// `GET /status`.
    pub async fn status<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        decode(self.get(self.url(&["status"])).await?)
    }

    /// `POST /jobs/:id/retry`: a failed job's failed units run again; the job as it is then.
    /// `Refused` when the job has not failed.
    pub async fn retry(&self, id: u64) -> Result<Job, ClientError> {
        let url = self.url(&["jobs", &id.to_string(), "retry"]);
        decode(self.send(self.http.post(url)).await?)
    }

    /// `DELETE /jobs/:id`: the job, its units and its stored files.
    pub async fn cancel(&self, id: u64) -> Result<(), ClientError> {
        let url = self.url(&["jobs", &id.to_string()]);
        self.send(self.http.delete(url)).await?;
        Ok(())
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn get(&self, url: Url) -> Result<Vec<u8>, ClientError> {
        self.send(self.http.get(url)).await
    }

    /// Sends with the credentials, if any; a reply other than 2xx becomes its message.
    async fn send(&self, request: RequestBuilder) -> Result<Vec<u8>, ClientError> {
        let request = match &self.user {
            Some(user) => request.basic_auth(user, self.password.as_ref()),
            None => request,
        };
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            api: self.base.to_string(),
            cause: root_cause(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(api_error(status, &body))
        }
    }
}

/// Why a request failed, for callers that act on it (a poll retries an unreachable api).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No reply: refused, reset or timed out (the request may or may not have been handled).
    #[error("cannot reach the api at {api}: {cause}")]
    Unreachable { api: String, cause: String },
    /// 502, 503 or 504: the api (or a proxy in front of it) cannot answer now.
    #[error("{0}")]
    Unavailable(String),
    /// 404: the job (or route) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 401: the api asks for a login, or another one.
    #[error("{0} (the api asks for a login)")]
    Unauthorized(String),
    #[error("{0}")]
    Refused(String),
    /// A reply this client does not understand (an api of another version).
    #[error("the api's reply is not what this client understands: {0}")]
    Undecodable(String),
}

/// The api's own words when it gave them (`{"error", "message"}`), else the status.
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = match serde_json::from_slice::<ApiErrorBody>(body) {
        Ok(error) => error.message,
        Err(_) => format!("the api answered {status}"),
    };
    match status {
        StatusCode::NOT_FOUND => ClientError::NotFound(message),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            ClientError::Unavailable(message)
        }
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized(message),
        _ => ClientError::Refused(message),
    }
}

fn decode<T: DeserializeOwned>(body: Vec<u8>) -> Result<T, ClientError> {
    serde_json::from_slice(&body).map_err(|e| ClientError::Undecodable(e.to_string()))
}

/// The innermost error ("Connection refused"), not reqwest's layers around it.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// `--api`: a base URL; `host:port` alone means `http://host:port`.
pub fn parse_base_url(raw: &str) -> Result<Url, String> {
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the api is reached over http:// or https://".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_and_port_alone_is_an_http_url() {
        let url = parse_base_url("localhost:9173").expect("valid");
        assert_eq!(url.as_str(), "http://localhost:9173/");
    }

    #[test]
    fn routes_join_under_a_path_prefix() {
        let client = Client::new(parse_base_url("http://example.com/crowd/").expect("valid"))
            .expect("client");
        assert_eq!(
            client.url(&["jobs", "7", "units"]).as_str(),
            "http://example.com/crowd/jobs/7/units"
        );
    }

    #[test]
    fn api_errors_read_as_the_api_message() {
        let body = br#"{"error":"not_found","message":"no job with id 7"}"#;
        let error = api_error(StatusCode::NOT_FOUND, body);
        assert_eq!(error.to_string(), "no job with id 7");
        let error = api_error(StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(error.to_string(), "the api answered 502 Bad Gateway");
        assert!(matches!(error, ClientError::Unavailable(_)));
    }
}
