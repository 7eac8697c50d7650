//! The asset store: where actions' saved files go, behind one small interface with an S3 and
//! a filesystem backend. Object keys are built here and nowhere else.

mod filesystem;
mod s3;

use std::{path::Path, sync::Arc};

use async_trait::async_trait;

pub use filesystem::FilesystemStore;
pub use s3::{client as s3_client, S3Store};

use crate::{
    config::{Config, StorageKind},
    ids::{JobId, UnitId},
};

/// The object asked for does not exist or may not be read: trying again will not help.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The object is larger than the caller would take: its bytes will not shrink by retrying.
#[derive(Debug, thiserror::Error)]
#[error("{what} is larger than {limit} bytes")]
pub struct TooLarge {
    pub what: String,
    /// The most bytes the caller accepted.
    pub limit: u64,
}

#[async_trait]
pub trait AssetStore: Send + Sync {
    /// Stores the file at `path` under `key` and returns a URL that reads it back.
    async fn save(&self, key: &str, path: &Path) -> anyhow::Result<String>;

    /// Deletes every file whose key starts with `prefix`; returns how many went.
    async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<u64>;

    /// The "directories" one level down from `prefix` (`""` for the top): `a/` and `b/`
    /// for keys `a/x` and `b/y/z`.
    async fn list_dirs(&self, prefix: &str) -> anyhow::Result<Vec<String>>;

    /// Copies the object stored under `key` to `dest`.
    async fn fetch(&self, key: &str, dest: &Path) -> anyhow::Result<()>;

    /// Copies `s3://bucket/key` to `dest`, refusing with [`TooLarge`] an object of more than
    /// `max_bytes` (`dest` may then hold a part of it). Only a store that speaks S3 can; for
    /// any other, retrying will not help.
    async fn fetch_s3(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
        max_bytes: u64,
    ) -> anyhow::Result<()> {
        let _ = (dest, max_bytes);
        Err(Unavailable(format!(
            "cannot read s3://{bucket}/{key}: the asset store is not S3"
        ))
        .into())
    }

    /// A directory whose files this store hands out as `file://` URLs, which downloads may
    /// therefore read.
    fn readable_root(&self) -> Option<&Path> {
        None
    }
}

/// `<action>/job_<id>/unit_<id>/<file>`: CloudCrowd's layout, which users' scripts know.
pub fn unit_key(action: &str, job_id: JobId, unit_id: UnitId, file_name: &str) -> String {
    format!("{}{}", unit_prefix(action, job_id, unit_id), file_name)
}

/// Everything one unit stored lives under this prefix.
pub fn unit_prefix(action: &str, job_id: JobId, unit_id: UnitId) -> String {
    format!("{}unit_{unit_id}/", job_prefix(action, job_id))
}

/// Everything a job stored lives under this prefix.
pub fn job_prefix(action: &str, job_id: JobId) -> String {
    format!("{action}/job_{job_id}/")
}

/// Where a job's options are stored when they are too big to travel with every unit.
pub fn job_options_key(action: &str, job_id: JobId) -> String {
    format!("{}options.json", job_prefix(action, job_id))
}

/// Where a merge unit's input (every process output of its job) is stored.
pub fn merge_input_key(action: &str, job_id: JobId) -> String {
    format!("{}merge_input.json", job_prefix(action, job_id))
}

/// The job a `<action>/job_<id>/` prefix belongs to.
pub fn job_of_prefix(prefix: &str) -> Option<JobId> {
    let (_, job) = prefix.trim_end_matches('/').split_once('/')?;
    job.strip_prefix("job_")?.parse().ok()
}

/// The store the configuration names.
pub async fn from_config(config: &Config) -> anyhow::Result<Arc<dyn AssetStore>> {
    Ok(match config.storage {
        StorageKind::Filesystem => Arc::new(FilesystemStore::new(&config.local_storage_path)?),
        StorageKind::S3 => Arc::new(S3Store::from_config(config).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_cloudcrowds_layout() {
        let (job, unit) = (JobId(1), UnitId(2));
        assert_eq!(
            unit_key("word_count", job, unit, "a.txt"),
            "word_count/job_1/unit_2/a.txt"
        );
        assert!(
            unit_key("word_count", job, unit, "a.txt").starts_with(&job_prefix("word_count", job))
        );
        assert!(!job_prefix("word_count", JobId(10)).starts_with(&job_prefix("word_count", job)));
        assert_eq!(
            job_of_prefix(&job_prefix("word_count", JobId(12))),
            Some(JobId(12))
        );
        assert_eq!(job_of_prefix("word_count/other/"), None);
    }
}
