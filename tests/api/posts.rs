//! Posts: paging, threads, edits, deletes, reactions, pins, limits, mentions and unread counts, and the
//! channel event log they leave behind.

use serde_json::{Value, json};

use crate::common::{Api, Db, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    pages_walk_back_through_history_without_gaps_or_repeats_while_posts_arrive,
    after_cursor_pages_forward,
    replies_form_threads_with_counts_on_the_root,
    only_authors_edit_and_authors_or_admins_delete,
    reactions_are_one_per_user_and_emoji_and_summarised_on_the_post,
    posts_can_be_pinned,
    messages_are_limited_to_16000_characters,
    mentions_and_unread_counts_follow_mattermost,
    every_change_is_an_event_with_gap_free_seq,
    every_post_rechecks_the_session_the_membership_and_the_channel,
    posts_arriving_together_are_each_written_once_in_seq_order,
);

/// Two users sharing one public channel.
async fn pair(base: &str) -> (Api, Api, String) {
    let owner = Api::register(base, "owner").await;
    let mate = Api::register(base, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let ch = owner.create_channel(&team, "general", "public").await;
    mate.add_to_channel(&ch, &mate.user_id).await;
    (owner, mate, ch)
}

fn messages(page: &Value) -> Vec<String> {
    page["posts"].as_array().unwrap().iter().map(|p| p["message"].as_str().unwrap().to_string()).collect()
}

async fn pages_walk_back_through_history_without_gaps_or_repeats_while_posts_arrive(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, _, ch) = pair(&app.address).await;
    for i in 0..25 {
        owner.say(&ch, &format!("m{i:02}")).await;
    }
    let mut seen = Vec::new();
    let mut page = owner.get(&format!("/api/v1/channels/{ch}/posts?limit=10")).await.expect(200);
    loop {
        seen.extend(messages(&page));
        // New posts arriving between pages must not shift older pages.
        owner.say(&ch, &format!("late{}", seen.len())).await;
        if page["has_more"] == false {
            break;
        }
        let oldest = page["posts"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_string();
        page = owner.get(&format!("/api/v1/channels/{ch}/posts?limit=10&before={oldest}")).await.expect(200);
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("m{i:02}")).collect();
    assert_eq!(seen, expected, "newest first, each once");
    assert_eq!(owner.get(&format!("/api/v1/channels/{ch}/posts?limit=201")).await.status, 400);
    assert_eq!(owner.get(&format!("/api/v1/channels/{ch}/posts?limit=0")).await.status, 400);
    let foreign = uuid::Uuid::now_v7();
    assert_eq!(owner.get(&format!("/api/v1/channels/{ch}/posts?before={foreign}")).await.status, 400);
}

async fn after_cursor_pages_forward(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, _, ch) = pair(&app.address).await;
    let first = owner.say(&ch, "a").await;
    for m in ["b", "c", "d"] {
        owner.say(&ch, m).await;
    }
    let page = owner
        .get(&format!("/api/v1/channels/{ch}/posts?after={}&limit=2", first["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(messages(&page), ["c", "b"], "the two posts right after the cursor, newest first");
    assert_eq!(page["has_more"], true);
}

async fn replies_form_threads_with_counts_on_the_root(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, mate, ch) = pair(&app.address).await;
    let root = owner.say(&ch, "root").await;
    let root_id = root["id"].as_str().unwrap();
    let r1 = mate
        .post(&format!("/api/v1/channels/{ch}/posts"), json!({"message": "r1", "root_id": root_id}))
        .await
        .expect(201);
    // A reply to a reply joins the root's thread.
    let r2 = owner
        .post(&format!("/api/v1/channels/{ch}/posts"), json!({"message": "r2", "root_id": r1["id"]}))
        .await
        .expect(201);
    assert_eq!(r2["root_id"], root_id);
    let root_now = owner.get(&format!("/api/v1/posts/{root_id}")).await.expect(200);
    assert_eq!(root_now["reply_count"], 2);
    assert_eq!(root_now["last_reply_at"], r2["created_at"]);
    let thread = mate.get(&format!("/api/v1/posts/{}/thread", r1["id"].as_str().unwrap())).await.expect(200);
    let texts: Vec<_> = thread.as_array().unwrap().iter().map(|p| p["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["root", "r1", "r2"]);
    owner.delete(&format!("/api/v1/posts/{}", r2["id"].as_str().unwrap())).await.expect(204);
    assert_eq!(owner.get(&format!("/api/v1/posts/{root_id}")).await.expect(200)["reply_count"], 1);

    let team = owner.get("/api/v1/teams").await.expect(200)[0]["id"].as_str().unwrap().to_string();
    let other = owner.create_channel(&team, "other", "public").await;
    let cross =
        owner.post(&format!("/api/v1/channels/{other}/posts"), json!({"message": "x", "root_id": root_id})).await;
    assert_eq!(cross.status, 400, "a reply lives in its root's channel");
}

async fn only_authors_edit_and_authors_or_admins_delete(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, mate, ch) = pair(&app.address).await;
    let mine = mate.say(&ch, "tpyo").await;
    let id = mine["id"].as_str().unwrap();
    assert_eq!(owner.patch(&format!("/api/v1/posts/{id}"), json!({"message": "hacked"})).await.status, 403);
    let edited = mate.patch(&format!("/api/v1/posts/{id}"), json!({"message": "typo"})).await.expect(200);
    assert_eq!(edited["message"], "typo");
    assert!(edited["edited_at"].is_string());

    let owners = owner.say(&ch, "by owner").await;
    assert_eq!(mate.delete(&format!("/api/v1/posts/{}", owners["id"].as_str().unwrap())).await.status, 403);
    // The channel admin (its creator) may delete anyone's post.
    owner.delete(&format!("/api/v1/posts/{id}")).await.expect(204);
    let tomb = mate.get(&format!("/api/v1/posts/{id}")).await.expect(200);
    assert!(tomb["deleted_at"].is_string());
    assert_eq!(tomb["message"], "", "a deleted post's text is erased");
    let page = mate.get(&format!("/api/v1/channels/{ch}/posts")).await.expect(200);
    assert_eq!(messages(&page), ["by owner"]);
    assert_eq!(mate.patch(&format!("/api/v1/posts/{id}"), json!({"message": "back"})).await.status, 404);
}

async fn reactions_are_one_per_user_and_emoji_and_summarised_on_the_post(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, mate, ch) = pair(&app.address).await;
    let post = owner.say(&ch, "ship it").await;
    let id = post["id"].as_str().unwrap();
    owner.post(&format!("/api/v1/posts/{id}/reactions"), json!({"emoji_name": "rocket"})).await.expect(201);
    owner.post(&format!("/api/v1/posts/{id}/reactions"), json!({"emoji_name": ":rocket:"})).await.expect(200);
    mate.post(&format!("/api/v1/posts/{id}/reactions"), json!({"emoji_name": "rocket"})).await.expect(201);
    mate.post(&format!("/api/v1/posts/{id}/reactions"), json!({"emoji_name": "+1"})).await.expect(201);
    assert_eq!(
        mate.post(&format!("/api/v1/posts/{id}/reactions"), json!({"emoji_name": "no spaces"})).await.status,
        400
    );
    let now = owner.get(&format!("/api/v1/posts/{id}")).await.expect(200);
    assert_eq!(now["reactions"][0]["emoji_name"], "rocket");
    assert_eq!(now["reactions"][0]["count"], 2);
    assert_eq!(now["reactions"][1]["emoji_name"], "+1");
    mate.delete(&format!("/api/v1/posts/{id}/reactions/rocket")).await.expect(204);
    assert_eq!(mate.delete(&format!("/api/v1/posts/{id}/reactions/rocket")).await.status, 404);
    let page = owner.get(&format!("/api/v1/channels/{ch}/posts")).await.expect(200);
    assert_eq!(page["posts"][0]["reactions"][0]["count"], 1, "pages carry reactions too");
}

async fn posts_can_be_pinned(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, mate, ch) = pair(&app.address).await;
    let a = owner.say(&ch, "rules").await;
    owner.say(&ch, "chatter").await;
    let id = a["id"].as_str().unwrap();
    assert_eq!(mate.post(&format!("/api/v1/posts/{id}/pin"), json!({})).await.expect(200)["is_pinned"], true);
    let pinned = owner.get(&format!("/api/v1/channels/{ch}/pinned")).await.expect(200);
    assert_eq!(pinned.as_array().unwrap().len(), 1);
    assert_eq!(pinned[0]["message"], "rules");
    owner.delete(&format!("/api/v1/posts/{id}/pin")).await.expect(200);
    assert!(owner.get(&format!("/api/v1/channels/{ch}/pinned")).await.expect(200).as_array().unwrap().is_empty());
}

async fn messages_are_limited_to_16000_characters(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, _, ch) = pair(&app.address).await;
    let longest = "ü".repeat(16_000);
    let ok = owner.say(&ch, &longest).await;
    assert_eq!(ok["message"].as_str().unwrap().chars().count(), 16_000);
    let over = owner.post(&format!("/api/v1/channels/{ch}/posts"), json!({"message": "a".repeat(16_001)})).await;
    assert_eq!((over.status, over.code()), (413, "payload_too_large"));
    let blank = owner.post(&format!("/api/v1/channels/{ch}/posts"), json!({"message": "  \n "})).await;
    assert_eq!((blank.status, blank.code()), (400, "validation_failed"));
    let page = owner.get(&format!("/api/v1/channels/{ch}/posts")).await.expect(200);
    assert_eq!(page["posts"].as_array().unwrap().len(), 1, "nothing partial was written");
}

