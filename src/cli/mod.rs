//! Command-line flags and commands. Everything else is configured through `RUSTCHAT_*` variables.
//!
//! Exit codes, the same for every mode (documented in the README):
//! 0 done; 1 the database could not be used or a step failed; 2 the configuration, the command line
//! or a value given to a command is invalid; 3 no such user; 4 the username or email is taken.

pub mod admin;

use clap::{Parser, Subcommand};

/// Exit codes; see the module documentation.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const INVALID: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const CONFLICT: u8 = 4;
}

/// RustChat: a self-hosted team chat server. One process is one node; configure it with RUSTCHAT_*
/// environment variables or a .env file in the working directory.
#[derive(Debug, Parser)]
#[command(name = "rustchat", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Print the effective configuration (secrets redacted) and where each value came from, check it,
    /// try the database and Redis, and exit 0 (usable) or 2 (not usable).
    #[arg(long, conflicts_with = "migrate_only")]
    pub check_config: bool,

    /// Apply pending database migrations, logging each, and exit.
    #[arg(long)]
    pub migrate_only: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage accounts in the configured database directly; no node needs to run.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}
