//! User preferences: free-form `(category, name) -> value` per user, as the Mattermost API stores them.

use serde::{Deserialize, Serialize};

use super::{Store, with_pool, with_tx};
use crate::domain::UserId;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Preference {
    pub user_id: UserId,
    pub category: String,
    pub name: String,
    pub value: String,
}

impl Store {
    /// The user's preferences, by category then name.
    pub async fn preferences(&self, user: UserId) -> Result<Vec<Preference>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, Preference>(
                "SELECT user_id, category, name, value FROM preferences WHERE user_id = $1 ORDER BY category, name",
            )
            .bind(user)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Sets each of `prefs` (all the user's own), in one transaction.
    pub async fn save_preferences(&self, user: UserId, prefs: &[Preference]) -> Result<()> {
        with_tx!(self, |tx| {
            for p in prefs {
                sqlx::query(
                    "INSERT INTO preferences (user_id, category, name, value) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (user_id, category, name) DO UPDATE SET value = excluded.value",
                )
                .bind(user)
                .bind(&p.category)
                .bind(&p.name)
                .bind(&p.value)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }
}
