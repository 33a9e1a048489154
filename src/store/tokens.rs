use super::{new_id, now_ms, Store, StoreResult, Tx};

impl Store {
    /// `(token id, org id, stored hash)` of the admin token with this hash.
    pub async fn admin_token_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(String, String, String)>> {
        Ok(
            sqlx::query_as("SELECT id, org_id, token_hash FROM admin_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

impl Tx {
    pub async fn insert_admin_token(
        &mut self,
        org_id: &str,
        token_hash: &str,
    ) -> StoreResult<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO admin_tokens (id, org_id, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(token_hash)
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        Ok(id)
    }

    /// Revokes every admin token of the organization but `keep_id`.
    pub async fn revoke_admin_tokens_except(
        &mut self,
        org_id: &str,
        keep_id: &str,
    ) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM admin_tokens WHERE org_id = $1 AND id <> $2")
            .bind(org_id)
            .bind(keep_id)
            .execute(&mut **self)
            .await?;
        Ok(done.rows_affected())
    }
}
