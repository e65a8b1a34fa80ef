//! The Mattermost API v4 face (a subset): what Mattermost's client libraries (`@mattermost/client`,
//! `mattermostdriver`) and scripts use, served under `/api/v4` beside our own `/api/v1`. A thin
//! adapter: every rule lives once in [`crate::app`]; this module parses Mattermost's requests, calls
//! the application layer and renders Mattermost's shapes (ids in its base32, times in epoch
//! milliseconds, `AppError` bodies). Any other `/api/v4` path answers 501 in that shape.
//!
//! The route table below is the one source of both the router and the OpenAPI document
//! (`/api/v4/openapi.json`), so neither can list a route the other lacks.

pub mod auth;
pub mod channels;
pub mod commands;
pub mod error;
pub mod ids;
pub mod input;
pub mod models;
pub mod openapi;
pub mod posts;
pub mod system;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod ws;

use actix_web::middleware::{DefaultHeaders, NormalizePath, TrailingSlash};
use actix_web::web;

/// One v4 route, as the OpenAPI document describes it.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The success status.
    pub status: u16,
    /// The success body's schema: a name in the document's components, `[Name]` for a list.
    pub body: &'static str,
    pub summary: &'static str,
    /// Whether the route needs a session.
    pub auth: bool,
}

macro_rules! v4_routes {
    ($($path:literal { $($method:ident $status:literal $body:literal $auth:literal => $handler:path, $summary:literal;)+ })*) => {
        /// Every v4 route: method, path, success status and body, summary, whether it needs a session.
        pub const ROUTES: &[Route] = &[$($(Route {
            method: stringify!($method), path: $path, status: $status, body: $body, summary: $summary, auth: $auth,
        },)+)*];

        fn resources(cfg: &mut web::ServiceConfig) {
            $(cfg.service(
                web::resource($path)
                    $(.route(web::$method().to($handler)))+
                    .default_service(web::to(error::method_not_allowed)),
            );)*
        }
    };
}

// Literal segments come before parameters that would match them (`/users/ids` before `/users/{id}`).
v4_routes! {
    "/system/ping" { get 200 "Status" false => system::ping, "Check that the server is up"; }
    "/config/client" { get 200 "Object" false => system::client_config, "The client configuration (format=old)"; }
    "/license/client" { get 200 "Object" false => system::client_license, "The client license (format=old): unlicensed"; }
    "/openapi.json" { get 200 "Object" false => openapi::document, "This document"; }
    "/users/login" { post 200 "User" false => system::login, "Log in: the session token in the Token header and the MMAUTHTOKEN, MMUSERID and MMCSRF cookies"; }
    "/users/logout" { post 200 "Status" true => system::logout, "End the session"; }
    "/users/ids" { post 200 "[User]" true => users::by_ids, "Users by ids"; }
    "/users/usernames" { post 200 "[User]" true => users::by_usernames, "Users by usernames"; }
    "/users/status/ids" { post 200 "[UserStatus]" true => users::statuses, "Online status of users"; }
    "/users/tokens/revoke" { post 200 "Status" true => tokens::revoke, "Revoke a user access token (mine, or a bot's I manage)"; }
    "/users" { get 200 "[User]" true => users::list, "Users, in a team (in_team) or channel (in_channel), by page"; }
    "/users/{user_id}" { get 200 "User" true => users::get_user, "A user (me: the caller)"; }
    "/users/{user_id}/tokens" {
        get 200 "[UserAccessToken]" true => tokens::list, "A user's access tokens (mine, or a bot's I manage), never their secrets";
        post 200 "UserAccessToken" true => tokens::create, "Create a user access token: its secret is in this answer only";
    }
    "/users/{user_id}/teams" { get 200 "[Team]" true => teams::my_teams, "The caller's teams"; }
    "/users/{user_id}/teams/{team_id}/channels" { get 200 "[Channel]" true => teams::my_channels, "The caller's channels in a team, with their direct and group conversations"; }
    "/users/{user_id}/teams/{team_id}/channels/members" { get 200 "[ChannelMember]" true => teams::my_channel_members, "The caller's memberships of those channels, with read counts"; }
    "/users/{user_id}/preferences" {
        get 200 "[Preference]" true => users::get_preferences, "The caller's preferences";
        put 200 "Status" true => users::save_preferences, "Save preferences";
    }
    "/users/{user_id}/posts/{post_id}/reactions/{emoji_name}" { delete 200 "Status" true => posts::unreact, "Remove the caller's reaction"; }
    "/teams/name/{name}" { get 200 "Team" true => teams::team_by_name, "A team by name"; }
    "/teams/{team_id}" { get 200 "Team" true => teams::get_team, "A team"; }
    "/teams/{team_id}/channels" { get 200 "[Channel]" true => teams::public_channels, "The team's public channels, by page"; }
    "/teams/{team_id}/channels/name/{channel_name}" { get 200 "Channel" true => channels::by_name, "A channel by team and name"; }
    "/teams/{team_id}/posts/search" { post 200 "PostList" true => posts::search, "Search posts (every word of terms)"; }
    "/channels" { post 201 "Channel" true => channels::create, "Create a public (O) or private (P) channel"; }
    "/channels/direct" { post 201 "Channel" true => channels::direct, "The direct channel of two users, created on first use"; }
    "/channels/group" { post 201 "Channel" true => channels::group, "The group channel of 3-8 users, created on first use"; }
    "/channels/members/{user_id}/view" { post 200 "Status" true => channels::view, "Mark a channel viewed"; }
    "/channels/{channel_id}" { get 200 "Channel" true => channels::get_channel, "A channel"; }
    "/channels/{channel_id}/members" {
        get 200 "[ChannelMember]" true => channels::members, "A channel's members, by page";
        post 201 "ChannelMember" true => channels::add_member, "Add a member (or join)";
    }
    "/channels/{channel_id}/members/{user_id}" { delete 200 "Status" true => channels::remove_member, "Remove a member (or leave)"; }
    "/channels/{channel_id}/posts" { get 200 "PostList" true => posts::channel_posts, "A channel's posts: by page, since a time, or before/after a post"; }
    "/posts" { post 201 "Post" true => posts::create, "Create a post or thread reply"; }
    "/commands/execute" { post 200 "Object" true => commands::execute, "Run a slash command: its answer (response_type, text); an in_channel one is posted"; }
    "/posts/{post_id}" {
        get 200 "Post" true => posts::get, "A post";
        put 200 "Post" true => posts::update, "Edit a post's message";
        delete 200 "Status" true => posts::delete, "Delete a post";
    }
    "/posts/{post_id}/patch" { put 200 "Post" true => posts::patch, "Patch a post"; }
    "/posts/{post_id}/thread" { get 200 "PostList" true => posts::thread, "A post's thread"; }
    "/posts/{post_id}/reactions" { get 200 "[Reaction]" true => posts::reactions, "A post's reactions"; }
    "/reactions" { post 200 "Reaction" true => posts::react, "React to a post"; }
    "/websocket" { get 101 "Object" false => ws::connect, "Mattermost's WebSocket"; }
}

/// Mounts `/api/v4`: the routes above, and 501 for every other path under it.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v4")
            .wrap(DefaultHeaders::new().add(("X-Version-Id", system::version_id())))
            // mattermostdriver asks for `/posts/{id}//reactions`; Mattermost's router merges the slashes.
            .wrap(NormalizePath::new(TrailingSlash::MergeOnly))
            .configure(resources)
            .default_service(web::to(error::not_implemented)),
    );
}