async fn mentions_and_unread_counts_follow_mattermost(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, mate, ch) = pair(&app.address).await;
    let read = |who: &Api| {
        let who = who.clone();
        let ch = ch.clone();
        async move {
            let r = who.get(&format!("/api/v1/channels/{ch}/read")).await.expect(200);
            (r["unread_count"].as_i64().unwrap(), r["mention_count"].as_i64().unwrap())
        }
    };
    mate.post(&format!("/api/v1/channels/{ch}/view"), json!({})).await.expect(200);
    owner.say(&ch, "plain").await;
    owner.say(&ch, "hey @mate, look").await;
    owner.say(&ch, "@channel standup").await;
    owner.say(&ch, "@nobody-here hello").await;
    assert_eq!(read(&mate).await, (4, 2));
    assert_eq!(read(&owner).await, (0, 0), "your own posts are read");
    let mine = mate.get("/api/v1/users/me/channels").await.expect(200);
    assert_eq!(mine[0]["unread_count"], 4);
    assert_eq!(mine[0]["mention_count"], 2);
    let viewed = mate.post(&format!("/api/v1/channels/{ch}/view"), json!({})).await.expect(200);
    assert_eq!(viewed["last_viewed_seq"], viewed["last_seq"]);
    assert_eq!(read(&mate).await, (0, 0));

    // In a DM every message mentions the other member, plain text included.
    let dm = owner.post("/api/v1/channels/direct", json!({"user_id": mate.user_id})).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner.say(&dm, "plain in a DM").await;
    owner.say(&dm, "and again").await;
    let dm_read = |who: &Api| {
        let (who, dm) = (who.clone(), dm.clone());
        async move {
            let r = who.get(&format!("/api/v1/channels/{dm}/read")).await.expect(200);
            (r["unread_count"].as_i64().unwrap(), r["mention_count"].as_i64().unwrap())
        }
    };
    assert_eq!(dm_read(&mate).await, (2, 2));
    assert_eq!(dm_read(&owner).await, (0, 0), "your own posts are read");
}

