//! `graphics_magick`: CloudCrowd's image action. `options.steps` is a list of steps, each
//! `{name, command, options, extension, input?}`: GraphicsMagick's `command` runs with
//! `options` on the unit's image (or on the result of the earlier step named by `input`), the
//! result is stored, and the output maps each step's name to its URL.
//!
//! Unlike the original, no shell: `options` is split into arguments by shell rules, the command
//! is one of GraphicsMagick's image commands, and arguments that would read or write other
//! files (`-write`, `@file`, absolute paths, `..`, URLs) are refused for good. GraphicsMagick
//! runs in the unit's work directory, with a clean environment, in its own process group.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::{
    download::safe_filename,
    executable::{child, protocol},
    plain_name::{is_plain_extension, is_plain_name},
    Action, ActionError, StageContext,
};

/// The GraphicsMagick commands a step may run.
const COMMANDS: [&str; 4] = ["convert", "mogrify", "composite", "montage"];
/// Bytes of output `gm` may print.
const MAX_TOOL_OUTPUT: usize = 64 * 1024;

pub struct GraphicsMagick;

#[async_trait]
impl Action for GraphicsMagick {
    fn name(&self) -> &str {
        "graphics_magick"
    }

    fn tools(&self) -> &[&str] {
        &["gm"]
    }

    async fn process(&self, ctx: &StageContext) -> Result<Value, ActionError> {
        let steps = steps(&ctx.options)?;
        let image = ctx.input_path.clone().ok_or_else(|| {
            ActionError::Permanent(format!(
                "graphics_magick needs the URL of an image as its input, not {}",
                ctx.input
            ))
        })?;
        let work_dir = ctx.work_dir().await?.to_path_buf();
        let stem = image
            .file_stem()
            .and_then(|s| s.to_str())
            .map_or_else(|| "image".to_string(), safe_filename);
        let mut made: Vec<(String, PathBuf)> = Vec::new();
        let mut output = Map::new();
        for step in steps {
            let from = match &step.input {
                Some(name) => made
                    .iter()
                    .find(|(made, _)| made == name)
                    .map(|(_, path)| path.clone())
                    .ok_or_else(|| unknown_input(&step.name, name))?,
                None => image.clone(),
            };
            let to = work_dir.join(format!("{stem}_{}.{}", step.name, step.extension));
            run_step(&step, &from, &to, &work_dir).await?;
            output.insert(step.name.clone(), Value::String(ctx.save(&to).await?));
            made.push((step.name, to));
        }
        Ok(Value::Object(output))
    }
}

async fn run_step(step: &Step, from: &Path, to: &Path, work_dir: &Path) -> Result<(), ActionError> {
    let mut command = child::clean_command("gm", work_dir);
    super::gm_fonts::use_type_map(&mut command, work_dir).await?;
    command.arg(&step.command).args(&step.args);
    if step.command == "mogrify" {
        // mogrify changes its file in place: a copy of the input, named as the result.
        tokio::fs::copy(from, to).await?;
        command.arg(to);
    } else {
        command.arg(from).arg(to);
    }
    let finished = child::run(command, Vec::new(), MAX_TOOL_OUTPUT).await?;
    if finished.ended == protocol::Ended::Succeeded {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&finished.stderr);
    Err(ActionError::Retryable(format!(
        "gm {} for step {} failed ({:?}): {}",
        step.command,
        step.name,
        finished.ended,
        why.trim()
    )))
}

/// One step of `options.steps`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    name: String,
    command: String,
    args: Vec<String>,
    extension: String,
    input: Option<String>,
}

/// The steps `options` asks for, every one checked before any runs.
fn steps(options: &Value) -> Result<Vec<Step>, ActionError> {
    let Some(steps) = options.get("steps").and_then(Value::as_array) else {
        return Err(refused("options.steps must be a list of steps".into()));
    };
    if steps.is_empty() {
        return Err(refused("options.steps is empty".into()));
    }
    let mut checked: Vec<Step> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let field = |key: &str| step.get(key).and_then(Value::as_str);
        let name = field("name")
            .filter(|n| is_plain_name(n))
            .ok_or_else(|| {
                refused(format!(
                    "step {i} needs a name of letters, digits, _ and - (the file it makes is named after it)"
                ))
            })?
            .to_string();
        if checked.iter().any(|s| s.name == name) {
            return Err(refused(format!("two steps are named {name}")));
        }
        let command = field("command").unwrap_or("");
        if !COMMANDS.contains(&command) {
            return Err(refused(format!(
                "step {name}: the command must be one of {}, not {command:?}",
                COMMANDS.join(", ")
            )));
        }
        let extension = field("extension")
            .filter(|e| is_plain_extension(e))
            .ok_or_else(|| refused(format!("step {name} needs an extension such as png or jpg")))?
            .to_string();
        let input = field("input").map(String::from);
        if let Some(input) = &input {
            if !checked.iter().any(|s| &s.name == input) {
                return Err(unknown_input(&name, input));
            }
        }
        checked.push(Step {
            args: arguments(&name, field("options").unwrap_or(""))?,
            name,
            command: command.to_string(),
            extension,
            input,
        });
    }
    Ok(checked)
}

