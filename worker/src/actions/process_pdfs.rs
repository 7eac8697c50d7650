//! `process_pdfs`: CloudCrowd's PDF action, in three stages.
//!
//! - split: the PDF into batches of `options.batch_size` pages (qpdf), each stored; the batch's
//!   file name carries the document's name and its pages (`report_p1-7.pdf`).
//! - process: every page of a batch into the images `options.images` asks for (each
//!   `{name, options, extension}`, made by GraphicsMagick, which reads PDFs with Ghostscript)
//!   and its text (`pdftotext -enc UTF-8 -layout`), stored as one tar laid out as the archive.
//! - merge: every batch's tar unpacked together, each document's full text joined from its
//!   pages, stored as `processed_pdfs.tar`:
//!   `<name>/text/full/<name>.txt`, `<name>/text/pages/<name>_<page>.txt`,
//!   `<name>/images/<image name>/<name>_<page>.<extension>`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use crowd_shared::catalog::Stages;
use serde_json::Value;

use super::graphics_magick::arguments;
use crate::plain_name::{is_plain_extension, is_plain_name};
use crate::{
    download::safe_filename,
    executable::{child, protocol::Ended},
    Action, ActionError, StageContext,
};

/// Pages to a batch when `options.batch_size` does not say.
const DEFAULT_BATCH_SIZE: u64 = 10;
/// Bytes of output a tool may print (qpdf's page count is what is read).
const MAX_TOOL_OUTPUT: usize = 64 * 1024;

pub struct ProcessPdfs;

#[async_trait]
impl Action for ProcessPdfs {
    fn name(&self) -> &str {
        "process_pdfs"
    }

    fn stages(&self) -> Stages {
        Stages {
            split: true,
            merge: true,
        }
    }

    fn tools(&self) -> &[&str] {
        &["gm", "gs", "pdftotext", "qpdf", "tar"]
    }

    async fn split(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        let pdf = downloaded(ctx)?;
        let size = batch_size(&ctx.options)?;
        let work_dir = ctx.work_dir().await?.to_path_buf();
        let name = document_name(&pdf);
        let counted = tool(
            &work_dir,
            "qpdf",
            ["--show-npages".as_ref(), pdf.as_os_str()],
        )
        .await?;
        let pages: u64 = String::from_utf8_lossy(&counted)
            .trim()
            .parse()
            .map_err(|_| {
                ActionError::Permanent(format!("{} is not a PDF qpdf can read", pdf.display()))
            })?;
        let mut batches = Vec::new();
        for (first, last) in batches_of(pages, size) {
            let batch = work_dir.join(format!("{name}_p{first}-{last}.pdf"));
            let range = format!("{first}-{last}");
            tool(
                &work_dir,
                "qpdf",
                [
                    pdf.as_os_str(),
                    "--pages".as_ref(),
                    pdf.as_os_str(),
                    range.as_ref(),
                    "--".as_ref(),
                    batch.as_os_str(),
                ],
            )
            .await?;
            batches.push(Value::String(ctx.save(&batch).await?));
        }
        Ok(Value::Array(batches))
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        let batch = downloaded(ctx)?;
        let images = images(&ctx.options)?;
        let (name, first, last) = batch_name(&batch).ok_or_else(|| {
            ActionError::Permanent(format!(
                "{} is not a batch that process_pdfs' split made",
                batch.display()
            ))
        })?;
        let work_dir = ctx.work_dir().await?.to_path_buf();
        let root = work_dir.join("batch");
        let pages_dir = root.join(&name).join("text/pages");
        tokio::fs::create_dir_all(&pages_dir).await?;
        for (i, page) in (first..=last).enumerate() {
            let nth = (i + 1).to_string();
            let text = pages_dir.join(format!("{name}_{page}.txt"));
            tool(
                &work_dir,
                "pdftotext",
                [
                    "-enc".as_ref(),
                    "UTF-8".as_ref(),
                    "-layout".as_ref(),
                    "-q".as_ref(),
                    "-f".as_ref(),
                    nth.as_ref(),
                    "-l".as_ref(),
                    nth.as_ref(),
                    batch.as_os_str(),
                    text.as_os_str(),
                ],
            )
            .await?;
            for image in &images {
                let dir = root.join(&name).join("images").join(&image.name);
                tokio::fs::create_dir_all(&dir).await?;
                let out = dir.join(format!("{name}_{page}.{}", image.extension));
                let mut command = child::clean_command("gm", &work_dir);
                super::gm_fonts::use_type_map(&mut command, &work_dir).await?;
                command
                    .arg("convert")
                    .args(&image.args)
                    .arg(format!("{}[{i}]", batch.display()))
                    .arg(&out);
                finish(
                    child::run(command, Vec::new(), MAX_TOOL_OUTPUT).await?,
                    "gm convert",
                )?;
            }
        }
        let tar = work_dir.join(format!("{name}_p{first}-{last}.tar"));
        tool(
            &work_dir,
            "tar",
            [
                "-cf".as_ref(),
                tar.as_os_str(),
                "-C".as_ref(),
                root.as_os_str(),
                name.as_ref(),
            ],
        )
        .await?;
        Ok(Value::String(ctx.save(&tar).await?))
    }

