//! `crowd actions` and `crowd run-action`: the actions this configuration sees, and one stage
//! of one of them run here and now, for developing an action. Neither needs a running service;
//! both see what `crowd up` in this directory would (`./actions` included).

use std::path::PathBuf;

use clap::Args;
use crowd::{
    one_machine,
    shared::{status::Stage, storage, Config},
    worker::{
        local::{run_stage, LocalStage},
        Registry,
    },
};
use serde_json::{Map, Value};

use super::{
    show::print_table,
    submit::{input_value, parse_options},
    Outcome,
};

#[derive(Args)]
pub struct RunActionArgs {
    /// The action, e.g. count_words.
    action: String,
    /// The input: a local path (read as a file:// URL), a URL, JSON (a merge takes the array
    /// of outputs) or text.
    input: String,
    /// The job's options, a JSON object, e.g. '{"lines_per_chunk": 100}'.
    #[arg(long, value_name = "JSON", value_parser = parse_options)]
    options: Option<Map<String, Value>>,
    /// The stage to run: split, process or merge.
    #[arg(long, default_value = "process", value_parser = parse_stage)]
    stage: Stage,
    /// Where saved files and scratch space go, as for `crowd up`.
    #[arg(long, default_value = "crowd-data")]
    data_dir: PathBuf,
}

/// `crowd actions`: name, stages and where each action is defined.
pub fn list(mut config: Config) -> anyhow::Result<Outcome> {
    one_machine::actions_defaults(&mut config, std::env::current_dir().ok());
    let registry = Registry::from_config(&config)?;
    let catalog = registry.catalog();
    let rows = catalog.iter().map(|(name, stages)| {
        let mut names = Vec::new();
        if stages.split {
            names.push("split");
        }
        names.push("process");
        if stages.merge {
            names.push("merge");
        }
        let defined = registry
            .program(name)
            .map_or_else(|| "built in".to_string(), |path| path.display().to_string());
        vec![name.clone(), names.join(", "), defined]
    });
    print_table(&["ACTION", "STAGES", "DEFINED"], rows);
    Ok(Outcome::Done)
}

/// `crowd run-action`: the stage's output as JSON on stdout; a failure of the action exits 1.
pub async fn run(args: RunActionArgs, mut config: Config) -> anyhow::Result<Outcome> {
    let cwd = std::env::current_dir().ok();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    one_machine::data_defaults(&mut config, &args.data_dir, home, cwd.clone());
    one_machine::actions_defaults(&mut config, cwd);
    one_machine::listening_defaults(&mut config, "127.0.0.1");
    let registry = Registry::from_config(&config)?;
    // Asking for what is not there is a mistake of the command (exit 2), not a failure of
    // the action.
    let catalog = registry.catalog();
    let Some(stages) = catalog.get(&args.action) else {
        let known: Vec<&str> = catalog.keys().map(String::as_str).collect();
        anyhow::bail!(
            "there is no action named {}; there are: {}",
            args.action,
            known.join(", ")
        );
    };
    anyhow::ensure!(
        stages.has(args.stage),
        "{} has no {} stage",
        args.action,
        args.stage.as_str()
    );
    let assets = storage::from_config(&config).await?;
    let asked = LocalStage {
        action: args.action,
        stage: args.stage,
        input: input(&args.input),
        options: Value::Object(args.options.unwrap_or_default()),
    };
    match run_stage(&config, &registry, assets, asked).await {
        Ok(output) => {
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(Outcome::Done)
        }
        Err(e) => {
            let retried = if e.is_retryable() {
                "a worker would try it again"
            } else {
                "for good: a worker would not try it again"
            };
            eprintln!("the {} stage failed ({retried}): {e}", args.stage.as_str());
            Ok(Outcome::JobFailed)
        }
    }
}

fn parse_stage(raw: &str) -> Result<Stage, String> {
    match raw {
        "split" => Ok(Stage::Split),
        "process" => Ok(Stage::Process),
        "merge" => Ok(Stage::Merge),
        other => Err(format!(
            "{other:?} is no stage: use split, process or merge"
        )),
    }
}

/// A local file as its `file://` URL, JSON as it is, anything else as text.
fn input(raw: &str) -> Value {
    let sent = input_value(raw);
    if sent != raw {
        return Value::String(sent);
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_input_is_a_file_json_or_text() {
        assert_eq!(input("to be or not"), json!("to be or not"));
        assert_eq!(input("[1, 2]"), json!([1, 2]));
        assert_eq!(
            input("https://example.com/a.txt"),
            json!("https://example.com/a.txt")
        );
        let file = tempfile::NamedTempFile::new().expect("file");
        let url = input(file.path().to_str().expect("path"));
        assert!(
            url.as_str().is_some_and(|u| u.starts_with("file:///")),
            "{url}"
        );
    }
}
