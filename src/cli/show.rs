//! `crowd status`, `crowd jobs` and `crowd job`: what the api knows, as plain-text tables (or
//! the api's own JSON with `--json`).

use clap::Args;
use serde_json::Value;

use super::{
    client::{Client, JobUnits, JobsPage, JobsQuery, Status},
    ApiArgs, Outcome,
};

/// Inputs and results longer than this are cut in tables; `--json` shows them whole.
const CELL_CHARS: usize = 48;

#[derive(Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub(super) api: ApiArgs,
    /// Only jobs in this status (`incomplete`: not yet ended; `complete`: ended).
    #[arg(long, value_parser = ["processing", "succeeded", "failed", "splitting", "merging",
                                "incomplete", "complete"])]
    status: Option<String>,
    /// Which page, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    page: u32,
    /// Jobs per page.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=200))]
    per_page: u32,
    /// Print the api's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn status(client: &Client, json: bool) -> anyhow::Result<Outcome> {
    if json {
        return print_json(&client.status::<Value>().await?);
    }
    let status: Status = client.status().await?;
    println!(
        "{} incomplete jobs, {} incomplete work units; worker nodes: {}",
        status.job_count,
        status.work_unit_count,
        status.nodes.len()
    );
    if !status.nodes.is_empty() {
        println!();
        let rows = status.nodes.iter().map(|node| {
            vec![
                node.host.clone(),
                node.tag.clone().unwrap_or_else(|| "-".into()),
                node.status.clone(),
                format!("{}/{}", node.workers.len(), node.max_workers),
            ]
        });
        print_table(&["HOST", "TAG", "STATUS", "WORKERS"], rows);
    }
    Ok(Outcome::Done)
}

pub async fn jobs(args: JobsArgs) -> anyhow::Result<Outcome> {
    let client = args.api.client()?;
    let query = JobsQuery {
        status: args.status,
        page: args.page,
        per_page: args.per_page,
    };
    if args.json {
        return print_json(&client.jobs::<Value>(&query).await?);
    }
    let page: JobsPage = client.jobs(&query).await?;
    if page.jobs.is_empty() {
        println!("no jobs on page {} ({} in all)", page.page, page.total);
        return Ok(Outcome::Done);
    }
    let rows = page.jobs.iter().map(|job| {
        vec![
            job.id.to_string(),
            job.action.clone().unwrap_or_default(),
            job.status.clone(),
            format!("{}%", job.percent_complete),
            job.work_units.to_string(),
            duration(job.time_taken),
        ]
    });
    print_table(
        &["ID", "ACTION", "STATUS", "DONE", "UNITS LEFT", "TIME"],
        rows,
    );
    let pages = page.total.div_ceil(u64::from(page.per_page.max(1)));
    println!("\npage {} of {pages} ({} jobs)", page.page, page.total);
    Ok(Outcome::Done)
}

pub async fn job(client: &Client, id: u64, json: bool) -> anyhow::Result<Outcome> {
    if json {
        return print_json(&client.units::<Value>(id).await?);
    }
    let JobUnits { job, units, total } = client.units(id).await?;
    println!(
        "job {}  {}  {}  {}% done, {} units left, {}",
        job.id,
        job.action.as_deref().unwrap_or("?"),
        job.status,
        job.percent_complete,
        job.work_units,
        duration(job.time_taken)
    );
    if let Some(outputs) = &job.outputs {
        println!("outputs: {outputs}");
    }
    println!();
    let rows = units.iter().map(|unit| {
        let result = match (&unit.error, &unit.output) {
            (Some(error), _) => format!("error: {error}"),
            (None, Some(output)) => cell(output),
            (None, None) => String::new(),
        };
        vec![
            unit.id.to_string(),
            unit.stage.clone(),
            unit.status.clone(),
            unit.attempts.to_string(),
            unit.time.map(duration).unwrap_or_default(),
            cell(&unit.input),
            shorten(&result),
        ]
    });
    print_table(
        &[
            "UNIT", "STAGE", "STATUS", "ATTEMPTS", "TIME", "INPUT", "RESULT",
        ],
        rows,
    );
    let shown = units.len() as u64;
    if let Some(total) = total.filter(|&total| total > shown) {
        println!(
            "\nthe first {shown} of {total} units; the rest: GET /jobs/{id}/units?page=2 and on"
        );
    }
    Ok(Outcome::Done)
}

fn print_json(value: &Value) -> anyhow::Result<Outcome> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(Outcome::Done)
}

/// Left-aligned columns, each as wide as its widest cell, two spaces apart.
pub(super) fn print_table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// A JSON value on one short line: a string as it is, anything else as JSON.
fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => shorten(text),
        other => shorten(&other.to_string()),
    }
}

/// Text keeps its start; a URL keeps its scheme and its end, where the file's name is.
fn shorten(text: &str) -> String {
    let chars: Vec<char> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect();
    if chars.len() <= CELL_CHARS {
        return chars.into_iter().collect();
    }
    let head = if text.contains("://") {
        12
    } else {
        CELL_CHARS - 1
    };
    let tail = CELL_CHARS - 1 - head;
    let start: String = chars[..head].iter().collect();
    let end: String = chars[chars.len() - tail..].iter().collect();
    format!("{start}…{end}")
}

/// Seconds as people read them: `0.4s`, `12.0s`, `3m04s`, `2h05m`.
fn duration(secs: f64) -> String {
    let whole = secs.max(0.0) as u64;
    match whole {
        0..60 => format!("{secs:.1}s"),
        60..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_sensible_unit() {
        assert_eq!(duration(0.42), "0.4s");
        assert_eq!(duration(184.0), "3m04s");
        assert_eq!(duration(7500.0), "2h05m");
    }

    #[test]
    fn long_cells_are_cut_to_one_short_line() {
        let long = "word ".repeat(40);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), CELL_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(shorten("one\ntwo"), "one two");
        let url = format!("file:///data/{}/chunk_2.txt", "x".repeat(60));
        let cut = shorten(&url);
        assert!(
            cut.starts_with("file:///dat") && cut.ends_with("x/chunk_2.txt"),
            "{cut}"
        );
    }
}
