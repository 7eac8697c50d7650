//! Fetching a URL input into the unit's work directory: `http(s)://`, `s3://` and `file://`
//! (the latter only under directories the configuration allows), none larger than
//! `max_download_bytes`. `http(s)://` reaches only what the outbound rule allows (public
//! addresses and `allowed_networks`), at the first request and at every redirect; `s3://`
//! reads only the asset store's bucket and `allowed_buckets`.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use crowd_shared::{
    config::{StorageKind, UrlStyle},
    outbound::{Outbound, Purpose, Refused},
    outbound_http::{self, CheckedResolver},
    shown::shown_url,
    storage::{self, AssetStore},
    Config,
};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::ActionError;

/// Redirects followed before a download counts as a redirect loop.
const MAX_REDIRECTS: usize = 10;

pub struct Downloader {
    /// For any URL a job names: every address it connects to is checked.
    http: reqwest::Client,
    /// For the URLs the asset store itself hands out (a pre-signed S3 URL on a private
    /// endpoint, as MinIO beside the workers is): the operator configured that endpoint, so it
    /// is trusted, but only it: this client follows no redirect.
    store_http: reqwest::Client,
    /// The origins (scheme, host, port) of `s3_endpoint` and `s3_public_url`.
    store_origins: Vec<url::Origin>,
    /// What URLs of objects in the store's bucket start with (`<endpoint>/<bucket>/`, and the
    /// same under `s3_public_url`): read through S3 by key, since the address users are given
    /// may be one the workers cannot reach.
    store_bases: Vec<String>,
    outbound: Arc<Outbound>,
    /// The buckets `s3://` inputs may name; `None` when the asset store is not S3 (it then
    /// refuses every `s3://` input itself).
    buckets: Option<Vec<String>>,
    store: Arc<dyn AssetStore>,
    allowed_roots: Vec<PathBuf>,
    /// The largest input fetched, in bytes (`max_download_bytes`).
    max_bytes: u64,
}

/// A redirect to a refused address: where it led, and the refusal.
#[derive(Debug, thiserror::Error)]
#[error("it redirects to {to}: {refused}")]
struct RefusedRedirect {
    to: String,
    refused: Refused,
}

/// More redirects than `MAX_REDIRECTS`.
#[derive(Debug, thiserror::Error)]
#[error("too many redirects (a redirect loop?)")]
struct RedirectLoop;

