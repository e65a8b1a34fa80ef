//! The `rustchat` binary: flags → configuration → logs → one of check / migrate / serve.

use std::process::ExitCode;

use clap::Parser;
use rustchat::cli::Cli;
use rustchat::config::{Settings, check_config, ensure_development_secrets};
use rustchat::startup::{Node, stop_on_signal};
use rustchat::store::Store;

/// Exit code for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    rustchat::memory::tune();
    let cli = Cli::parse();
    let mut settings = match Settings::from_process_env() {
        Ok(s) => s,
        Err(errors) => {
            eprint!("rustchat: {errors}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };

    if cli.check_config {
        return run_async(async move {
            let mut stdout = std::io::stdout();
            match check_config(&settings, &mut stdout).await {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("rustchat: cannot write the report: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        });
    }

    if let Err(e) = rustchat::telemetry::init(&settings.log, std::io::stdout) {
        eprintln!("rustchat: {e:#}");
        return ExitCode::from(EXIT_CONFIG);
    }
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }

    if cli.migrate_only {
        return run_async(async move {
            let result = async {
                let store = Store::connect_lazy(&settings.database)?;
                store.migrate().await?;
                let status = store.migration_status().await?;
                store.close().await;
                anyhow::Ok(status.known)
            };
            match result.await {
                Ok(known) => {
                    tracing::info!(migrations = known, "database schema is up to date");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "migration failed");
                    ExitCode::FAILURE
                }
            }
        });
    }

    if !settings.is_production() {
        match ensure_development_secrets(&mut settings) {
            Ok(warnings) => warnings.iter().for_each(|w| tracing::warn!("{w}")),
            Err(e) => {
                tracing::error!(error = %e, "cannot keep development secrets in the data directory");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }

    rustchat::memory::start_trimmer(std::time::Duration::from_secs(10));
    run_async(async move {
        let result = async {
            let node = Node::build(settings).await?;
            tokio::spawn(stop_on_signal(node.handle()));
            node.run().await
        };
        match result.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "rustchat node failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// Runs `future` on an actix system (a tokio runtime that also hosts actors).
fn run_async(future: impl Future<Output = ExitCode>) -> ExitCode {
    actix_web::rt::System::new().block_on(future)
}
