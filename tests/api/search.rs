//! Search: finds what the caller may see and nothing else.

use serde_json::json;

use crate::common::{Api, Db, spawn_app};
use crate::on_both_databases;

on_both_databases!(search_finds_visible_posts_only_and_honours_filters);

fn texts(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|p| p["message"].as_str().unwrap().to_string()).collect()
}

async fn search_finds_visible_posts_only_and_honours_filters(db: Db) {
    let Some(app) = spawn_app(db, &[]).await else {
        return;
    };
    let owner = Api::register(&app.address, "owner").await;
    let mate = Api::register(&app.address, "mate").await;
    let team = owner.create_team("acme", false).await;
    owner.add_to_team(&team, &mate.user_id).await;
    let open = owner.create_channel(&team, "general", "public").await;
    mate.add_to_channel(&open, &mate.user_id).await;
    let secret = owner.create_channel(&team, "secret", "private").await;

    owner.say(&open, "the deployment pipeline is green").await;
    let t0 = owner.get(&format!("/api/v1/channels/{open}/posts")).await.expect(200)["posts"][0]["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    mate.say(&open, "pipeline deployment rolled back").await;
    owner.say(&secret, "secret deployment of the acquisition").await;
    let gone = owner.say(&open, "deployment typo").await;
    owner.delete(&format!("/api/v1/posts/{}", gone["id"].as_str().unwrap())).await.expect(204);

    let as_mate = mate.get("/api/v1/search/posts?q=deployment").await.expect(200);
    assert_eq!(texts(&as_mate), ["pipeline deployment rolled back", "the deployment pipeline is green"]);
    let as_owner = owner.get("/api/v1/search/posts?q=deployment").await.expect(200);
    assert_eq!(as_owner.as_array().unwrap().len(), 3, "the owner sees the private channel too");
    assert!(
        mate.get("/api/v1/search/posts?q=acquisition").await.expect(200).as_array().unwrap().is_empty(),
        "private content never leaks"
    );

    let both_words = mate.get("/api/v1/search/posts?q=pipeline%20green").await.expect(200);
    assert_eq!(texts(&both_words), ["the deployment pipeline is green"]);
    let by_author = owner.get(&format!("/api/v1/search/posts?q=deployment&user_id={}", mate.user_id)).await.expect(200);
    assert_eq!(texts(&by_author), ["pipeline deployment rolled back"]);
    let in_channel = owner.get(&format!("/api/v1/search/posts?q=deployment&channel_id={secret}")).await.expect(200);
    assert_eq!(texts(&in_channel), ["secret deployment of the acquisition"]);
    let after =
        owner.get(&format!("/api/v1/search/posts?q=pipeline&after={}", t0.replace('+', "%2B"))).await.expect(200);
    assert_eq!(texts(&after), ["pipeline deployment rolled back"]);
    let before =
        owner.get(&format!("/api/v1/search/posts?q=pipeline&before={}", t0.replace('+', "%2B"))).await.expect(200);
    assert!(texts(&before).is_empty());

    // Edits are re-indexed; hostile query syntax is just words.
    let p = mate.say(&open, "alpha").await;
    mate.patch(&format!("/api/v1/posts/{}", p["id"].as_str().unwrap()), json!({"message": "omega"})).await.expect(200);
    assert!(mate.get("/api/v1/search/posts?q=alpha").await.expect(200).as_array().unwrap().is_empty());
    assert_eq!(texts(&mate.get("/api/v1/search/posts?q=omega").await.expect(200)), ["omega"]);
    for hostile in ["%22unbalanced", "NEAR(a%20b)", "a%20OR%20*", "%27%3B%20DROP%20TABLE%20posts%3B"] {
        let r = mate.get(&format!("/api/v1/search/posts?q={hostile}")).await;
        assert_eq!(r.status, 200, "{hostile}: {:?}", r.body);
    }
    assert_eq!(mate.get("/api/v1/search/posts?q=%20").await.status, 400);
    assert_eq!(mate.get("/api/v1/search/posts?q=x&after=yesterday").await.status, 400);
}
