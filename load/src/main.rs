//! `rustchat-load`: drives running RustChat nodes through their public API and measures what users
//! feel, checking every delivery. See `docs/benchmarks.md` for the scenarios and `scripts/bench` for
//! one command per scenario.
//!
//! - [`seed`]: users, a team and channels over REST (or from `--seed-cache`).
//! - [`plan`]: which process holds which sockets.
//! - [`worker`] / [`client`]: the sockets — connect, resume, read, check, reconnect, churn.
//! - [`poster`]: open-loop posting with retries on another node.
//! - [`tally`]: per-reader seq checks and HDR histograms.
//! - [`procstat`]: server CPU and RSS from `/proc`.
//! - [`run`]: the phases of a run; [`merge`]: the workers' results into one; [`report`]: JSON,
//!   Markdown and the verdict.
//!
//! The nodes must allow the registrations and connects: run them with high
//! `RUSTCHAT_SECURITY_RATE_LIMIT_*` values.

mod api;
mod args;
mod client;
mod merge;
mod plan;
mod poster;
mod procstat;
mod report;
mod run;
mod seed;
mod tally;
mod worker;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads.filter(|n| *n >= 1) {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rustchat-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match &args.worker {
            Some(plan) => worker::main_process(plan).await.map(|()| true),
            None => run::run(args.clone()).await,
        }
    });
    // Client tasks may still be winding down; do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rustchat-load: {e:#}");
            ExitCode::from(2)
        }
    }
}