impl Downloader {
    pub fn new(config: &Config, store: Arc<dyn AssetStore>) -> anyhow::Result<Self> {
        let outbound = Arc::new(config.outbound(Purpose::Downloads)?);
        let timeout = Duration::from_secs(config.download_timeout_secs);
        let checked = outbound.clone();
        let http = reqwest::Client::builder()
            .dns_resolver(CheckedResolver::new(outbound.clone()))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` starts with the URL first asked for, which is no redirect.
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(RedirectLoop);
                }
                // An address in the URL is connected to without the resolver: checked here.
                match checked.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => {
                        let to = shown_url(attempt.url());
                        attempt.error(RefusedRedirect { to, refused })
                    }
                }
            }))
            // Through a proxy, the proxy would connect where we checked nothing.
            .no_proxy()
            .timeout(timeout)
            .build()?;
        let store_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .build()?;
        let s3 = config.storage == StorageKind::S3;
        let store_origins = [&config.s3_endpoint, &config.s3_public_url]
            .into_iter()
            .flatten()
            .filter(|_| s3)
            .filter_map(|base| Url::parse(base).ok())
            .map(|base| base.origin())
            .collect();
        let store_bases = match (&config.s3_bucket, s3) {
            (Some(bucket), true) => store_bases(config, bucket),
            _ => Vec::new(),
        };
        let buckets = s3.then(|| {
            config
                .s3_bucket
                .iter()
                .chain(&config.allowed_buckets)
                .cloned()
                .collect()
        });
        let mut allowed_roots: Vec<PathBuf> = config
            .allowed_file_roots
            .iter()
            .filter_map(|root| root.canonicalize().ok())
            .collect();
        if let Some(root) = store.readable_root() {
            allowed_roots.push(root.to_path_buf());
        }
        Ok(Downloader {
            http,
            store_http,
            store_origins,
            store_bases,
            outbound,
            buckets,
            store,
            allowed_roots,
            max_bytes: config.max_download_bytes,
        })
    }

    /// The URL an input names, if it is one we download.
    pub fn input_url(input: &serde_json::Value) -> Option<Url> {
        let text = input.as_str()?;
        let url = Url::parse(text).ok()?;
        matches!(url.scheme(), "http" | "https" | "s3" | "file").then_some(url)
    }

    /// Downloads `url` into `dir` and returns the file's path. On failure no part of the
    /// file is left behind.
    pub async fn fetch(&self, url: &Url, dir: &Path) -> Result<PathBuf, ActionError> {
        let dest = dir.join(safe_filename(
            url.path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or(""),
        ));
        let fetched = match url.scheme() {
            "http" | "https" => match self.store_object(url) {
                Some(key) => self.fetch_object(url, self.bucket(), &key, &dest).await,
                None => self.fetch_http(url, &dest).await,
            },
            "s3" => self.fetch_s3(url, &dest).await,
            "file" => self.fetch_file(url, &dest).await,
            other => {
                return Err(ActionError::Permanent(format!(
                    "cannot download {other}:// URLs"
                )))
            }
        };
        if fetched.is_err() {
            // The scratch directory goes when the stage ends, but a partial input of up to
            // max_download_bytes should not wait for that.
            let _ = tokio::fs::remove_file(&dest).await;
        }
        fetched.map(|()| dest)
    }

    /// The failure of an input over the limit, which names the setting to raise.
    fn too_large(&self, url: &Url) -> ActionError {
        permanent(
            url,
            &format!("it is larger than max_download_bytes ({})", self.max_bytes),
        )
    }

    async fn fetch_http(&self, url: &Url, dest: &Path) -> Result<(), ActionError> {
        let client = if self.store_origins.contains(&url.origin()) {
            &self.store_http
        } else {
            self.outbound
                .check_url(url)
                .map_err(|refused| permanent(url, &refused.to_string()))?;
            &self.http
        };
        let shown = shown_url(url);
        let response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| self.send_failed(url, e))?;
        let status = response.status();
        if !status.is_success() {
            let message = format!("downloading {shown}: the server answered {status}");
            // A 4xx will answer the same next time; 408, 429 and 5xx may not.
            let will_repeat = status.is_client_error() && status != 408 && status != 429;
            return Err(if will_repeat {
                ActionError::Permanent(message)
            } else {
                ActionError::Retryable(message)
            });
        }
        // Refused on the length the server declares, before reading the body...
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(self.too_large(url));
        }
        // ...and counted while streaming, since a server may declare none (or an untrue one).
        let mut file = tokio::fs::File::create(dest).await?;
        let mut received: u64 = 0;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                ActionError::Retryable(format!(
                    "downloading {shown}: {}",
                    outbound_http::describe(e)
                ))
            })?;
            received = received.saturating_add(chunk.len() as u64);
            if received > self.max_bytes {
                return Err(self.too_large(url));
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(())
    }

    /// Why a request got no answer: a refused address or a redirect loop for good, anything
    /// else (a refused connection, a timeout) perhaps not.
    fn send_failed(&self, url: &Url, e: reqwest::Error) -> ActionError {
        if let Some(refused) = outbound_http::find_cause::<RefusedRedirect>(&e) {
            return permanent(url, &refused.to_string());
        }
        if let Some(refused) = outbound_http::refusal_in(&e) {
            return permanent(url, &refused.to_string());
        }
        if e.is_redirect() {
            return permanent(url, &RedirectLoop.to_string());
        }
        ActionError::Retryable(format!(
            "downloading {}: {}",
            shown_url(url),
            outbound_http::describe(e)
        ))
    }

    /// Whether `s3://bucket/...` may be read: the asset store's bucket, or one of
    /// `allowed_buckets`.
    fn check_bucket(&self, url: &Url, bucket: &str) -> Result<(), ActionError> {
        match &self.buckets {
            Some(buckets) if !buckets.iter().any(|b| b == bucket) => Err(permanent(
                url,
                &format!(
                    "bucket {bucket} is not the asset store's (s3_bucket); \
                     add it to allowed_buckets to allow it"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The key of the store's own object `url` names, if it names one.
    fn store_object(&self, url: &Url) -> Option<String> {
        let mut bare = url.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        let bare = bare.as_str();
        self.store_bases
            .iter()
            .find_map(|base| bare.strip_prefix(base.as_str()))
            .filter(|key| !key.is_empty())
            .map(percent_decode)
    }

    fn bucket(&self) -> &str {
        self.buckets
            .as_ref()
            .and_then(|b| b.first())
            .map_or("", String::as_str)
    }

    async fn fetch_s3(&self, url: &Url, dest: &Path) -> Result<(), ActionError> {
        let bucket = url.host_str().ok_or_else(|| permanent(url, "no bucket"))?;
        self.check_bucket(url, bucket)?;
        let key = percent_decode(url.path().trim_start_matches('/'));
        self.fetch_object(url, bucket, &key, dest).await
    }

    async fn fetch_object(
        &self,
        url: &Url,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<(), ActionError> {
        self.store
            .fetch_s3(bucket, key, dest, self.max_bytes)
            .await
            .map_err(|e| {
                // Too large, missing, or not ours to read: none of it changes by retrying.
                if e.downcast_ref::<storage::TooLarge>().is_some() {
                    self.too_large(url)
                } else if e.downcast_ref::<storage::Unavailable>().is_some() {
                    ActionError::Permanent(format!("{e:#}"))
                } else {
                    ActionError::Retryable(format!("{e:#}"))
                }
            })
    }

    async fn fetch_file(&self, url: &Url, dest: &Path) -> Result<(), ActionError> {
        let path = url
            .to_file_path()
            .map_err(|()| permanent(url, "not a local path"))?;
        // Canonical, so `..` and symlinks cannot lead out of an allowed directory.
        let real = path
            .canonicalize()
            .map_err(|e| permanent(url, &format!("cannot read it: {e}")))?;
        if !self.allowed_roots.iter().any(|root| real.starts_with(root)) {
            return Err(permanent(
                url,
                "reading files there is not allowed (see allowed_file_roots)",
            ));
        }
        let metadata = tokio::fs::metadata(&real).await?;
        if !metadata.is_file() {
            return Err(permanent(url, "not a file"));
        }
        if metadata.len() > self.max_bytes {
            return Err(self.too_large(url));
        }
        // Bounded too, in case the file grows after its size was read: one byte past the
        // limit is enough to know.
        let mut source = tokio::fs::File::open(&real)
            .await?
            .take(self.max_bytes.saturating_add(1));
        let mut file = tokio::fs::File::create(dest).await?;
        let copied = tokio::io::copy(&mut source, &mut file).await?;
        file.flush().await?;
        if copied > self.max_bytes {
            return Err(self.too_large(url));
        }
        Ok(())
    }
}

/// Where the store's objects are reached by URL: path-style, under the endpoint and under the
/// public endpoint presigned URLs are signed for; or under the public base itself.
fn store_bases(config: &Config, bucket: &str) -> Vec<String> {
    let under = |base: &str, path: &str| format!("{}/{path}", base.trim_end_matches('/'));
    let mut bases = Vec::new();
    if config.s3_path_style {
        if let Some(endpoint) = &config.s3_endpoint {
            bases.push(under(endpoint, &format!("{bucket}/")));
        }
    }
    if let Some(public) = &config.s3_public_url {
        match config.s3_url_style {
            UrlStyle::Public => bases.push(under(public, "")),
            UrlStyle::Presigned if config.s3_path_style => {
                bases.push(under(public, &format!("{bucket}/")))
            }
            UrlStyle::Presigned => {}
        }
    }
    bases
}

fn permanent(url: &Url, why: &str) -> ActionError {
    ActionError::Permanent(format!("cannot download {}: {why}", shown_url(url)))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// CloudCrowd's `safe_filename`: the last path segment, unescaped, with anything outside
/// `[A-Za-z0-9_-]` in the base name (dots included) and the extension turned into `-`.
pub fn safe_filename(segment: &str) -> String {
    let decoded = percent_decode(segment);
    let (base, ext) = match decoded.rfind('.') {
        Some(i) if i > 0 => (&decoded[..i], Some(&decoded[i + 1..])),
        _ => (decoded.as_str(), None),
    };
    let clean = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            };
            if !(c == '-' && out.ends_with('-')) {
                out.push(c);
            }
        }
        out.trim_matches('-').to_string()
    };
    let base = match clean(base) {
        b if b.is_empty() => "input".to_string(),
        b => b,
    };
    match ext.map(clean) {
        Some(ext) if !ext.is_empty() => format!("{base}.{ext}"),
        _ => base,
    }
}

/// A downloader for stages a test runs that download nothing.
#[cfg(test)]
pub(crate) fn unused_downloader(root: &Path) -> Arc<Downloader> {
    let store = crowd_shared::storage::FilesystemStore::new(&root.join("store")).expect("store");
    Arc::new(Downloader::new(&Config::default(), Arc::new(store)).expect("a downloader"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_filename_matches_cloudcrowd() {
        assert_eq!(
            safe_filename("Some%20(Crazy'Kinda%7E)'Filename.txt"),
            "Some-Crazy-Kinda-Filename.txt"
        );
        assert_eq!(safe_filename("file.pdf"), "file.pdf");
        assert_eq!(safe_filename("my.file.pdf"), "my-file.pdf");
        assert_eq!(safe_filename(""), "input");
        assert_eq!(safe_filename("a%26b.txt"), "a-b.txt");
    }

    const LIMIT: u64 = 1_000;

    /// A downloader of at most `LIMIT` bytes that may read files under `root`.
    fn small_downloader(root: &Path) -> Downloader {
        let config = Config {
            max_download_bytes: LIMIT,
            allowed_file_roots: vec![root.to_path_buf()],
            // The test servers are on loopback.
            allowed_networks: vec!["127.0.0.0/8".into()],
            ..Config::default()
        };
        let store = crowd_shared::storage::FilesystemStore::new(&root.join("store"))
            .expect("a store in a temp dir");
        Downloader::new(&config, Arc::new(store)).expect("a downloader")
    }

    /// Serves one request with `body` and no Content-Length, ending it by closing.
    async fn serve_unsized_once(body: Vec<u8>) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/input.txt", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut socket, _) = listener.accept().await.expect("a request");
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                .await;
            let _ = socket.write_all(&body).await;
        });
        Url::parse(&url).expect("a URL")
    }

    fn files_in(dir: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .expect("read dir")
            .flatten()
            .map(|e| e.file_name())
            .collect()
    }

    fn assert_too_large(result: Result<PathBuf, ActionError>, url: &Url) {
        match result {
            Err(ActionError::Permanent(message)) => assert_eq!(
                message,
                format!("cannot download {url}: it is larger than max_download_bytes ({LIMIT})")
            ),
            other => panic!("expected a permanent failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unsized_http_body_over_the_limit_leaves_no_partial_file() {
        let root = tempfile::tempdir().expect("temp dir");
        let downloader = small_downloader(root.path());
        let work = tempfile::tempdir().expect("work dir");
        let url = serve_unsized_once(vec![b'x'; 100_000]).await;
        assert_too_large(downloader.fetch(&url, work.path()).await, &url);
        assert!(
            files_in(work.path()).is_empty(),
            "{:?}",
            files_in(work.path())
        );

        let url = serve_unsized_once(vec![b'x'; LIMIT as usize]).await;
        let path = downloader
            .fetch(&url, work.path())
            .await
            .expect("at the limit");
        assert_eq!(std::fs::metadata(path).expect("the input").len(), LIMIT);
    }

    #[tokio::test]
    async fn a_file_over_the_limit_is_refused_and_one_at_it_copied() {
        let root = tempfile::tempdir().expect("temp dir");
        let root = root.path().canonicalize().expect("canonical temp dir");
        let downloader = small_downloader(&root);
        let work = tempfile::tempdir().expect("work dir");
        let big = root.join("big.txt");
        std::fs::write(&big, vec![b'x'; LIMIT as usize + 1]).expect("write");
        let url = Url::from_file_path(&big).expect("a file URL");
        assert_too_large(downloader.fetch(&url, work.path()).await, &url);
        assert!(
            files_in(work.path()).is_empty(),
            "{:?}",
            files_in(work.path())
        );

        let full = root.join("full.txt");
        std::fs::write(&full, vec![b'x'; LIMIT as usize]).expect("write");
        let url = Url::from_file_path(&full).expect("a file URL");
        let path = downloader
            .fetch(&url, work.path())
            .await
            .expect("at the limit");
        assert_eq!(std::fs::metadata(path).expect("the input").len(), LIMIT);
    }

    /// A file whose size says 0 while it holds more (as those in /proc do) is still cut off:
    /// the copy is bounded, not only the size checked.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_file_longer_than_its_size_says_is_cut_off_at_the_limit() {
        let root = tempfile::tempdir().expect("temp dir");
        let mut downloader = small_downloader(root.path());
        downloader.allowed_roots.push(PathBuf::from("/proc"));
        let maps = PathBuf::from("/proc/self/maps");
        assert_eq!(std::fs::metadata(&maps).expect("maps").len(), 0);
        assert!(std::fs::read(&maps).expect("maps").len() as u64 > LIMIT);
        let work = tempfile::tempdir().expect("work dir");
        let url = Url::from_file_path(&maps).expect("a file URL");
        assert_too_large(downloader.fetch(&url, work.path()).await, &url);
        assert!(
            files_in(work.path()).is_empty(),
            "{:?}",
            files_in(work.path())
        );
    }

    #[test]
    fn s3_inputs_name_the_store_s_bucket_or_an_allowed_one() {
        let root = tempfile::tempdir().expect("temp dir");
        let store = crowd_shared::storage::FilesystemStore::new(root.path()).expect("a store");
        let config = Config {
            storage: StorageKind::S3,
            s3_bucket: Some("ours".into()),
            allowed_buckets: vec!["shared".into()],
            ..Config::default()
        };
        let downloader = Downloader::new(&config, Arc::new(store)).expect("a downloader");
        let url = Url::parse("s3://theirs/k").expect("a URL");
        assert!(downloader.check_bucket(&url, "ours").is_ok());
        assert!(downloader.check_bucket(&url, "shared").is_ok());
        match downloader.check_bucket(&url, "theirs") {
            Err(ActionError::Permanent(message)) => assert_eq!(
                message,
                "cannot download s3://theirs/k: bucket theirs is not the asset store's \
                 (s3_bucket); add it to allowed_buckets to allow it"
            ),
            other => panic!("expected a permanent failure, got {other:?}"),
        }
    }

    #[test]
    fn only_known_schemes_are_downloaded() {
        assert!(Downloader::input_url(&"http://x/a.txt".into()).is_some());
        assert!(Downloader::input_url(&"s3://bucket/key".into()).is_some());
        assert!(Downloader::input_url(&"hello: world".into()).is_none());
        assert!(Downloader::input_url(&serde_json::json!(5)).is_none());
    }
}