async fn every_change_is_an_event_with_gap_free_seq(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, mate, ch) = pair(&app.address).await;
    let before = owner.get(&format!("/api/v1/channels/{ch}")).await.expect(200)["last_seq"].as_i64().unwrap();
    let p = owner.say(&ch, "one").await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(p["seq"].as_i64().unwrap(), before + 1, "the created post reports its event's seq");
    owner.patch(&format!("/api/v1/posts/{id}"), json!({"message": "one!"})).await.expect(200);
    mate.post(&format!("/api/v1/posts/{id}/reactions"), json!({"emoji_name": "tada"})).await.expect(201);
    mate.delete(&format!("/api/v1/posts/{id}/reactions/tada")).await.expect(204);
    owner.delete(&format!("/api/v1/posts/{id}")).await.expect(204);
    let events = mate.get(&format!("/api/v1/channels/{ch}/events?after_seq={before}")).await.expect(200);
    let got: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["seq"].as_i64().unwrap(), e["event"].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<_> = ["posted", "post_edited", "reaction_added", "reaction_removed", "post_deleted"]
        .iter()
        .enumerate()
        .map(|(i, k)| (before + 1 + i as i64, k.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(events[0]["data"]["post"]["message"], "one");
    assert_eq!(events[1]["data"]["post"]["message"], "one!");
    assert_eq!(events[2]["data"]["reaction"]["emoji_name"], "tada");
    assert_eq!(events[4]["data"]["post_id"], id);
    for e in events.as_array().unwrap() {
        assert_eq!(e["channel_id"], ch.as_str());
    }
}

/// A plain post is checked and written in one statement on PostgreSQL; whichever way it is written,
/// each of these refusals holds from the next post on and leaves nothing behind.
async fn every_post_rechecks_the_session_the_membership_and_the_channel(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, mate, ch) = pair(&app.address).await;
    let posts = format!("/api/v1/channels/{ch}/posts");
    let plain = |text: &str| json!({ "message": text });
    let before = owner.get(&format!("/api/v1/channels/{ch}")).await.expect(200)["last_seq"].as_i64().unwrap();
    let first = mate.post(&posts, plain("plain, from a member")).await.expect(201);
    assert_eq!(first["user_id"].as_str(), Some(mate.user_id.as_str()));
    assert_eq!(first["seq"].as_i64(), Some(before + 1));
    let events = owner.get(&format!("/api/v1/channels/{ch}/events?after_seq={before}")).await.expect(200);
    let mut posted = first.clone();
    posted.as_object_mut().unwrap().remove("seq");
    assert_eq!(events[0]["data"]["post"], posted, "the event carries the post as created");

    let other = owner.create_channel(&owner.create_team("other", false).await, "elsewhere", "public").await;
    let outsider = mate.post(&format!("/api/v1/channels/{other}/posts"), plain("not my team")).await;
    assert_eq!((outsider.status, outsider.code()), (404, "not_found"), "a channel the caller cannot see");
    let missing = mate.post(&format!("/api/v1/channels/{}/posts", uuid::Uuid::new_v4()), plain("nowhere")).await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));

    owner.delete(&format!("/api/v1/channels/{ch}/members/{}", mate.user_id)).await.expect(204);
    let removed = mate.post(&posts, plain("after removal")).await;
    assert_eq!((removed.status, removed.code()), (403, "forbidden"), "a visible public channel not joined");
    mate.add_to_channel(&ch, &mate.user_id).await;
    mate.post(&posts, plain("back again")).await.expect(201);

    let second_device = Api::login(&app.address, "mate", "password-mate").await.expect(200);
    mate.post("/api/v1/auth/logout", json!({})).await.expect(204);
    let revoked = mate.post(&posts, plain("after logout")).await;
    assert_eq!((revoked.status, revoked.code()), (401, "invalid_token"));
    let mut mate = Api::anonymous(&app.address);
    mate.adopt(&second_device);
    mate.post(&posts, plain("from the other device")).await.expect(201);
    let reply = mate.post(&posts, json!({ "message": "a reply", "root_id": first["id"] })).await.expect(201);
    assert_eq!(reply["root_id"], first["id"], "replies take the general path");

    let ivan = Api::register(&app.address, "ivan").await;
    let team = owner.get(&format!("/api/v1/channels/{ch}")).await.expect(200)["team_id"].as_str().unwrap().to_string();
    owner.add_to_team(&team, &ivan.user_id).await;
    ivan.add_to_channel(&ch, &ivan.user_id).await;
    owner.post(&format!("/api/v1/users/{}/deactivate", ivan.user_id), json!({})).await.expect(200);
    let deactivated = ivan.post(&posts, plain("after deactivation")).await;
    assert_eq!((deactivated.status, deactivated.code()), (401, "invalid_token"));

    owner.delete(&format!("/api/v1/channels/{ch}")).await.expect(200);
    let archived = mate.post(&posts, plain("after archiving")).await;
    assert_eq!((archived.status, archived.code()), (403, "forbidden"));

    let messages = messages(&owner.get(&posts).await.expect(200));
    assert_eq!(
        messages,
        ["a reply", "from the other device", "back again", "plain, from a member"],
        "refused posts left nothing"
    );
}

