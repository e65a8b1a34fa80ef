//! One rule, two paths: the one-statement post (PostgreSQL's fast path) and the step-by-step path
//! must accept and refuse exactly the same posts. Each case runs through both, on the same data.

use rustchat::app::posts::post_checked;
use rustchat::auth::AuthUser;
use rustchat::config::Settings;
use rustchat::domain::{ChannelId, Mentions, MessageBody, SessionId, UserId};
use rustchat::store::Store;
use rustchat_actors::ports::{Connections, LocalFut};
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

use crate::common::{Api, Db, spawn_app};

/// `@here` counts no one: presence plays no part in who may post.
struct NobodyOnline;

impl Connections for NobodyOnline {
    fn acquire(&self, _: Uuid, _: Uuid, _: u32) -> LocalFut<Result<bool, String>> {
        Box::pin(async { Ok(true) })
    }
    fn release(&self, _: Uuid, _: Uuid) -> LocalFut<()> {
        Box::pin(async {})
    }
    fn online(&self, _: Vec<Uuid>) -> LocalFut<Result<Vec<Uuid>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn count(&self, _: Uuid) -> LocalFut<Result<u32, String>> {
        Box::pin(async { Ok(0) })
    }
    fn refresh(&self, _: Vec<(Uuid, Uuid)>) {}
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

/// The live session behind `api`'s latest login.
async fn session_of(db: &mut sqlx::PgConnection, api: &Api) -> SessionId {
    let user: Uuid = id(&api.user_id);
    let sid: Uuid = sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1")
        .bind(user)
        .fetch_one(db)
        .await
        .unwrap();
    SessionId(sid)
}

struct Case {
    name: &'static str,
    session: SessionId,
    author: UserId,
    channel: ChannelId,
    allowed: bool,
}

#[tokio::test]
async fn the_one_statement_post_and_the_checked_post_refuse_the_same_cases() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let base = &app.address;
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let settings = Settings::from_vars([("RUSTCHAT_DATABASE_URL", app.db_url.as_str())]).unwrap();
    let store = Store::connect_lazy(&settings.database).unwrap();

    let owner = Api::register(base, "owner").await;
    let member = Api::register(base, "member").await;
    let lurker = Api::register(base, "lurker").await; // in the team, not in the channel
    let stranger = Api::register(base, "stranger").await; // not in the team
    let leaver = Api::register(base, "leaver").await; // removed from the channel
    let gone = Api::register(base, "gone").await; // deactivated (session left unrevoked)
    let expired = Api::register(base, "expired").await;
    let loggedout = Api::register(base, "loggedout").await;
    let team = owner.create_team("acme", false).await;
    for u in [&member, &lurker, &leaver, &gone, &expired, &loggedout] {
        owner.add_to_team(&team, &u.user_id).await;
    }
    let open = owner.create_channel(&team, "general", "public").await;
    let archived = owner.create_channel(&team, "old", "public").await;
    for u in [&member, &leaver, &gone, &expired, &loggedout] {
        owner.add_to_channel(&open, &u.user_id).await;
    }
    owner.add_to_channel(&archived, &member.user_id).await;
    owner.delete(&format!("/api/v1/channels/{archived}")).await.expect(200);
    owner.delete(&format!("/api/v1/channels/{open}/members/{}", leaver.user_id)).await.expect(204);
    let dm = owner.post("/api/v1/channels/direct", json!({ "user_id": member.user_id })).await.expect(200);
    let dm = dm["id"].as_str().unwrap().to_string();

    let (member_session, owner_session) = (session_of(&mut db, &member).await, session_of(&mut db, &owner).await);
    let loggedout_session = session_of(&mut db, &loggedout).await;
    loggedout.post("/api/v1/auth/logout", json!({})).await.expect(204);
    sqlx::query("UPDATE users SET is_active = false WHERE id = $1")
        .bind(id::<Uuid>(&gone.user_id))
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1")
        .bind(id::<Uuid>(&expired.user_id))
        .execute(&mut db)
        .await
        .unwrap();

    let open_id: ChannelId = id(&open);
    let cases = [
        Case {
            name: "a member",
            session: member_session,
            author: id(&member.user_id),
            channel: open_id,
            allowed: true,
        },
        Case {
            name: "a member of a direct conversation",
            session: member_session,
            author: id(&member.user_id),
            channel: id(&dm),
            allowed: true,
        },
        Case {
            name: "the other member of it",
            session: owner_session,
            author: id(&owner.user_id),
            channel: id(&dm),
            allowed: true,
        },
        Case {
            name: "a team member who has not joined",
            session: session_of(&mut db, &lurker).await,
            author: id(&lurker.user_id),
            channel: open_id,
            allowed: false,
        },
        Case {
            name: "a user outside the team",
            session: session_of(&mut db, &stranger).await,
            author: id(&stranger.user_id),
            channel: open_id,
            allowed: false,
        },
        Case {
            name: "an outsider in a direct conversation",
            session: session_of(&mut db, &lurker).await,
            author: id(&lurker.user_id),
            channel: id(&dm),
            allowed: false,
        },
        Case {
            name: "a member removed from the channel",
            session: session_of(&mut db, &leaver).await,
            author: id(&leaver.user_id),
            channel: open_id,
            allowed: false,
        },
        Case {
            name: "a member of an archived channel",
            session: member_session,
            author: id(&member.user_id),
            channel: id(&archived),
            allowed: false,
        },
        Case {
            name: "a deactivated member",
            session: session_of(&mut db, &gone).await,
            author: id(&gone.user_id),
            channel: open_id,
            allowed: false,
        },
        Case {
            name: "an expired session",
            session: session_of(&mut db, &expired).await,
            author: id(&expired.user_id),
            channel: open_id,
            allowed: false,
        },
        Case {
            name: "a logged-out session",
            session: loggedout_session,
            author: id(&loggedout.user_id),
            channel: open_id,
            allowed: false,
        },
        Case {
            name: "someone else's session",
            session: owner_session,
            author: id(&member.user_id),
            channel: open_id,
            allowed: false,
        },
        Case {
            name: "an unknown session",
            session: SessionId::new(),
            author: id(&member.user_id),
            channel: open_id,
            allowed: false,
        },
        Case {
            name: "an unknown channel",
            session: member_session,
            author: id(&member.user_id),
            channel: ChannelId::new(),
            allowed: false,
        },
    ];

