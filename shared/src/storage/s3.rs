//! Files in an S3 bucket (AWS, MinIO or any S3-protocol server), through aws-sdk-s3.

use std::{path::Path, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_s3::{
    config::{BehaviorVersion, Credentials, Region},
    presigning::PresigningConfig,
    primitives::ByteStream,
    types::{Delete, ObjectIdentifier},
    Client,
};

use aws_sdk_s3::error::ProvideErrorMetadata;
use tokio::io::AsyncReadExt;

use super::{AssetStore, TooLarge, Unavailable};
use crate::config::{Config, UrlStyle};

/// S3 deletes at most this many keys per request.
const DELETE_BATCH: usize = 1000;

pub struct S3Store {
    client: Client,
    bucket: String,
    url_style: UrlStyle,
    public_base: String,
    presign_for: Duration,
}

impl S3Store {
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let bucket = config
            .s3_bucket
            .clone()
            .context("S3 storage needs s3_bucket (S3_BUCKET)")?;
        let client = client(config)?;
        let public_base = match (&config.s3_public_url, &config.s3_endpoint) {
            (Some(base), _) => base.trim_end_matches('/').to_string(),
            (None, Some(endpoint)) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            (None, None) => format!("https://{bucket}.s3.{}.amazonaws.com", config.s3_region),
        };
        let store = S3Store {
            client,
            bucket,
            url_style: config.s3_url_style,
            public_base,
            presign_for: Duration::from_secs(config.s3_presign_secs.clamp(1, 7 * 24 * 3600)),
        };
        store.ensure_bucket().await?;
        Ok(store)
    }

    async fn bucket_exists(&self) -> bool {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
    }

    /// CloudCrowd created its bucket when missing; so do we.
    async fn ensure_bucket(&self) -> anyhow::Result<()> {
        if self.bucket_exists().await {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                // Created by another process in the meantime is fine.
                if self.bucket_exists().await {
                    Ok(())
                } else {
                    Err(anyhow::Error::new(e.into_service_error()))
                        .with_context(|| format!("creating bucket {}", self.bucket))
                }
            }
        }
    }

    async fn url_for(&self, key: &str) -> anyhow::Result<String> {
        Ok(match self.url_style {
            UrlStyle::Public => format!("{}/{}", self.public_base, encode_key(key)),
            UrlStyle::Presigned => self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(PresigningConfig::expires_in(self.presign_for)?)
                .await
                .context("pre-signing a URL")?
                .uri()
                .to_string(),
        })
    }
}

/// An S3 client from explicit settings: endpoint, region, path style, credentials.
pub fn client(config: &Config) -> anyhow::Result<Client> {
    let access_key = config
        .aws_access_key_id
        .clone()
        .context("S3 storage needs aws_access_key_id (AWS_ACCESS_KEY_ID)")?;
    let secret = config
        .aws_secret_access_key
        .as_ref()
        .context("S3 storage needs aws_secret_access_key (AWS_SECRET_ACCESS_KEY)")?;
    let credentials = Credentials::new(access_key, secret.expose(), None, None, "crowd-config");
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.s3_region.clone()))
        .credentials_provider(credentials)
        .force_path_style(config.s3_path_style);
    if let Some(endpoint) = &config.s3_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(Client::from_conf(builder.build()))
}

fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/")
}

#[async_trait]
impl AssetStore for S3Store {
    async fn save(&self, key: &str, path: &Path) -> anyhow::Result<String> {
        let body = ByteStream::from_path(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map_err(|e| anyhow::Error::new(e.into_service_error()))
            .with_context(|| format!("uploading s3://{}/{key}", self.bucket))?;
        self.url_for(key).await
    }

    async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<u64> {
        let mut deleted = 0u64;
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| anyhow::Error::new(e.into_service_error()))
                .with_context(|| format!("listing s3://{}/{prefix}", self.bucket))?;
            let keys: Vec<String> = page
                .contents()
                .iter()
                .filter_map(|o| o.key().map(String::from))
                .collect();
            for batch in keys.chunks(DELETE_BATCH) {
                let objects = batch
                    .iter()
                    .map(|k| ObjectIdentifier::builder().key(k).build())
                    .collect::<Result<Vec<_>, _>>()?;
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(
                        Delete::builder()
                            .set_objects(Some(objects))
                            .quiet(true)
                            .build()?,
                    )
                    .send()
                    .await
                    .map_err(|e| anyhow::Error::new(e.into_service_error()))
                    .with_context(|| format!("deleting under s3://{}/{prefix}", self.bucket))?;
                deleted += batch.len() as u64;
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => return Ok(deleted),
            }
        }
    }

    async fn fetch(&self, key: &str, dest: &Path) -> anyhow::Result<()> {
        self.fetch_s3(&self.bucket, key, dest, u64::MAX).await
    }

    async fn list_dirs(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut dirs = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| anyhow::Error::new(e.into_service_error()))
                .with_context(|| format!("listing s3://{}/{prefix}", self.bucket))?;
            dirs.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(String::from)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => return Ok(dirs),
            }
        }
    }

    async fn fetch_s3(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> anyhow::Result<()> {
        let too_large = || TooLarge {
            what: format!("s3://{bucket}/{key}"),
            limit: max_bytes,
        };
        let object = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                match e.code() {
                    Some(code @ ("NoSuchKey" | "NoSuchBucket" | "AccessDenied")) => {
                        anyhow::Error::new(Unavailable(format!(
                            "cannot read s3://{bucket}/{key}: {code}"
                        )))
                    }
                    _ => anyhow::Error::new(e).context(format!("reading s3://{bucket}/{key}")),
                }
            })?;
        // Refused on its declared size before a byte of the body is read.
        let declared = object.content_length().and_then(|n| u64::try_from(n).ok());
        if declared.is_some_and(|n| n > max_bytes) {
            return Err(too_large().into());
        }
        // And bounded while copying, should the body be longer than declared: one byte past
        // the limit is enough to know.
        let mut reader = object
            .body
            .into_async_read()
            .take(max_bytes.saturating_add(1));
        let mut file = tokio::fs::File::create(dest)
            .await
            .with_context(|| format!("creating {}", dest.display()))?;
        let copied = tokio::io::copy(&mut reader, &mut file)
            .await
            .with_context(|| format!("downloading s3://{bucket}/{key}"))?;
        if copied > max_bytes {
            return Err(too_large().into());
        }
        Ok(())
    }
}
