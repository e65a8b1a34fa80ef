//! Black-box tests of a RustChat node: configuration, CLI, health, logs, shutdown, storage.
//! One binary (fast to link); each module is a specification of one area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
pub mod common;

mod accounts;
mod admin;
mod authz;
mod backup;
mod bots;
mod browser;
mod bus;
mod channels;
mod cli;
mod cluster;
mod config;
mod deploy;
mod event_formats;
mod faults_postgres;
mod faults_redis;
mod files;
mod files_limits;
mod files_s3;
mod health;
mod hooks;
mod input;
mod logins;
mod logs;
mod mattermost;
mod mattermost_wire;
mod openapi;
mod operability;
mod operator;
mod outgoing;
mod post_rules;
mod posts;
mod ratelimit;
mod realtime;
mod redis_cluster;
mod rolling;
mod search;
mod secrets;
mod seq;
mod shutdown;
mod site;
mod spans;
mod sso;
mod storage;
mod supervisor;
mod tokens;
mod web_client;
