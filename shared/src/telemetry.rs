//! The one place tracing is set up. `RUST_LOG` filters; `info` by default. Logs go to stderr,
//! so what a command prints on stdout (an id, outputs, a count) can be piped.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=warn,warp=warn,refinery_core=warn"));
    // A second init (tests start many services) is not an error worth reporting.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
