//! `crowd up` keeps one user's jobs, inputs and results in its data directory: only that user
//! may read them (0700 for the directory, 0600 for what is created in it).

use std::{os::unix::fs::PermissionsExt, path::Path};

use anyhow::Context;

/// Makes this process create files readable by their owner only, and `dir` (created if
/// missing) and the database files already in it private.
pub fn make_private(dir: &Path) -> anyhow::Result<()> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    set_mode(dir, 0o700)?;
    // A data directory made by an earlier version, with what umask then allowed.
    for name in ["crowd.db", "crowd.db-wal", "crowd.db-shm"] {
        let file = dir.join(name);
        if file.exists() {
            set_mode(&file, 0o600)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("making {} private", path.display()))
}
