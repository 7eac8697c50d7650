//! Fetching a URL input into the unit's work directory: `http(s)://`, `s3://` and `file://`
//! (the latter only under directories the configuration allows).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use crowd_shared::{storage::AssetStore, Config};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::ActionError;

/// Redirects followed before a download counts as a redirect loop.
const MAX_REDIRECTS: usize = 10;

pub struct Downloader {
    http: reqwest::Client,
    store: Arc<dyn AssetStore>,
    allowed_roots: Vec<PathBuf>,
}

impl Downloader {
    pub fn new(config: &Config, store: Arc<dyn AssetStore>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .timeout(Duration::from_secs(config.download_timeout_secs))
            .build()?;
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
            store,
            allowed_roots,
        })
    }

    /// The URL an input names, if it is one we download.
    pub fn input_url(input: &serde_json::Value) -> Option<Url> {
        let text = input.as_str()?;
        let url = Url::parse(text).ok()?;
        matches!(url.scheme(), "http" | "https" | "s3" | "file").then_some(url)
    }

    /// Downloads `url` into `dir` and returns the file's path.
    pub async fn fetch(&self, url: &Url, dir: &Path) -> Result<PathBuf, ActionError> {
        let dest = dir.join(safe_filename(
            url.path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or(""),
        ));
        match url.scheme() {
            "http" | "https" => self.fetch_http(url, &dest).await?,
            "s3" => {
                let bucket = url.host_str().ok_or_else(|| permanent(url, "no bucket"))?;
                let key = percent_decode(url.path().trim_start_matches('/'));
                self.store
                    .fetch_s3(bucket, &key, &dest)
                    .await
                    .map_err(|e| {
                        // A missing object or bucket, or no permission, will not change by retrying.
                        if e.downcast_ref::<crowd_shared::storage::Unavailable>()
                            .is_some()
                        {
                            ActionError::Permanent(format!("{e:#}"))
                        } else {
                            ActionError::Retryable(format!("{e:#}"))
                        }
                    })?;
            }
            "file" => self.fetch_file(url, &dest).await?,
            other => {
                return Err(ActionError::Permanent(format!(
                    "cannot download {other}:// URLs"
                )))
            }
        }
        Ok(dest)
    }

    async fn fetch_http(&self, url: &Url, dest: &Path) -> Result<(), ActionError> {
        let response = self.http.get(url.clone()).send().await.map_err(|e| {
            if e.is_redirect() {
                permanent(url, "too many redirects (a redirect loop?)")
            } else {
                ActionError::Retryable(format!("downloading {url}: {e}"))
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let message = format!("downloading {url}: the server answered {status}");
            // A 4xx will answer the same next time; 408, 429 and 5xx may not.
            let will_repeat = status.is_client_error() && status != 408 && status != 429;
            return Err(if will_repeat {
                ActionError::Permanent(message)
            } else {
                ActionError::Retryable(message)
            });
        }
        let mut file = tokio::fs::File::create(dest).await?;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ActionError::Retryable(format!("downloading {url}: {e}")))?;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(())
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
        if !real.is_file() {
            return Err(permanent(url, "not a file"));
        }
        tokio::fs::copy(&real, dest).await?;
        Ok(())
    }
}

fn permanent(url: &Url, why: &str) -> ActionError {
    ActionError::Permanent(format!("cannot download {url}: {why}"))
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

    #[test]
    fn only_known_schemes_are_downloaded() {
        assert!(Downloader::input_url(&"http://x/a.txt".into()).is_some());
        assert!(Downloader::input_url(&"s3://bucket/key".into()).is_some());
        assert!(Downloader::input_url(&"hello: world".into()).is_none());
        assert!(Downloader::input_url(&serde_json::json!(5)).is_none());
    }
}
