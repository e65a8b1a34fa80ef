//! Sealed credentials in the database: the record of which encryption keys sealed them, and identity
//! providers added through the admin API (client secret sealed, see [`crate::crypto`]).

use super::{Store, with_pool, with_tx};
use crate::crypto::Vault;
use crate::domain::Timestamp;
use crate::error::{Error, Result};

/// An identity provider as stored; the secret stays sealed until a login needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredProvider {
    pub id: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret_sealed: String,
    pub scopes: String,
    pub display_name: String,
}

impl Store {
    pub async fn encryption_keys(&self) -> Result<Vec<(String, String)>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as("SELECT kid, check_value FROM encryption_keys ORDER BY created_at").fetch_all(pool).await?
        }))
    }

    pub async fn add_encryption_key(&self, kid: &str, check_value: &str) -> Result<()> {
        let now = Timestamp::now();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO encryption_keys (kid, check_value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(kid)
            .bind(check_value)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Re-seals every stored secret with the vault's current key, then forgets `old_kid`. One
    /// transaction: a crash halfway leaves everything sealed with the old key, still readable.
    pub async fn reseal_secrets(&self, vault: &Vault, old_kid: &str) -> Result<u64> {
        let check = vault.seal(crate::crypto::CHECK_PLAINTEXT);
        let now = Timestamp::now();
        let resealed = with_tx!(self, |tx| {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT id, client_secret_sealed FROM oidc_providers").fetch_all(&mut *tx).await?;
            let mut count = 0u64;
            for (id, sealed) in rows {
                if Vault::key_of(&sealed) == Some(vault.key_id()) {
                    continue;
                }
                let plain = vault.open(&sealed).map_err(|e| Error::internal(anyhow::anyhow!("provider {id}: {e}")))?;
                sqlx::query("UPDATE oidc_providers SET client_secret_sealed = $2 WHERE id = $1")
                    .bind(&id)
                    .bind(vault.seal(&plain))
                    .execute(&mut *tx)
                    .await?;
                count += 1;
            }
            sqlx::query(
                "INSERT INTO encryption_keys (kid, check_value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(vault.key_id())
            .bind(&check)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM encryption_keys WHERE kid = $1").bind(old_kid).execute(&mut *tx).await?;
            count
        });
        Ok(resealed)
    }

    pub async fn oidc_providers(&self) -> Result<Vec<StoredProvider>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, StoredProvider>(
                "SELECT id, issuer, client_id, client_secret_sealed, scopes, display_name FROM oidc_providers ORDER BY id",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn oidc_provider(&self, id: &str) -> Result<Option<StoredProvider>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, StoredProvider>(
                "SELECT id, issuer, client_id, client_secret_sealed, scopes, display_name FROM oidc_providers WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn create_oidc_provider(&self, p: &StoredProvider) -> Result<()> {
        let now = Timestamp::now();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO oidc_providers (id, issuer, client_id, client_secret_sealed, scopes, display_name, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&p.id)
            .bind(&p.issuer)
            .bind(&p.client_id)
            .bind(&p.client_secret_sealed)
            .bind(&p.scopes)
            .bind(&p.display_name)
            .bind(now)
            .execute(pool)
            .await
            .map_err(|e| super::teams::conflict_as(e, "an identity provider with this id exists"))?
            .rows_affected()
        });
        Ok(())
    }

    pub async fn delete_oidc_provider(&self, id: &str) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM oidc_providers WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        Ok(n == 1)
    }
}
