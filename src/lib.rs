//! RustChat: a self-hosted team chat server. One process is one node; nodes share PostgreSQL and fan
//! real-time events out to each other over Redis pub/sub.
//!
//! # Layout
//! - [`config`]: typed settings from `RUSTCHAT_*` variables and `.env`; `--check-config`.
//! - [`startup`]: [`startup::Node`] builds, serves and drains one node.
//! - [`http`]: the route table under `/api/v1`, one module per resource.
//! - [`store`]: all SQL, for PostgreSQL and SQLite, behind one [`store::Store`].
//! - [`cluster`]: what crosses nodes through Redis.
//! - [`telemetry`]: JSON log lines in the runbook's layout, request logging.
//! - [`error`]: the one error type and its JSON body.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
