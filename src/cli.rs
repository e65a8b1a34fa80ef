//! Command-line flags. Everything else is configured through `RUSTCHAT_*` variables.

use clap::Parser;

/// RustChat: a self-hosted team chat server. One process is one node; configure it with RUSTCHAT_*
/// environment variables or a .env file in the working directory.
#[derive(Debug, Parser)]
#[command(name = "rustchat", version, about, long_about = None)]
pub struct Cli {
    /// Print the effective configuration (secrets redacted) and where each value came from, check it,
    /// try the database and Redis, and exit 0 (usable) or 2 (not usable).
    #[arg(long, conflicts_with = "migrate_only")]
    pub check_config: bool,

    /// Apply pending database migrations and exit.
    #[arg(long)]
    pub migrate_only: bool,
}
