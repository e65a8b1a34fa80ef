//! Secret rotation as the runbook does it: deploy a new JWT secret (rolling update). With the previous
//! secret configured, tokens it signed keep working until they expire; without it they are refused.

use crate::common::{Api, TestDb, spawn_app_on};

const S1: &str = "Zmlyc3Qtand0LXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHMtMDEyMzQ1Njc4OTAx";
const S2: &str = "c2Vjb25kLWp3dC1zZWNyZXQtZm9yLXJvdGF0aW9uLXRlc3RzLTk4NzY1NDMyMTA5";
const KEY: &str = "ZW5jcnlwdGlvbi1rZXktZm9yLXJvdGF0aW9uLXRlc3RzLTAwMDAwMDAwMDAwMDAw";

#[tokio::test]
async fn a_new_jwt_secret_keeps_old_tokens_only_with_the_previous_secret() {
    let Some(db) = TestDb::create().await else { return };
    let old = spawn_app_on(&db.url, &[("RUSTCHAT_JWT_SECRET", S1), ("RUSTCHAT_ENCRYPTION_KEY", KEY)]).await.unwrap();
    let user = Api::register(&old.address, "rotator").await;

    let rotated = spawn_app_on(
        &db.url,
        &[("RUSTCHAT_JWT_SECRET", S2), ("RUSTCHAT_JWT_SECRET_PREVIOUS", S1), ("RUSTCHAT_ENCRYPTION_KEY", KEY)],
    )
    .await
    .unwrap();
    let mut on_rotated = user.clone();
    on_rotated.base = rotated.address.clone();
    on_rotated.get("/api/v1/users/me").await.expect(200);

    let strict = spawn_app_on(&db.url, &[("RUSTCHAT_JWT_SECRET", S2), ("RUSTCHAT_ENCRYPTION_KEY", KEY)]).await.unwrap();
    let mut on_strict = user.clone();
    on_strict.base = strict.address.clone();
    let refused = on_strict.get("/api/v1/users/me").await;
    assert_eq!((refused.status, refused.code()), (401, "invalid_token"));

    // A token issued under the new secret works everywhere the new secret is.
    let fresh = Api::login(&rotated.address, "rotator", "password-rotator").await.expect(200);
    let mut fresh_on_strict = Api::anonymous(&strict.address);
    fresh_on_strict.adopt(&fresh);
    fresh_on_strict.get("/api/v1/users/me").await.expect(200);
    drop((old, rotated, strict));
}

/// The runbook's rotation "logs users out as tokens become invalid": without the previous secret, the
/// refresh tokens of sessions opened under the old secret stop working too; with it, they carry over.
#[tokio::test]
async fn replacing_the_jwt_secret_ends_sessions_unless_the_previous_secret_is_given() {
    let Some(db) = TestDb::create().await else { return };
    let old = spawn_app_on(&db.url, &[("RUSTCHAT_JWT_SECRET", S1), ("RUSTCHAT_ENCRYPTION_KEY", KEY)]).await.unwrap();
    let kept = Api::register(&old.address, "kept").await;
    let lost = Api::login(&old.address, "kept", "password-kept").await.expect(200);
    drop(old);

    let rotated = spawn_app_on(
        &db.url,
        &[("RUSTCHAT_JWT_SECRET", S2), ("RUSTCHAT_JWT_SECRET_PREVIOUS", S1), ("RUSTCHAT_ENCRYPTION_KEY", KEY)],
    )
    .await
    .unwrap();
    let carried = Api::anonymous(&rotated.address)
        .post("/api/v1/auth/refresh", serde_json::json!({ "refresh_token": kept.refresh.clone().unwrap() }))
        .await
        .expect(200);
    drop(rotated);

    let strict = spawn_app_on(&db.url, &[("RUSTCHAT_JWT_SECRET", S2), ("RUSTCHAT_ENCRYPTION_KEY", KEY)]).await.unwrap();
    let anon = Api::anonymous(&strict.address);
    // The session refreshed during the rotation now belongs to the new secret.
    anon.post("/api/v1/auth/refresh", serde_json::json!({ "refresh_token": carried["refresh_token"] }))
        .await
        .expect(200);
    // One never refreshed during the rotation ended with the old secret.
    let refused =
        anon.post("/api/v1/auth/refresh", serde_json::json!({ "refresh_token": lost["refresh_token"] })).await;
    assert_eq!((refused.status, refused.code()), (401, "invalid_token"));
}