    let body = MessageBody::parse("a plain message").unwrap();
    let head = |channel: ChannelId| {
        let store = &store;
        async move { store.last_seqs(&[channel]).await.unwrap().first().map(|(_, seq)| *seq) }
    };
    for case in &cases {
        let before = head(case.channel).await;
        let fast = store
            .create_plain_post_as(case.session, case.author, case.channel, &body, &Mentions::parse(body.as_str()))
            .await
            .unwrap();
        let after_fast = head(case.channel).await;
        let checked =
            post_checked(&store, &NobodyOnline, case.session, case.author, case.channel, body.as_str(), None).await;
        let after_checked = head(case.channel).await;

        assert_eq!(fast.is_some(), case.allowed, "{}: the one-statement path", case.name);
        assert_eq!(checked.is_ok(), case.allowed, "{}: the checked path answered {:?}", case.name, checked.err());
        if case.allowed {
            assert_eq!((after_fast, after_checked), (before.map(|s| s + 1), before.map(|s| s + 2)), "{}", case.name);
        } else {
            assert_eq!((after_fast, after_checked), (before, before), "{}: a refusal wrote something", case.name);
        }
    }
}

/// A login is live in one sense only: the access-token check, the sockets' sweep and both post paths
/// give the same answer for each way a session ends.
#[tokio::test]
async fn every_check_of_a_session_agrees_on_whether_it_is_live() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let base = &app.address;
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let settings = Settings::from_vars([("RUSTCHAT_DATABASE_URL", app.db_url.as_str())]).unwrap();
    let store = Store::connect_lazy(&settings.database).unwrap();

    let owner = Api::register(base, "owner").await;
    let live = Api::register(base, "live").await;
    let revoked = Api::register(base, "revoked").await;
    let expired = Api::register(base, "expired").await;
    let deactivated = Api::register(base, "deactivated").await;
    let team = owner.create_team("acme", false).await;
    let channel = owner.create_channel(&team, "general", "public").await;
    for u in [&live, &revoked, &expired, &deactivated] {
        owner.add_to_team(&team, &u.user_id).await;
        owner.add_to_channel(&channel, &u.user_id).await;
    }
    let sessions: Vec<(&str, &Api, SessionId)> = vec![
        ("live", &live, session_of(&mut db, &live).await),
        ("revoked", &revoked, session_of(&mut db, &revoked).await),
        ("expired", &expired, session_of(&mut db, &expired).await),
        ("deactivated", &deactivated, session_of(&mut db, &deactivated).await),
        ("unknown", &live, SessionId::new()),
    ];
    revoked.post("/api/v1/auth/logout", json!({})).await.expect(204);
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1")
        .bind(id::<Uuid>(&expired.user_id))
        .execute(&mut db)
        .await
        .unwrap();
    // Straight in SQL, so the session row itself still looks live.
    sqlx::query("UPDATE users SET is_active = false WHERE id = $1")
        .bind(id::<Uuid>(&deactivated.user_id))
        .execute(&mut db)
        .await
        .unwrap();

    let ids: Vec<SessionId> = sessions.iter().map(|(_, _, s)| *s).collect();
    let swept = store.live_sessions(&ids).await.unwrap();
    let body = MessageBody::parse("a plain message").unwrap();
    let mentions = Mentions::parse(body.as_str());
    let channel: ChannelId = id(&channel);
    for (name, api, session) in &sessions {
        let author: UserId = id(&api.user_id);
        let expected = *name == "live";
        let token = AuthUser::of_session(&store, *session, author).await;
        let fast = store.create_plain_post_as(*session, author, channel, &body, &mentions).await.unwrap();
        let checked = post_checked(&store, &NobodyOnline, *session, author, channel, body.as_str(), None).await;
        assert_eq!(swept.contains(session), expected, "{name}: the sockets' sweep");
        assert_eq!(token.is_ok(), expected, "{name}: the access-token check answered {:?}", token.err());
        assert_eq!(fast.is_some(), expected, "{name}: the one-statement post");
        assert_eq!(checked.is_ok(), expected, "{name}: the checked post answered {:?}", checked.err());
    }
}
