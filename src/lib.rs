//! RustChat: a self-hosted team chat server. One process is one node; nodes share PostgreSQL and fan
//! real-time events out to each other over Redis pub/sub.
//!
//! # Layout
//! - [`config`]: typed settings from `RUSTCHAT_*` variables and `.env`; `--check-config`.
//! - [`cli`]: flags, exit codes and `rustchat admin` (accounts from the command line).
//! - [`startup`]: [`startup::Node`] builds, serves and drains one node; [`http::faults`]: test-only fault
//!   injection into the supervisor tree (debug builds).
//! - [`http`]: the route table under `/api/v1`, one module per resource.
//! - [`files`]: attachments' bytes (a directory or S3), their inspection and sweep.
//! - [`store`]: all SQL, for PostgreSQL and SQLite, behind one [`store::Store`].
//! - [`cluster`]: what crosses nodes through Redis; [`realtime`]: the actor tree's wiring.
//! - [`telemetry`]: JSON log lines in the runbook's layout, request logging.
//! - [`domain`]: ids, timestamps and user input parsed into types that only hold valid values.
//! - [`auth`]: passwords, tokens, the [`auth::AuthUser`] extractor; [`access`]: who may see what.
//! - [`site`]: the cached site settings.
//! - [`error`]: the one error type and its JSON body.
//! - [`webhooks`]: calls out (outgoing webhooks, slash commands) behind the SSRF guard; [`delivery`]:
//!   the outbox worker that makes webhook calls at least once.

pub mod access;
pub mod app;
pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod files;
pub mod http;
pub mod mattermost;
pub mod memory;
pub mod oidc;
pub mod ratelimit;
pub mod realtime;
pub mod site;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod webhooks;
