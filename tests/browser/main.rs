//! The operations center in a real browser: `crowd up`'s stack runs in-process on a free port,
//! and `tests/browser/ops_center.mjs` drives Chromium against it (posts a job, watches its bar
//! reach 100%, opens its page, cancels a job, checks the reconnect banner, the graphs drawn from
//! history, pausing and resuming an action, retrying failed units, and the whole page through a
//! reverse proxy under a path prefix).
//!
//! Needs Node, `npm ci --prefix tests/browser` (playwright-core) and Chromium at
//! `/usr/bin/chromium` (or `CHROMIUM`); `.ci/run` installs them. Without them the test fails
//! and says so, rather than passing without having looked at the page.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

#[path = "../common/up_stack.rs"]
#[allow(dead_code)] // The shared fixture has more than this test uses.
mod up_stack;

use up_stack::UpStack;

const SETUP: &str = "run `npm ci --prefix tests/browser` and `apt-get install chromium` \
                     (or set CHROMIUM to a Chromium binary)";

/// Fails with what to install when the browser test's tools are missing.
fn require_tools(root: &Path) {
    let playwright = root.join("tests/browser/node_modules/playwright-core");
    assert!(
        playwright.is_dir(),
        "{} is missing: {SETUP}",
        playwright.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: {SETUP}"
    );
}

fn run_script(root: PathBuf, api: String, screenshot: PathBuf) -> Output {
    Command::new("node")
        .current_dir(&root)
        .arg("tests/browser/ops_center.mjs")
        .arg(&api)
        .arg(&screenshot)
        .output()
        .unwrap_or_else(|e| panic!("could not run node ({e}): install Node.js, then {SETUP}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operations_center_shows_a_job_run_to_completion_in_a_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    require_tools(&root);

    let stack = UpStack::start(crowd::Choice::default(), |_| {}).await;
    let api = stack.api.clone();

    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ops-center.png");
    // The script's own waits are bounded (30 s each), so this cannot hang.
    let output = tokio::task::spawn_blocking(move || run_script(root, api, screenshot))
        .await
        .expect("the script's task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    assert!(
        output.status.success(),
        "ops_center.mjs failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );

    stack.stop().await;
}
