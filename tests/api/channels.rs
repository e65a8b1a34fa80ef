//! Teams, channels and conversations: who can find, join and see what.

use serde_json::json;

use crate::common::{Api, Db, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    open_teams_can_be_joined_and_closed_teams_stay_invisible,
    public_channels_are_visible_to_the_team_and_private_ones_only_to_members,
    a_direct_channel_is_one_per_pair_and_invisible_to_others,
    group_channels_hold_three_to_eight_members,
    channels_can_be_renamed_described_and_archived,
    removed_members_lose_access_and_leaving_a_team_leaves_its_channels,
    membership_changes_are_events_with_gap_free_seq,
);

async fn open_teams_can_be_joined_and_closed_teams_stay_invisible(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let owner = Api::register(&app.address, "owner").await;
    let stranger = Api::register(&app.address, "stranger").await;
    let open = owner.create_team("lobby", true).await;
    let closed = owner.create_team("board", false).await;

    let joinable = stranger.get("/api/v1/teams/joinable").await.expect(200);
    assert_eq!(joinable.as_array().unwrap().len(), 1);
    assert_eq!(joinable[0]["id"], open.as_str());
    assert_eq!(stranger.get(&format!("/api/v1/teams/{closed}")).await.status, 404);
    assert_eq!(stranger.post(&format!("/api/v1/teams/{closed}/join"), json!({})).await.status, 404);
    assert_eq!(stranger.get(&format!("/api/v1/teams/{closed}/members")).await.status, 404);

    stranger.post(&format!("/api/v1/teams/{open}/join"), json!({})).await.expect(200);
    let mine = stranger.get("/api/v1/teams").await.expect(200);
    assert_eq!(mine[0]["id"], open.as_str());
    let members = stranger.get(&format!("/api/v1/teams/{open}/members")).await.expect(200);
    assert_eq!(members.as_array().unwrap().len(), 2);
    let refused = stranger.post(&format!("/api/v1/teams/{open}/members"), json!({"user_id": owner.user_id})).await;
    assert_eq!(refused.status, 403, "only team admins add members");
    let dup = owner.post("/api/v1/teams", json!({"name": "lobby"})).await;
    assert_eq!(dup.status, 409);
}

async fn public_channels_are_visible_to_the_team_and_private_ones_only_to_members(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let owner = Api::register(&app.address, "owner").await;
    let mate = Api::register(&app.address, "mate").await;
    let outsider = Api::register(&app.address, "outsider").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let town = owner.create_channel(&team, "town-square", "public").await;
    let secret = owner.create_channel(&team, "secret-plans", "private").await;

    let listed = mate.get(&format!("/api/v1/teams/{team}/channels")).await.expect(200);
    let names: Vec<_> = listed.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["town-square"], "private channels are not listed to non-members");
    assert_eq!(mate.get(&format!("/api/v1/channels/{secret}")).await.status, 404);
    assert_eq!(mate.get(&format!("/api/v1/channels/{town}")).await.status, 200);
    assert_eq!(outsider.get(&format!("/api/v1/channels/{town}")).await.status, 404);
    assert_eq!(outsider.get(&format!("/api/v1/teams/{team}/channels")).await.status, 404);

    // Reading a public channel is allowed; posting needs membership; joining is self-service.
    let post = mate.post(&format!("/api/v1/channels/{town}/posts"), json!({"message": "hi"})).await;
    assert_eq!(post.status, 403);
    mate.add_to_channel(&town, &mate.user_id).await;
    mate.say(&town, "hi").await;
    // Private channels are joined only by being added.
    let self_join = mate.post(&format!("/api/v1/channels/{secret}/members"), json!({"user_id": mate.user_id})).await;
    assert_eq!(self_join.status, 404);
    owner.add_to_channel(&secret, &mate.user_id).await;
    assert_eq!(mate.get(&format!("/api/v1/channels/{secret}")).await.status, 200);
    // Only team members can be added.
    let add_outsider =
        owner.post(&format!("/api/v1/channels/{secret}/members"), json!({"user_id": outsider.user_id})).await;
    assert_eq!(add_outsider.status, 404);
}

async fn a_direct_channel_is_one_per_pair_and_invisible_to_others(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let ann = Api::register(&app.address, "ann").await;
    let ben = Api::register(&app.address, "ben").await;
    let eve = Api::register(&app.address, "eve").await;
    let a = ann.post("/api/v1/channels/direct", json!({"user_id": ben.user_id})).await.expect(200);
    let b = ben.post("/api/v1/channels/direct", json!({"user_id": ann.user_id})).await.expect(200);
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["kind"], "direct");
    let dm = a["id"].as_str().unwrap();
    ann.say(dm, "psst").await;
    for path in [
        format!("/api/v1/channels/{dm}"),
        format!("/api/v1/channels/{dm}/posts"),
        format!("/api/v1/channels/{dm}/members"),
    ] {
        assert_eq!(eve.get(&path).await.status, 404, "{path}");
    }
    let ben_unread = ben.get(&format!("/api/v1/channels/{dm}/read")).await.expect(200);
    assert_eq!(
        (ben_unread["unread_count"].as_i64(), ben_unread["mention_count"].as_i64()),
        (Some(1), Some(1)),
        "a DM counts as a mention"
    );
    assert_eq!(ann.post("/api/v1/channels/direct", json!({"user_id": ann.user_id})).await.status, 400);
}