/// Posts that arrive together get gap-free seqs, one event each carrying the post as answered, the
/// same read positions and mention counts as posts written one at a time, and a refusal of one leaves
/// the others written.
async fn posts_arriving_together_are_each_written_once_in_seq_order(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let (owner, mate, ch) = pair(&app.address).await;
    let team = owner.get(&format!("/api/v1/channels/{ch}")).await.expect(200)["team_id"].as_str().unwrap().to_string();
    let third = Api::register(&app.address, "third").await;
    owner.add_to_team(&team, &third.user_id).await;
    third.add_to_channel(&ch, &third.user_id).await;
    let outsider = Api::register(&app.address, "outsider").await;
    let private = owner.create_channel(&team, "private", "private").await;
    let dm = owner.post("/api/v1/channels/direct", json!({"user_id": mate.user_id})).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ch_before = owner.get(&format!("/api/v1/channels/{ch}")).await.expect(200)["last_seq"].as_i64().unwrap();
    let dm_before = owner.get(&format!("/api/v1/channels/{dm}")).await.expect(200)["last_seq"].as_i64().unwrap();

    // (author, channel, message), interleaved so that concurrent writes mix channels, authors and refusals.
    let mut sends = Vec::new();
    for i in 0..15 {
        for who in [&owner, &mate, &third] {
            sends.push((who.clone(), ch.clone(), format!("{} in the channel #{i}", who.username)));
        }
        if i < 10 {
            sends.push((owner.clone(), dm.clone(), format!("owner in the DM #{i}")));
            sends.push((mate.clone(), dm.clone(), format!("mate in the DM #{i}")));
        }
        if i < 5 {
            sends.push((outsider.clone(), private.clone(), format!("refused #{i}")));
        }
    }
    let replies = futures_util::future::join_all(sends.iter().map(|(who, channel, message)| async move {
        who.post(&format!("/api/v1/channels/{channel}/posts"), json!({ "message": message })).await
    }))
    .await;

    // Every seq the answers gave, per channel: (seq, author, post as answered).
    let mut written: std::collections::BTreeMap<String, Vec<(i64, String, Value)>> = Default::default();
    for ((who, channel, message), reply) in sends.iter().zip(replies) {
        if channel == &private {
            assert_eq!((reply.status, reply.code()), (404, "not_found"), "{message}: not a member");
            continue;
        }
        let mut post = reply.expect(201);
        assert_eq!(post["message"].as_str(), Some(message.as_str()));
        let seq = post.as_object_mut().unwrap().remove("seq").unwrap().as_i64().unwrap();
        written.entry(channel.clone()).or_default().push((seq, who.user_id.clone(), post));
    }
    for (channel, before, count) in [(&ch, ch_before, 45), (&dm, dm_before, 20)] {
        let posts = written.get_mut(channel).unwrap();
        posts.sort_by_key(|(seq, _, _)| *seq);
        let seqs: Vec<i64> = posts.iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(seqs, ((before + 1)..=(before + count)).collect::<Vec<_>>(), "each post once, no gaps");
        let events = owner.get(&format!("/api/v1/channels/{channel}/events?after_seq={before}")).await.expect(200);
        let events = events.as_array().unwrap();
        assert_eq!(events.len(), posts.len(), "one event per post");
        for (event, (seq, _, post)) in events.iter().zip(posts.iter()) {
            assert_eq!((event["seq"].as_i64(), &event["event"]), (Some(*seq), &json!("posted")));
            assert_eq!(&event["data"]["post"], post, "the event carries the post as answered");
        }
    }

    // As if written one at a time in seq order: an author has read up to their own last post, and in
    // the DM each post mentions the other member.
    for (channel, members) in [(&ch, vec![&owner, &mate, &third]), (&dm, vec![&owner, &mate])] {
        let posts = &written[channel];
        for who in members {
            let last_own = posts.iter().filter(|(_, author, _)| author == &who.user_id).map(|(seq, _, _)| *seq).max();
            let unread = posts.iter().filter(|(seq, _, _)| Some(*seq) > last_own).count() as i64;
            let mentions = if channel == &dm {
                posts.iter().filter(|(_, author, _)| author != &who.user_id).count() as i64
            } else {
                0
            };
            let read = who.get(&format!("/api/v1/channels/{channel}/read")).await.expect(200);
            assert_eq!(
                (read["unread_count"].as_i64(), read["mention_count"].as_i64()),
                (Some(unread), Some(mentions)),
                "{} in {channel}",
                who.username
            );
        }
    }
    let listed = messages(&owner.get(&format!("/api/v1/channels/{ch}/posts?limit=200")).await.expect(200));
    assert_eq!(listed.len(), 45);
}
