//! Password hashing with argon2id at the crate's defaults (m = 19 MiB, t = 2, p = 1: the OWASP
//! recommendation), in PHC string form so parameters can be raised later without breaking old hashes.
//! Hashing runs on the blocking pool: it is deliberately slow. At most one hash per core runs at a
//! time: each takes 19 MiB, and unbounded concurrency (a burst of logins) grew the process by that
//! much per blocking thread — 64 parallel registrations took the node from 20 MiB to 840 MiB RSS.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use crate::domain::Password;

/// One password hash per core at a time.
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)));
use crate::error::{Error, Result};

pub async fn hash_password(password: &Password) -> Result<String> {
    let _permit = HASHING.acquire().await.map_err(Error::internal)?;
    let password = password.expose().to_string();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(anyhow::anyhow!("argon2: {e}")))
    })
    .await
    .map_err(Error::internal)?
}

/// Checks `password` against `hash`. With no hash (unknown account, SSO-only account) it still spends
/// the same time on a dummy hash, so response time does not reveal whether an account exists.
pub async fn verify_password(password: &str, hash: Option<String>) -> Result<bool> {
    let _permit = HASHING.acquire().await.map_err(Error::internal)?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let argon = Argon2::default();
        match hash.as_deref().map(PasswordHash::new) {
            Some(Ok(parsed)) => Ok(argon.verify_password(password.as_bytes(), &parsed).is_ok()),
            Some(Err(e)) => Err(Error::internal(anyhow::anyhow!("stored password hash is malformed: {e}"))),
            None => {
                let salt = SaltString::generate(&mut OsRng);
                let _ = argon.hash_password(password.as_bytes(), &salt);
                Ok(false)
            }
        }
    })
    .await
    .map_err(Error::internal)?
}
