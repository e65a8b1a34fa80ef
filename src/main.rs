//! The `rustchat` binary: flags → configuration → logs → one of check / migrate / admin / serve.
//! Exit codes are listed in [`rustchat::cli`].

use std::process::ExitCode;

use clap::Parser;
use rustchat::cli::{Cli, Command, exit};
use rustchat::config::{Settings, check_config, ensure_development_secrets};
use rustchat::error::report;
use rustchat::startup::{Node, stop_on_signal};
use rustchat::store::{Store, Unusable};

fn main() -> ExitCode {
    rustchat::memory::tune();
    let cli = Cli::parse();
    let mut settings = match Settings::from_process_env() {
        Ok(s) => s,
        Err(errors) => {
            eprint!("rustchat: {errors}");
            return ExitCode::from(exit::INVALID);
        }
    };

    if cli.check_config {
        return run_async(async move {
            let mut stdout = std::io::stdout();
            match check_config(&settings, &mut stdout).await {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("rustchat: cannot write the report: {e}");
                    ExitCode::from(exit::INVALID)
                }
            }
        });
    }

    if let Some(Command::Admin(command)) = cli.command {
        // Stdout carries the command's answer (a table, JSON); log lines go to stderr.
        if let Err(e) = rustchat::telemetry::init(&settings.log, std::io::stderr) {
            eprintln!("rustchat: {}", report(&e));
            return ExitCode::from(exit::INVALID);
        }
        return run_async(async move { ExitCode::from(rustchat::cli::admin::run(command, &settings).await) });
    }

    if let Err(e) = rustchat::telemetry::init(&settings.log, std::io::stdout) {
        eprintln!("rustchat: {}", report(&e));
        return ExitCode::from(exit::INVALID);
    }
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }

    if cli.migrate_only {
        return run_async(async move {
            match migrate_only(&settings).await {
                Ok((0, known)) => {
                    tracing::info!(
                        applied = 0,
                        migrations = known,
                        "no migration pending: the database schema is up to date"
                    );
                    ExitCode::SUCCESS
                }
                Ok((applied, known)) => {
                    let s = if applied == 1 { "" } else { "s" };
                    tracing::info!(applied, migrations = known, "applied {applied} migration{s}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    tracing::error!(error = report(&e), cause = cause(&e), "migration failed");
                    ExitCode::from(exit::FAILED)
                }
            }
        });
    }

    if !settings.is_production() {
        match ensure_development_secrets(&mut settings) {
            Ok(warnings) => warnings.iter().for_each(|w| tracing::warn!("{w}")),
            Err(e) => {
                tracing::error!(error = %e, "cannot keep development secrets in the data directory");
                return ExitCode::from(exit::INVALID);
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
                tracing::error!(error = report(&e), cause = cause(&e), "rustchat node failed");
                ExitCode::from(exit::FAILED)
            }
        }
    })
}

/// Applies pending migrations; returns how many this run applied and how many the binary knows.
async fn migrate_only(settings: &Settings) -> anyhow::Result<(usize, usize)> {
    let store = Store::connect_lazy(&settings.database)?;
    let result = async {
        let lock = store.migration_lock().await?;
        store.check_reachable(settings.database.acquire_timeout).await?;
        let applied = store.migrate_locked(&lock).await?;
        let status = store.migration_status().await?;
        anyhow::Ok((applied.len(), status.known))
    }
    .await;
    store.close().await;
    result
}

/// The `cause` field of a failure's log line, when the database was the problem.
fn cause(e: &anyhow::Error) -> Option<&'static str> {
    e.chain().find_map(|c| c.downcast_ref::<Unusable>()).map(|u| u.cause.as_str())
}

/// Runs `future` on an actix system (a tokio runtime that also hosts actors).
fn run_async(future: impl Future<Output = ExitCode>) -> ExitCode {
    actix_web::rt::System::new().block_on(future)
}