async fn group_channels_hold_three_to_eight_members(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let mut users = Vec::new();
    for i in 0..9 {
        users.push(Api::register(&app.address, &format!("user{i}")).await);
    }
    let ids = |range: std::ops::Range<usize>| users[range].iter().map(|u| u.user_id.clone()).collect::<Vec<_>>();
    assert_eq!(users[0].post("/api/v1/channels/group", json!({"user_ids": ids(1..2)})).await.status, 400, "2 is a DM");
    assert_eq!(
        users[0].post("/api/v1/channels/group", json!({"user_ids": ids(1..9)})).await.status,
        400,
        "9 is too many"
    );
    let g = users[0].post("/api/v1/channels/group", json!({"user_ids": ids(1..3)})).await.expect(200);
    assert_eq!(g["kind"], "group");
    let again = users[2]
        .post("/api/v1/channels/group", json!({"user_ids": [users[0].user_id, users[1].user_id]}))
        .await
        .expect(200);
    assert_eq!(g["id"], again["id"], "the same people get the same group");
    let outsider = users[5].get(&format!("/api/v1/channels/{}", g["id"].as_str().unwrap())).await;
    assert_eq!(outsider.status, 404);
    let members = users[1].get(&format!("/api/v1/channels/{}/members", g["id"].as_str().unwrap())).await.expect(200);
    assert_eq!(members.as_array().unwrap().len(), 3);
}

async fn channels_can_be_renamed_described_and_archived(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let owner = Api::register(&app.address, "owner").await;
    let mate = Api::register(&app.address, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let ch = owner.create_channel(&team, "dev", "public").await;
    mate.add_to_channel(&ch, &mate.user_id).await;

    let c = mate
        .patch(&format!("/api/v1/channels/{ch}"), json!({"purpose": "build things", "header": "CI is green"}))
        .await
        .expect(200);
    assert_eq!((c["purpose"].as_str(), c["header"].as_str()), (Some("build things"), Some("CI is green")));
    assert_eq!(
        mate.patch(&format!("/api/v1/channels/{ch}"), json!({"name": "devs"})).await.status,
        403,
        "members cannot rename"
    );
    let renamed = owner
        .patch(&format!("/api/v1/channels/{ch}"), json!({"name": "engineering", "display_name": "Engineering"}))
        .await
        .expect(200);
    assert_eq!(renamed["name"], "engineering");
    assert_eq!(owner.patch(&format!("/api/v1/channels/{ch}"), json!({"purpose": "x".repeat(251)})).await.status, 400);

    assert_eq!(mate.delete(&format!("/api/v1/channels/{ch}")).await.status, 403);
    let archived = owner.delete(&format!("/api/v1/channels/{ch}")).await.expect(200);
    assert!(archived["archived_at"].is_string());
    let post = mate.post(&format!("/api/v1/channels/{ch}/posts"), json!({"message": "still here?"})).await;
    assert_eq!(post.status, 403, "archived channels are read-only");
    mate.get(&format!("/api/v1/channels/{ch}/posts")).await.expect(200);
    let listed = mate.get(&format!("/api/v1/teams/{team}/channels")).await.expect(200);
    assert!(listed.as_array().unwrap().is_empty(), "archived channels are hidden by default");
    let all = mate.get(&format!("/api/v1/teams/{team}/channels?include_archived=true")).await.expect(200);
    assert_eq!(all.as_array().unwrap().len(), 1);
}

async fn removed_members_lose_access_and_leaving_a_team_leaves_its_channels(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let owner = Api::register(&app.address, "owner").await;
    let mate = Api::register(&app.address, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let secret = owner.create_channel(&team, "secret", "private").await;
    owner.add_to_channel(&secret, &mate.user_id).await;
    mate.say(&secret, "in").await;

    assert_eq!(mate.delete(&format!("/api/v1/channels/{secret}/members/{}", owner.user_id)).await.status, 403);
    owner.delete(&format!("/api/v1/channels/{secret}/members/{}", mate.user_id)).await.expect(204);
    assert_eq!(mate.get(&format!("/api/v1/channels/{secret}/posts")).await.status, 404);

    let open = owner.create_channel(&team, "general", "public").await;
    mate.add_to_channel(&open, &mate.user_id).await;
    mate.delete(&format!("/api/v1/teams/{team}/members/{}", mate.user_id)).await.expect(204);
    let mine = mate.get("/api/v1/users/me/channels").await.expect(200);
    assert!(mine.as_array().unwrap().is_empty(), "leaving a team leaves its channels: {mine}");
    assert_eq!(mate.get(&format!("/api/v1/channels/{open}")).await.status, 404);
}

async fn membership_changes_are_events_with_gap_free_seq(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let owner = Api::register(&app.address, "owner").await;
    let mate = Api::register(&app.address, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let ch = owner.create_channel(&team, "ops", "private").await;
    owner.add_to_channel(&ch, &mate.user_id).await;
    owner.patch(&format!("/api/v1/channels/{ch}"), json!({"header": "on call"})).await.expect(200);
    owner.delete(&format!("/api/v1/channels/{ch}/members/{}", mate.user_id)).await.expect(204);

    let events = owner.get(&format!("/api/v1/channels/{ch}/events?after_seq=0")).await.expect(200);
    let kinds: Vec<_> = events.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["member_added", "member_added", "channel_updated", "member_removed"]);
    let seqs: Vec<_> = events.as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(events[1]["data"]["user_id"], mate.user_id.as_str());
    assert_eq!(events[2]["data"]["header"], "on call");
    let tail = owner.get(&format!("/api/v1/channels/{ch}/events?after_seq=2&limit=1")).await.expect(200);
    assert_eq!(tail.as_array().unwrap().len(), 1);
    assert_eq!(tail[0]["seq"], 3);
    assert_eq!(
        mate.get(&format!("/api/v1/channels/{ch}/events")).await.status,
        404,
        "a removed member cannot read the log"
    );
}
