//! CloudCrowd's `process_pdfs` over a PDF of five pages with known text that the test makes
//! with Ghostscript: split into batches, each page's text and an image of every page per size,
//! merged into one archive laid out as CloudCrowd lays it out.

use std::{path::Path, process::Command};

use serde_json::json;

use crate::helpers::{Backend, TestStack};

const WORDS: [&str; 5] = ["alpha", "bravo", "charlie", "delta", "echo"];

/// A PDF whose page n says "Page n says <word n>".
fn make_pdf(dir: &Path) -> std::path::PathBuf {
    let mut ps = String::from("%!PS\n/Helvetica findfont 24 scalefont setfont\n");
    for (i, word) in WORDS.iter().enumerate() {
        ps.push_str(&format!(
            "72 700 moveto (Page {} says {word}) show showpage\n",
            i + 1
        ));
    }
    let source = dir.join("report.ps");
    std::fs::write(&source, ps).expect("write");
    let pdf = dir.join("report.pdf");
    let made = Command::new("gs")
        .args(["-q", "-sDEVICE=pdfwrite", "-o"])
        .arg(&pdf)
        .arg(&source)
        .status()
        .expect("gs (install ghostscript)");
    assert!(made.success());
    pdf
}

async fn a_pdf_becomes_an_archive_of_page_texts_and_images(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let input = stack
        .put_input_file("inputs/report.pdf", &make_pdf(dir.path()))
        .await;
    let id = stack
        .post_id(json!({
            "action": "process_pdfs",
            "inputs": [input],
            "options": {"batch_size": 2, "images": [
                {"name": "small", "options": "-density 36", "extension": "gif"},
                {"name": "large", "options": "-density 72", "extension": "png"},
            ]},
        }))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let keys = stack.unit_files(&format!("process_pdfs/job_{id}/")).await;
    let archive_key = keys
        .iter()
        .find(|k| k.ends_with("/processed_pdfs.tar"))
        .unwrap_or_else(|| panic!("no archive in {keys:?}"));
    let archive = dir.path().join("processed_pdfs.tar");
    stack
        .assets
        .fetch(archive_key, &archive)
        .await
        .expect("fetch");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    assert!(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&out)
        .status()
        .expect("tar")
        .success());

    let doc = out.join("report");
    let full = std::fs::read_to_string(doc.join("text/full/report.txt")).expect("the full text");
    let mut at = 0;
    for (i, word) in WORDS.iter().enumerate() {
        let page = i + 1;
        let text = std::fs::read_to_string(doc.join(format!("text/pages/report_{page}.txt")))
            .unwrap_or_else(|e| panic!("page {page}'s text: {e}"));
        assert!(
            text.contains(&format!("Page {page} says {word}")),
            "page {page}: {text:?}"
        );
        let found = full[at..]
            .find(word)
            .unwrap_or_else(|| panic!("{word} in order in {full:?}"));
        at += found;
        for (size, ext) in [("small", "gif"), ("large", "png")] {
            let image = doc.join(format!("images/{size}/report_{page}.{ext}"));
            assert!(image.is_file(), "no {}", image.display());
        }
    }
    for size in ["small", "large"] {
        let images = std::fs::read_dir(doc.join("images").join(size))
            .expect("images")
            .count();
        assert_eq!(images, WORDS.len(), "one {size} image per page");
    }
    stack.stop().await;
}

crate::on_both_backends!(a_pdf_becomes_an_archive_of_page_texts_and_images);