/// `options` split as a shell would, with every argument that could reach another file refused.
pub(crate) fn arguments(step: &str, options: &str) -> Result<Vec<String>, ActionError> {
    let args = shell_words::split(options).map_err(|e| {
        refused(format!(
            "step {step}: its options do not split into arguments: {e}"
        ))
    })?;
    for arg in &args {
        let why = if matches!(arg.as_str(), "-write" | "+write") {
            Some("writes another file")
        } else if arg.contains('@') {
            Some("reads a file named after @")
        } else if words(arg).any(|w| w.starts_with('/') || w.contains(":/")) {
            Some("names an absolute path or a URL")
        } else if arg.contains("..") {
            Some("leads out of the work directory")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(refused(format!(
                "step {step}: the option {arg:?} is refused: it {why}"
            )));
        }
    }
    Ok(args)
}

/// The words of an argument, unquoted: `-draw` takes a little language whose words may name
/// files too.
fn words(arg: &str) -> impl Iterator<Item = &str> {
    arg.split_whitespace()
        .map(|w| w.trim_matches(|c| c == '\'' || c == '"'))
}

fn unknown_input(step: &str, input: &str) -> ActionError {
    refused(format!(
        "step {step} starts from {input:?}, which is not an earlier step"
    ))
}

fn refused(why: String) -> ActionError {
    ActionError::Permanent(format!("graphics_magick: {why}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn steps_are_read_and_chained() {
        let steps = steps(&json!({"steps": [
            {"name": "small", "command": "convert", "options": "-resize '50%' -quality 80", "extension": "jpg"},
            {"name": "gray", "command": "mogrify", "options": "-colorspace GRAY", "extension": "jpg", "input": "small"},
        ]}))
        .expect("steps");
        assert_eq!(steps[0].args, vec!["-resize", "50%", "-quality", "80"]);
        assert_eq!(steps[1].input.as_deref(), Some("small"));
        assert_eq!(steps[1].command, "mogrify");
    }

    #[test]
    fn options_that_reach_other_files_are_refused() {
        for options in [
            "-write out.png",
            "+write out.png",
            "@list.txt",
            "-draw 'image over 0,0 0,0 /etc/passwd'",
            r#"-draw "image over 0,0 0,0 '/etc/passwd'""#,
            "-font ../../fonts/x.ttf",
            "label:@secret",
            "-texture https://example.com/x.png",
        ] {
            let e = arguments("s", options).expect_err(options);
            assert!(!e.is_retryable(), "{options}");
            assert!(e.to_string().contains("is refused"), "{options}: {e}");
        }
        assert!(arguments("s", "-font helvetica -annotate +10+20 'Hello there'").is_ok());
    }

    #[test]
    fn a_bad_step_is_named() {
        for (steps, needle) in [
            (json!({}), "options.steps must be a list"),
            (json!({"steps": []}), "is empty"),
            (
                json!({"steps": [{"name": "a", "command": "display", "extension": "png"}]}),
                "must be one of",
            ),
            (
                json!({"steps": [{"name": "a/b", "command": "convert", "extension": "png"}]}),
                "needs a name",
            ),
            (
                json!({"steps": [{"name": "a", "command": "convert", "extension": "p.g"}]}),
                "needs an extension",
            ),
            (
                json!({"steps": [{"name": "a", "command": "convert", "extension": "png", "input": "b"}]}),
                "not an earlier step",
            ),
            (
                json!({"steps": [
                {"name": "a", "command": "convert", "extension": "png"},
                {"name": "a", "command": "convert", "extension": "png"}]}),
                "two steps are named a",
            ),
        ] {
            let e = super::steps(&steps).expect_err(needle);
            assert!(!e.is_retryable());
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
    }
}
