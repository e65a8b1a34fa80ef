//! The account commands the admin command line shares with the API (`app::accounts`): the operator
//! may run them, a system admin may, a member may not; the operator has no account of their own.

use rustchat::app::Principal;
use rustchat::app::accounts::{self, NewAccount};
use rustchat::auth::AuthUser;
use rustchat::config::Settings;
use rustchat::domain::{Password, SessionId, UserId};
use rustchat::error::ErrorCode;
use rustchat::store::Store;
use sqlx::Connection;
use uuid::Uuid;

use crate::common::{Api, Db, spawn_app};

async fn caller(db: &mut sqlx::PgConnection, store: &Store, api: &Api) -> AuthUser {
    let user: Uuid = api.user_id.parse().unwrap();
    let sid: Uuid = sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1")
        .bind(user)
        .fetch_one(db)
        .await
        .unwrap();
    AuthUser::of_session(store, SessionId(sid), UserId(user)).await.unwrap()
}

#[tokio::test]
async fn only_system_admins_and_the_operator_create_accounts_reset_passwords_and_deactivate() {
    let Some(app) = spawn_app(Db::Postgres, &[]).await else { return };
    let mut db = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    let settings = Settings::from_vars([("RUSTCHAT_DATABASE_URL", app.db_url.as_str())]).unwrap();
    let store = Store::connect_lazy(&settings.database).unwrap();
    let admin = Api::register(&app.address, "boss").await;
    let member = Api::register(&app.address, "worker").await;
    let (admin, member_caller) = (caller(&mut db, &store, &admin).await, caller(&mut db, &store, &member).await);
    let target: UserId = member.user_id.parse().map(UserId).unwrap();
    let password = Password::parse("a-new-password", "password").unwrap();

    let new = NewAccount::parse("newbie", "newbie@example.com", "long-enough-pw", None).unwrap();
    let refused = accounts::create(&store, Principal::User(&member_caller), &new, false).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "a member creates an account: {}", refused.message);
    let refused = accounts::reset_password(&store, Principal::User(&member_caller), admin.id(), &password).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::Forbidden, "a member resets a password");
    let refused = accounts::set_active(&store, Principal::User(&member_caller), admin.id(), false).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::Forbidden, "a member deactivates an admin");

    let made = accounts::create(&store, Principal::User(&admin), &new, true).await.unwrap();
    assert!(made.is_system_admin, "an admin may make an admin");
    let refused = accounts::set_active(&store, Principal::User(&admin), admin.id(), false).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::ValidationFailed, "an admin deactivates themself: {}", refused.message);

    let (ended, _) = accounts::reset_password(&store, Principal::Operator, target, &password).await.unwrap();
    assert_eq!(ended, 1, "the member's one session ends");
    let relogin = Api::login(&app.address, "worker", "a-new-password").await;
    assert_eq!(relogin.status, 200, "the new password works");
    let (user, _) = accounts::set_active(&store, Principal::Operator, target, false).await.unwrap();
    assert!(!user.is_active);
    let later = AuthUser::of_session(&store, member_caller.session, target).await;
    assert!(later.is_err(), "a deactivated account's session is not live");
}
