//! Files on a local (or shared, NFS) directory, handed out as `file://` URLs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;

use super::AssetStore;

pub struct FilesystemStore {
    root: PathBuf,
}

impl FilesystemStore {
    pub fn new(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating the asset directory {}", root.display()))?;
        let root = root
            .canonicalize()
            .context("resolving the asset directory")?;
        Ok(FilesystemStore { root })
    }
}

#[async_trait]
impl AssetStore for FilesystemStore {
    async fn save(&self, key: &str, path: &Path) -> anyhow::Result<String> {
        let dest = self.root.join(key);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        tokio::fs::copy(path, &dest)
            .await
            .with_context(|| format!("copying {} to {}", path.display(), dest.display()))?;
        let url = url::Url::from_file_path(&dest)
            .map_err(|()| anyhow::anyhow!("{} is not an absolute path", dest.display()))?;
        Ok(url.to_string())
    }

    async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<u64> {
        let dir = self.root.join(prefix.trim_end_matches('/'));
        let count = count_files(&dir);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
        }
    }

    async fn fetch(&self, key: &str, dest: &Path) -> anyhow::Result<()> {
        let source = self.root.join(key);
        tokio::fs::copy(&source, dest)
            .await
            .with_context(|| format!("copying {} to {}", source.display(), dest.display()))?;
        Ok(())
    }

    async fn list_dirs(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let dir = self.root.join(prefix);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        let mut dirs = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_type().await?.is_dir() {
                dirs.push(format!("{prefix}{}/", entry.file_name().to_string_lossy()));
            }
        }
        Ok(dirs)
    }

    fn readable_root(&self) -> Option<&Path> {
        Some(&self.root)
    }
}

fn count_files(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saves_under_the_key_and_deletes_by_prefix() {
        let root = tempfile::tempdir().expect("temp dir");
        let store = FilesystemStore::new(root.path()).expect("store");
        let src = root.path().join("src.txt");
        std::fs::write(&src, "hello").expect("write");
        let url = store
            .save("a/job_1/unit_2/src.txt", &src)
            .await
            .expect("save");
        assert!(
            url.starts_with("file://") && url.ends_with("a/job_1/unit_2/src.txt"),
            "{url}"
        );
        assert_eq!(store.delete_prefix("a/job_1/").await.expect("delete"), 1);
        assert!(!root.path().join("a/job_1").exists());
    }
}
