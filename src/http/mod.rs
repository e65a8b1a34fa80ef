//! The HTTP surface: the route table under `/api/v1` (one module per resource), from which the
//! OpenAPI document is generated ([`openapi`]: no endpoint can be left out of it), the extractors
//! every handler takes its input through ([`json`], [`params`], both checked by [`input`]), and the
//! JSON error answer for what no route matched. The web client ([`client`]) answers what no route
//! matched outside the server's own paths.

pub mod admin;
pub mod auth;
pub mod bots;
pub mod channels;
pub mod client;
pub mod commands;
pub mod cookies;
pub mod faults;
pub mod files;
pub mod health;
pub mod hooks;
pub mod input;
pub mod json;
pub mod oidc;
pub mod openapi;
pub mod outgoing;
pub mod params;
pub mod posts;
pub mod search;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod ws;

use actix_web::{HttpResponse, web};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::domain::MAX_PAGE;
use crate::error::{Error, ErrorCode, Result, error_response};

/// Largest JSON body any endpoint accepts (a maximal message in 4-byte characters fits).
pub const MAX_JSON_BODY: usize = 80 * 1024;

/// Every route. Order matters where a literal segment shares a prefix with a parameter.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_JSON_BODY)).service(
        scope::scope("/api/v1")
            // What clients do all day comes first: actix tries the routes in order, and every route with
            // a path parameter it passes over costs a regex capture (44 before `/ws`, 29 before a post otherwise).
            // No route listed later matches these paths with these methods, so the order decides nothing else.
            // Nested scopes per resource family would not make the order irrelevant: a family is matched
            // route by route too, and 14 of the 16 `/channels` routes have path parameters.
            .service(ws::connect)
            .service(posts::create_post)
            .service(channels::view_channel)
            .service(posts::list_posts)
            .service(channels::list_events)
            .service(health::live)
            .service(health::ready)
            .service(health::metrics)
            .service(health::stats)
            .service(openapi::openapi_json)
            .service(auth::register)
            .service(auth::login)
            .service(auth::refresh)
            .service(auth::logout)
            .service(auth::change_password)
            .service(oidc::list_providers)
            .service(oidc::exchange)
            .service(oidc::login)
            .service(oidc::callback)
            .service(oidc::link)
            .service(users::get_me)
            .service(users::update_me)
            .service(users::my_channels)
            .service(users::search_users)
            .service(users::user_statuses)
            .service(users::get_user)
            .service(users::deactivate_user)
            .service(users::activate_user)
            .service(tokens::create_my_token)
            .service(tokens::list_my_tokens)
            .service(tokens::revoke_my_token)
            .service(bots::create_bot)
            .service(bots::list_bots)
            .service(bots::get_bot)
            .service(bots::update_bot)
            .service(tokens::create_bot_token)
            .service(tokens::list_bot_tokens)
            .service(tokens::revoke_bot_token)
            .service(teams::create_team)
            .service(teams::list_my_teams)
            .service(teams::list_joinable_teams)
            .service(teams::get_team)
            .service(teams::join_team)
            .service(teams::list_team_members)
            .service(teams::add_team_member)
            .service(teams::remove_team_member)
            .service(teams::create_team_invite)
            .service(channels::create_channel)
            .service(channels::list_team_channels)
            .service(channels::open_direct)
            .service(channels::open_group)
            .service(channels::get_channel)
            .service(channels::update_channel)
            .service(channels::archive_channel)
            .service(channels::list_channel_members)
            .service(channels::add_channel_member)
            .service(channels::remove_channel_member)
            .service(channels::read_state)
            .service(posts::list_pinned)
            .service(posts::get_post)
            .service(posts::edit_post)
            .service(posts::delete_post)
            .service(posts::get_thread)
            .service(posts::add_reaction)
            .service(posts::remove_reaction)
            .service(posts::pin_post)
            .service(posts::unpin_post)
            .service(search::search_posts)
            .service(files::search_files)
            .service(files::upload_files)
            .service(files::upload_limits)
            .service(files::get_file_info)
            .service(files::get_thumbnail)
            .service(files::get_file)
            .service(admin::get_site_config)
            .service(admin::patch_site_config)
            .service(admin::create_invite)
            .service(admin::list_oidc_providers)
            .service(admin::create_oidc_provider)
            .service(admin::delete_oidc_provider)
            .service(hooks::create_hook)
            .service(hooks::list_hooks)
            .service(hooks::revoke_hook)
            .service(outgoing::create_outgoing_webhook)
            .service(outgoing::list_outgoing_webhooks)
            .service(outgoing::get_outgoing_webhook)
            .service(outgoing::revoke_outgoing_webhook)
            .service(outgoing::list_outgoing_deliveries)
            .service(commands::create_command)
            .service(commands::list_commands)
            .service(commands::get_command)
            .service(commands::revoke_command)
            .service(commands::run_command),
    );
    // At the root, where Mattermost serves it (and before the web client's fallback).
    cfg.service(hooks::post_to_hook);
}

/// A page size from a query: default when absent, else 1..=MAX_PAGE.
pub fn page_limit(limit: Option<u32>, default: u32) -> Result<u32> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(Error::validation(format!("limit must be 1-{MAX_PAGE}, got {n}"))),
    }
}

/// Answers anything no route matched.
pub async fn not_found() -> HttpResponse {
    error_response(ErrorCode::NotFound, "no such endpoint")
}
