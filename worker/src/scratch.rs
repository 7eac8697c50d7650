//! A unit's scratch directory, made the first time something asks for it: a unit whose input
//! is inline and whose action writes no file touches no disk at all.

use std::{
    io,
    path::{Path, PathBuf},
};

use crowd_shared::ids::UnitId;
use tempfile::TempDir;
use tokio::sync::OnceCell;

/// Removed, with whatever is in it, when dropped.
pub struct Scratch {
    parent: PathBuf,
    prefix: String,
    dir: OnceCell<TempDir>,
}

impl Scratch {
    /// A directory to be made under `parent` (created too, when missing), named after the unit.
    pub fn new(parent: PathBuf, unit_id: UnitId) -> Self {
        Scratch {
            parent,
            prefix: format!("unit_{unit_id}_"),
            dir: OnceCell::new(),
        }
    }

    /// The directory, made now if it does not exist yet.
    pub async fn path(&self) -> io::Result<&Path> {
        let dir = self
            .dir
            .get_or_try_init(|| async {
                tokio::fs::create_dir_all(&self.parent).await?;
                tempfile::Builder::new()
                    .prefix(&self.prefix)
                    .tempdir_in(&self.parent)
            })
            .await?;
        Ok(dir.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn made_only_when_asked_for_and_removed_when_dropped() {
        let root = tempfile::tempdir().expect("temp dir");
        let parent = root.path().join("word_count");
        let scratch = Scratch::new(parent.clone(), UnitId(7));
        assert!(!parent.exists(), "nothing is made before it is asked for");

        let path = scratch.path().await.expect("made").to_path_buf();
        assert!(path.is_dir());
        assert!(path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .starts_with("unit_7_"));
        assert_eq!(scratch.path().await.expect("the same"), path);

        std::fs::write(path.join("file"), b"x").expect("write");
        drop(scratch);
        assert!(!path.exists(), "removed with what is in it");
    }
}
