//! Values too big to travel in every unit's message go to the asset store once, and messages
//! name them by key: a job's big options (stored once per job, not copied into each of its
//! units) and a merge's input when it is big (every process output, streamed page by page from
//! the store into one file, so a million-unit job can merge). The relay publishes through this.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use crowd_shared::{
    ids::{JobId, UnitId},
    messages::{encoded_len, WorkMessage},
    queue::{Publish, Published},
    recent::RecentIds,
    status::Stage,
    storage::AssetStore,
    store::Store,
};
use serde_json::Value;

/// Process outputs read from the store at a time while a merge's input is written.
const OUTPUTS_PAGE: i64 = 10_000;

/// A merge input up to this size (and count) travels in its message, like any input.
const INLINE_MERGE_BYTES: usize = 64 * 1024;
const INLINE_MERGE_OUTPUTS: i64 = 1_000;

pub struct ByReference<'a> {
    pub inner: &'a mut dyn Publish,
    pub stores: Stores<'a>,
    /// Jobs whose options this relay stored lately: once per job, however many units it has
    /// (a restarted relay at worst stores them again).
    pub options_stored: &'a mut RecentIds,
}

#[async_trait]
impl Publish for ByReference<'_> {
    async fn publish(&mut self, units: Vec<WorkMessage>) -> anyhow::Result<Published> {
        let mut ready = Vec::with_capacity(units.len());
        for mut msg in units {
            // A job deleted since its unit was claimed: its unit is gone with it.
            if self
                .stores
                .store_references(&mut msg, self.options_stored)
                .await?
            {
                ready.push(msg);
            }
        }
        if ready.is_empty() {
            return Ok(Published::default());
        }
        self.inner.publish(ready).await
    }
}

/// Where the values are read from and stored.
pub struct Stores<'a> {
    pub store: &'a dyn Store,
    pub assets: &'a dyn AssetStore,
    /// Where files are written before they are stored.
    pub scratch: PathBuf,
}

impl Stores<'_> {
    /// Stores what `msg` names by key; `false` if its job no longer exists. A merge whose
    /// input is small after all carries it, and nothing is stored.
    async fn store_references(
        &self,
        msg: &mut WorkMessage,
        options_stored: &mut RecentIds,
    ) -> anyhow::Result<bool> {
        if let Some(key) = &msg.options_key {
            if !options_stored.contains(msg.job_id.0) {
                let Some(options) = self.store.job_options(msg.job_id).await? else {
                    return Ok(false);
                };
                self.save_json(key, |file| Ok(serde_json::to_writer(file, &options)?))
                    .await?;
                options_stored.insert(msg.job_id.0);
            }
        }
        if let Some(key) = &msg.input_key {
            if let Some(outputs) = self.small_outputs(msg.job_id).await? {
                // Storing and reading back a file would cost a small job more than it saves.
                (msg.input, msg.input_key) = (outputs, None);
                return Ok(true);
            }
            let path = self.write_outputs(msg.job_id).await?;
            self.assets
                .save(key, path.path())
                .await
                .with_context(|| format!("storing the merge input of job {}", msg.job_id))?;
        }
        Ok(true)
    }

    /// Every process output of the job, when they fit in `INLINE_MERGE_BYTES` (one page read).
    async fn small_outputs(&self, job_id: JobId) -> anyhow::Result<Option<Value>> {
        let page = self
            .store
            .stage_outputs_after(job_id, Stage::Process, UnitId(0), INLINE_MERGE_OUTPUTS)
            .await?;
        if page.len() as i64 >= INLINE_MERGE_OUTPUTS {
            return Ok(None);
        }
        let outputs = Value::Array(page.into_iter().map(|(_, output)| output).collect());
        Ok((encoded_len(&outputs) <= INLINE_MERGE_BYTES).then_some(outputs))
    }

    /// Every process output of the job, as one JSON array in a scratch file.
    async fn write_outputs(&self, job_id: JobId) -> anyhow::Result<tempfile::NamedTempFile> {
        let mut file = self.scratch_file()?;
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        out.write_all(b"[")?;
        let (mut after, mut first) = (UnitId(0), true);
        loop {
            let page = self
                .store
                .stage_outputs_after(job_id, Stage::Process, after, OUTPUTS_PAGE)
                .await?;
            for (id, output) in &page {
                if !first {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut out, output)?;
                (after, first) = (*id, false);
            }
            if (page.len() as i64) < OUTPUTS_PAGE {
                break;
            }
        }
        out.write_all(b"]")?;
        out.flush()?;
        drop(out);
        Ok(file)
    }

    async fn save_json(
        &self,
        key: &str,
        write: impl FnOnce(&mut std::fs::File) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut file = self.scratch_file()?;
        write(file.as_file_mut())?;
        self.assets
            .save(key, file.path())
            .await
            .with_context(|| format!("storing {key}"))?;
        Ok(())
    }

    fn scratch_file(&self) -> anyhow::Result<tempfile::NamedTempFile> {
        std::fs::create_dir_all(&self.scratch)
            .with_context(|| format!("creating {}", self.scratch.display()))?;
        tempfile::NamedTempFile::new_in(&self.scratch).context("creating a scratch file")
    }
}
