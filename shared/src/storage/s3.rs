//! Files in an S3 bucket (AWS, MinIO or any S3-protocol server), through aws-sdk-s3.

use std::{path::Path, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_s3::{
    config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider},
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
    /// Signs the URLs users get: for `s3_public_url` when it is set (the endpoint as users
    /// reach it; the one the services use may be a name only they resolve).
    presigner: Client,
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
        let credentials = credentials(config).await?;
        let client = client_at(config, config.s3_endpoint.as_deref(), credentials.clone());
        let presigner = match (config.s3_url_style, &config.s3_public_url) {
            (UrlStyle::Presigned, Some(public)) => client_at(config, Some(public), credentials),
            _ => client.clone(),
        };
        let public_base = match (&config.s3_public_url, &config.s3_endpoint) {
            (Some(base), _) => base.trim_end_matches('/').to_string(),
            (None, Some(endpoint)) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            (None, None) => format!("https://{bucket}.s3.{}.amazonaws.com", config.s3_region),
        };
        let store = S3Store {
            client,
            presigner,
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
                .presigner
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

/// An S3 client of the settings: endpoint, region, path style and credentials.
pub async fn client(config: &Config) -> anyhow::Result<Client> {
    let credentials = credentials(config).await?;
    Ok(client_at(
        config,
        config.s3_endpoint.as_deref(),
        credentials,
    ))
}

/// The static keys when they are configured; the standard AWS chain otherwise: the
/// environment, the profile files, web identity (Kubernetes' IRSA), ECS and instance metadata.
async fn credentials(config: &Config) -> anyhow::Result<SharedCredentialsProvider> {
    match (&config.aws_access_key_id, &config.aws_secret_access_key) {
        (Some(id), Some(secret)) => {
            let token = config
                .aws_session_token
                .as_ref()
                .map(|t| t.expose().to_string());
            let keys = Credentials::new(id, secret.expose(), token, None, "crowd-config");
            Ok(SharedCredentialsProvider::new(keys))
        }
        (None, None) => {
            let chain =
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(Region::new(config.s3_region.clone()))
                    .build()
                    .await;
            Ok(SharedCredentialsProvider::new(chain))
        }
        _ => anyhow::bail!(
            "aws_access_key_id and aws_secret_access_key go together: set both, or neither to \
             use the AWS credential chain (profile files, web identity, ECS or instance metadata)"
        ),
    }
}

fn client_at(
    config: &Config,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> Client {
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.s3_region.clone()))
        .credentials_provider(credentials)
        .force_path_style(config.s3_path_style);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Client::from_conf(builder.build())
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
