//! CloudCrowd's `graphics_magick` over an image the test makes with GraphicsMagick itself:
//! each step's result is stored in the format and size it asked for, a step can start from an
//! earlier one, and an option that would write another file is refused for good.

use std::process::Command;

use serde_json::json;

use crate::helpers::{Backend, TestStack};

/// `gm identify`'s format, width and height of a stored file.
async fn identify(stack: &TestStack, key: &str) -> String {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    stack.assets.fetch(key, file.path()).await.expect("fetch");
    let out = Command::new("gm")
        .args(["identify", "-format", "%m %w %h"])
        .arg(file.path())
        .output()
        .expect("gm identify (install graphicsmagick)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn an_image_goes_through_chained_steps(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let red = dir.path().join("red.png");
    let made = Command::new("gm")
        .args(["convert", "-size", "64x48", "xc:red"])
        .arg(&red)
        .status()
        .expect("gm convert (install graphicsmagick)");
    assert!(made.success());
    let input = stack.put_input_file("inputs/red.png", &red).await;
    let id = stack
        .post_id(json!({
            "action": "graphics_magick",
            "inputs": [input],
            "options": {"steps": [
                {"name": "small", "command": "convert", "options": "-resize 32x24", "extension": "jpg"},
                {"name": "gray", "command": "convert", "options": "-colorspace GRAY", "extension": "png", "input": "small"},
                {"name": "flipped", "command": "mogrify", "options": "-flip", "extension": "png"},
                // CloudCrowd's example step, as it is written: Helvetica is found on Debian.
                {"name": "annotated", "command": "convert", "extension": "jpg",
                 "options": "-font helvetica -fill red -draw \"font-size 35; text 75,75 CloudCrowd!\""},
            ]},
        }))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let output = &job["outputs"][0];
    for step in ["small", "gray", "flipped", "annotated"] {
        assert!(output[step].is_string(), "no URL for {step}: {job}");
    }
    let prefix = format!("graphics_magick/job_{id}/");
    let keys = stack.unit_files(&prefix).await;
    let key = |name: &str| {
        keys.iter()
            .find(|k| k.ends_with(name))
            .unwrap_or_else(|| panic!("no {name} in {keys:?}"))
            .clone()
    };
    assert_eq!(identify(&stack, &key("red_small.jpg")).await, "JPEG 32 24");
    assert_eq!(identify(&stack, &key("red_gray.png")).await, "PNG 32 24");
    assert_eq!(identify(&stack, &key("red_flipped.png")).await, "PNG 64 48");
    assert_eq!(
        identify(&stack, &key("red_annotated.jpg")).await,
        "JPEG 64 48"
    );

    let refused = stack
        .post_id(json!({
            "action": "graphics_magick",
            "inputs": [input],
            "options": {"steps": [
                {"name": "sneaky", "command": "convert", "options": "-write elsewhere.png", "extension": "png"},
            ]},
        }))
        .await;
    let job = stack.wait_for_job(refused).await;
    assert_eq!(job["status"], "failed", "{job}");
    let unit = &stack.units(refused).await[0];
    assert_eq!(unit.attempts, 1, "refused for good, not retried");
    let error = unit.error.clone().unwrap_or_default();
    assert!(
        error.contains(r#"the option "-write" is refused"#),
        "{error}"
    );
    stack.stop().await;
}

crate::on_both_backends!(an_image_goes_through_chained_steps);