    async fn merge(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        let batches = ctx.input.as_array().ok_or_else(|| {
            ActionError::Permanent(format!(
                "merge expected the batches' URLs, got {}",
                ctx.input
            ))
        })?;
        let work_dir = ctx.work_dir().await?.to_path_buf();
        let (fetched, root) = (work_dir.join("batches"), work_dir.join("merged"));
        tokio::fs::create_dir_all(&root).await?;
        for url in batches {
            let url = url.as_str().ok_or_else(|| {
                ActionError::Permanent(format!("a batch's output is not a URL: {url}"))
            })?;
            let tar = ctx.fetch(url, &fetched).await?;
            tool(
                &work_dir,
                "tar",
                [
                    "-xf".as_ref(),
                    tar.as_os_str(),
                    "-C".as_ref(),
                    root.as_os_str(),
                ],
            )
            .await?;
            tokio::fs::remove_file(&tar).await?;
        }
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(&root).await?;
        while let Some(entry) = entries.next_entry().await? {
            names.push(entry.file_name());
        }
        names.sort();
        for name in &names {
            join_pages(&root.join(name), &name.to_string_lossy()).await?;
        }
        let archive = work_dir.join("processed_pdfs.tar");
        let mut command = child::clean_command("tar", &work_dir);
        command
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(&root)
            .args(&names);
        finish(
            child::run(command, Vec::new(), MAX_TOOL_OUTPUT).await?,
            "tar",
        )?;
        Ok(Value::String(ctx.save(&archive).await?))
    }
}

/// `<dir>/text/full/<name>.txt`: the pages' texts in page order.
async fn join_pages(dir: &Path, name: &str) -> Result<(), ActionError> {
    let mut pages = Vec::new();
    let mut entries = tokio::fs::read_dir(dir.join("text/pages")).await?;
    while let Some(entry) = entries.next_entry().await? {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(page) = page_number(&file, name) {
            pages.push((page, entry.path()));
        }
    }
    pages.sort();
    let mut full = Vec::new();
    for (_, path) in pages {
        full.extend(tokio::fs::read(path).await?);
    }
    tokio::fs::create_dir_all(dir.join("text/full")).await?;
    tokio::fs::write(dir.join(format!("text/full/{name}.txt")), full).await?;
    Ok(())
}

/// Runs `program args` in `work_dir`; its stdout, or a failure quoting its stderr.
async fn tool<const N: usize>(
    work_dir: &Path,
    program: &str,
    args: [&std::ffi::OsStr; N],
) -> Result<Vec<u8>, ActionError> {
    let mut command = child::clean_command(program, work_dir);
    command.args(args);
    finish(
        child::run(command, Vec::new(), MAX_TOOL_OUTPUT).await?,
        program,
    )
}

fn finish(finished: child::Finished, program: &str) -> Result<Vec<u8>, ActionError> {
    // qpdf exits 3 for warnings about a damaged file it could still read.
    let fine = matches!(finished.ended, Ended::Succeeded)
        || (program == "qpdf" && finished.ended == Ended::Exited(3));
    if fine {
        return Ok(finished.stdout);
    }
    Err(ActionError::Retryable(format!(
        "{program} failed ({:?}): {}",
        finished.ended,
        String::from_utf8_lossy(&finished.stderr).trim()
    )))
}

fn downloaded(ctx: &StageContext) -> Result<PathBuf, ActionError> {
    ctx.input_path.clone().ok_or_else(|| {
        ActionError::Permanent(format!(
            "process_pdfs needs the URL of a PDF as its input, not {}",
            ctx.input
        ))
    })
}

