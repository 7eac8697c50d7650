//! `chunked_word_count`: word_count in three stages. `split` cuts a text into chunks of
//! `lines_per_chunk` lines (default 10) and saves each to the asset store; `process` counts a
//! chunk's words (downloading it back); `merge` sums.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use crowd_shared::catalog::Stages;
use serde_json::Value;
use tokio::{
    fs::File,
    io::{AsyncBufReadExt, AsyncWriteExt, BufWriter},
};

use super::{count_input_words, sum_counts};
use crate::{Action, ActionError, StageContext};

const DEFAULT_LINES_PER_CHUNK: u64 = 10;

pub struct ChunkedWordCount;

#[async_trait]
impl Action for ChunkedWordCount {
    fn name(&self) -> &str {
        "chunked_word_count"
    }

    fn stages(&self) -> Stages {
        Stages {
            split: true,
            merge: true,
        }
    }

    async fn split(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        let per_chunk = ctx
            .options
            .get("lines_per_chunk")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_LINES_PER_CHUNK)
            .max(1);
        // The input streams through line by line, so a split holds one buffer of it in
        // memory however large it is.
        let mut reader = ctx.input_reader().await?;
        let mut chunks = Chunks::new(ctx.work_dir().await?, per_chunk);
        let mut urls = Vec::new();
        loop {
            let buffer = reader.fill_buf().await?;
            if buffer.is_empty() {
                break;
            }
            let (len, ends_line) = match buffer.iter().position(|&b| b == b'\n') {
                Some(newline) => (newline + 1, true),
                None => (buffer.len(), false),
            };
            let full = chunks.write(&buffer[..len], ends_line).await?;
            reader.consume(len);
            if let Some(path) = full {
                urls.push(save_chunk(ctx, &path).await?);
            }
        }
        if let Some(path) = chunks.finish().await? {
            urls.push(save_chunk(ctx, &path).await?);
        }
        Ok(Value::Array(urls))
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        count_input_words(ctx).await
    }

    async fn merge(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        sum_counts(&ctx.input)
    }
}

/// Stores a finished chunk and removes it from the scratch directory, which then holds at
/// most one chunk beside the input.
async fn save_chunk(ctx: &StageContext, path: &Path) -> Result<Value, ActionError> {
    let url = ctx.save(path).await?;
    tokio::fs::remove_file(path).await?;
    Ok(Value::from(url))
}

/// The chunk files of a split, written as the input's lines go by: `chunk_<i>.txt` in `dir`,
/// each `per_chunk` lines of the input's own bytes (line ends and invalid UTF-8 included), so
/// that together they are the input again.
struct Chunks<'a> {
    dir: &'a Path,
    per_chunk: u64,
    /// Chunks finished so far.
    finished: usize,
    open: Option<OpenChunk>,
}

struct OpenChunk {
    path: PathBuf,
    file: BufWriter<File>,
    lines: u64,
}

impl<'a> Chunks<'a> {
    fn new(dir: &'a Path, per_chunk: u64) -> Self {
        Chunks {
            dir,
            per_chunk,
            finished: 0,
            open: None,
        }
    }

    /// Appends `bytes`, part of one line (its end, when `ends_line`), to the current chunk,
    /// started here if need be. Returns the chunk's path when that line filled it.
    async fn write(&mut self, bytes: &[u8], ends_line: bool) -> std::io::Result<Option<PathBuf>> {
        let chunk = match &mut self.open {
            Some(chunk) => chunk,
            None => {
                let path = self.dir.join(format!("chunk_{}.txt", self.finished));
                let file = BufWriter::new(File::create(&path).await?);
                self.open.insert(OpenChunk {
                    path,
                    file,
                    lines: 0,
                })
            }
        };
        chunk.file.write_all(bytes).await?;
        if ends_line {
            chunk.lines += 1;
        }
        if chunk.lines < self.per_chunk {
            return Ok(None);
        }
        self.finish_open().await
    }

    /// Closes the last chunk, if the input ended inside one.
    async fn finish(mut self) -> std::io::Result<Option<PathBuf>> {
        self.finish_open().await
    }

    async fn finish_open(&mut self) -> std::io::Result<Option<PathBuf>> {
        let Some(mut chunk) = self.open.take() else {
            return Ok(None);
        };
        chunk.file.flush().await?;
        self.finished += 1;
        Ok(Some(chunk.path))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crowd_shared::storage::FilesystemStore;

    use super::*;
    use crate::{action::Saver, scratch::Scratch};

    /// A split stage of job 1, unit 2, saving to a filesystem store under `root`.
    fn split_context(root: &Path, input: Value, input_path: Option<PathBuf>) -> StageContext {
        StageContext {
            input,
            input_path,
            options: serde_json::json!({"lines_per_chunk": 2}),
            attempt: 0,
            max_attempts: 1,
            scratch: Arc::new(Scratch::new(root.join("work"), crowd_shared::UnitId(2))),
            downloader: crate::download::unused_downloader(root),
            progress: crate::running::Progress::none(),
            saver: Saver {
                store: Arc::new(FilesystemStore::new(&root.join("store")).expect("store")),
                action: "chunked_word_count".into(),
                job_id: crowd_shared::JobId(1),
                unit_id: crowd_shared::UnitId(2),
            },
        }
    }

    async fn stored_chunks(output: Value) -> Vec<Vec<u8>> {
        let urls = output.as_array().expect("an array of URLs").clone();
        let mut chunks = Vec::new();
        for url in urls {
            let url = url::Url::parse(url.as_str().expect("a URL")).expect("a valid URL");
            let path = url.to_file_path().expect("a file URL");
            chunks.push(std::fs::read(path).expect("the stored chunk"));
        }
        chunks
    }

    #[tokio::test]
    async fn a_downloaded_input_is_cut_after_every_nth_line_bytes_untouched() {
        let root = tempfile::tempdir().expect("temp dir");
        let input = root.path().join("input.txt");
        std::fs::write(&input, b"one\ntwo\r\nthr\xffee\n\nfive").expect("write the input");
        let ctx = split_context(root.path(), Value::from("file:///input.txt"), Some(input));
        let output = ChunkedWordCount.split(&ctx).await.expect("split");
        assert_eq!(
            stored_chunks(output).await,
            [&b"one\ntwo\r\n"[..], b"thr\xffee\n\n", b"five"],
        );
        let left: Vec<_> = std::fs::read_dir(ctx.work_dir().await.expect("work dir"))
            .expect("work dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "saved chunks are removed: {left:?}");
    }

    #[tokio::test]
    async fn a_text_input_is_cut_the_same_way() {
        let root = tempfile::tempdir().expect("temp dir");
        let ctx = split_context(root.path(), Value::from("a\nb\nc\nd\n"), None);
        let output = ChunkedWordCount.split(&ctx).await.expect("split");
        assert_eq!(stored_chunks(output).await, [&b"a\nb\n"[..], b"c\nd\n"]);
    }

    #[tokio::test]
    async fn an_empty_input_has_no_chunks() {
        let root = tempfile::tempdir().expect("temp dir");
        let ctx = split_context(root.path(), Value::from(""), None);
        let output = ChunkedWordCount.split(&ctx).await.expect("split");
        assert_eq!(output, Value::Array(Vec::new()));
    }
}
