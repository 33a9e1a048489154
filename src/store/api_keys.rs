//! Platform API keys (deployment-wide, for the host product) and the
//! single-use setup links it hands out. Only hashes of either are stored.

use serde::Serialize;

use super::{new_id, now_ms, Store, StoreResult, Tx};

/// A platform API key as `api-key list` shows it: never the key itself.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// Unix milliseconds, as every stored time.
    pub created_at: i64,
    /// Recorded to the minute (see `API_KEY_USE_GRANULARITY_MS`).
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A setup link's stored state; `token_hash` for the constant-time check.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SetupLink {
    pub id: String,
    pub org_id: String,
    pub token_hash: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const API_KEY_COLUMNS: &str = "id, name, created_at, last_used_at, revoked_at";

impl Store {
    /// Every key, revoked ones too, oldest first.
    pub async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The unrevoked key with this hash, and the stored hash.
    pub async fn live_api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> StoreResult<Option<(ApiKey, String)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            key: ApiKey,
            key_hash: String,
        }
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS}, key_hash FROM api_keys \
             WHERE key_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.key, r.key_hash)))
    }

    /// Whether the setup link `id` (which opened an admin session) still
    /// belongs to `org_id`.
    /// The link with this token hash, on the pool or inside a transaction.
    pub async fn setup_link_by_hash<'c>(
        executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
        token_hash: &str,
    ) -> StoreResult<Option<SetupLink>> {
        Ok(sqlx::query_as(
            "SELECT id, org_id, token_hash, expires_at, used_at FROM setup_links \
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(executor)
        .await?)
    }

    pub async fn setup_link_exists(&self, id: &str, org_id: &str) -> StoreResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM setup_links WHERE id = $1 AND org_id = $2")
                .bind(id)
                .bind(org_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }
}

impl Tx {
    pub async fn insert_api_key(&mut self, name: &str, key_hash: &str) -> StoreResult<ApiKey> {
        let key = ApiKey {
            id: new_id(),
            name: name.to_string(),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(key_hash)
        .bind(key.created_at)
        .execute(&mut **self)
        .await?;
        Ok(key)
    }

    /// Revokes the key (an already revoked one keeps its first time);
    /// false when there is no such key.
    pub async fn revoke_api_key(&mut self, id: &str) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                .bind(id)
                .bind(now_ms())
                .execute(&mut **self)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn touch_api_key(&mut self, id: &str, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    pub async fn insert_setup_link(
        &mut self,
        org_id: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> StoreResult<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO setup_links (id, org_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(token_hash)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&mut **self)
        .await?;
        Ok(id)
    }

    /// Marks a live link used; false when it was used (or expired) first.
    /// The condition is re-checked by the UPDATE itself, so of two
    /// concurrent uses exactly one changes the row.
    pub async fn consume_setup_link(&mut self, id: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE setup_links SET used_at = $2 \
             WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