fn document_name(pdf: &Path) -> String {
    pdf.file_stem()
        .and_then(|s| s.to_str())
        .map_or_else(|| "document".to_string(), safe_filename)
}

fn batch_size(options: &Value) -> Result<u64, ActionError> {
    match options.get("batch_size") {
        None | Some(Value::Null) => Ok(DEFAULT_BATCH_SIZE),
        Some(size) => size.as_u64().filter(|&n| n > 0).ok_or_else(|| {
            ActionError::Permanent(format!(
                "options.batch_size must be a whole number of pages above 0, not {size}"
            ))
        }),
    }
}

/// Page ranges of `size` pages (the last may be shorter), from page 1.
fn batches_of(pages: u64, size: u64) -> Vec<(u64, u64)> {
    (1..=pages)
        .step_by(usize::try_from(size).unwrap_or(usize::MAX))
        .map(|first| (first, (first + size - 1).min(pages)))
        .collect()
}

/// The document's name and page range from a batch's file name (`report_p1-7.pdf`).
fn batch_name(batch: &Path) -> Option<(String, u64, u64)> {
    let stem = batch.file_stem()?.to_str()?;
    let (name, range) = stem.rsplit_once("_p")?;
    let (first, last) = range.split_once('-')?;
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (!name.is_empty() && first >= 1 && first <= last).then(|| (name.to_string(), first, last))
}

/// The page of a page's text file (`report_12.txt` is page 12 of `report`).
fn page_number(file: &str, name: &str) -> Option<u64> {
    file.strip_prefix(name)?
        .strip_prefix('_')?
        .strip_suffix(".txt")?
        .parse()
        .ok()
}

/// An image every page is made into.
#[derive(Debug, PartialEq, Eq)]
struct Image {
    name: String,
    args: Vec<String>,
    extension: String,
}

fn images(options: &Value) -> Result<Vec<Image>, ActionError> {
    let Some(list) = options.get("images") else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| {
        ActionError::Permanent("options.images must be a list of {name, options, extension}".into())
    })?;
    list.iter()
        .map(|image| {
            let field = |key: &str| image.get(key).and_then(Value::as_str);
            let name = field("name").filter(|n| is_plain_name(n)).ok_or_else(|| {
                ActionError::Permanent(format!(
                    "an image of options.images needs a name of letters, digits, _ and -: {image}"
                ))
            })?;
            let extension = field("extension")
                .filter(|e| is_plain_extension(e))
                .ok_or_else(|| {
                    ActionError::Permanent(format!(
                        "image {name} needs an extension such as gif or png"
                    ))
                })?;
            Ok(Image {
                name: name.to_string(),
                args: arguments(name, field("options").unwrap_or(""))?,
                extension: extension.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pages_go_in_batches_whose_names_say_which() {
        assert_eq!(batches_of(7, 3), vec![(1, 3), (4, 6), (7, 7)]);
        assert_eq!(batches_of(2, 10), vec![(1, 2)]);
        assert_eq!(batches_of(0, 10), vec![]);
        assert_eq!(
            batch_name(Path::new("/w/annual-report_p4-6.pdf")),
            Some(("annual-report".into(), 4, 6))
        );
        assert_eq!(
            batch_name(Path::new("/w/x_p_p2-3.pdf")),
            Some(("x_p".into(), 2, 3))
        );
        assert_eq!(batch_name(Path::new("/w/report.pdf")), None);
        assert_eq!(page_number("report_12.txt", "report"), Some(12));
        assert_eq!(page_number("report-x_1.txt", "report"), None);
    }

    #[test]
    fn options_are_checked_before_anything_runs() {
        assert_eq!(batch_size(&json!({})).expect("default"), DEFAULT_BATCH_SIZE);
        assert_eq!(batch_size(&json!({"batch_size": 7})).expect("7"), 7);
        assert!(batch_size(&json!({"batch_size": 0})).is_err());
        let images = images(&json!({"images": [
            {"name": "700", "options": "-density 100 -resize 700x", "extension": "gif"}
        ]}))
        .expect("images");
        assert_eq!(images[0].args, vec!["-density", "100", "-resize", "700x"]);
        let refused = super::images(&json!({"images": [
            {"name": "x", "options": "-write /tmp/x.png", "extension": "gif"}
        ]}));
        assert!(refused.is_err_and(|e| !e.is_retryable()));
    }
}
