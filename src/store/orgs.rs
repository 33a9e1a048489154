use serde::Serialize;

use super::{new_id, now_ms, Store, StoreResult, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Organization {
    pub id: String,
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl Store {
    pub async fn organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Organizations oldest first, `limit` of them after the one with id
    /// `after` (the previous page's last).
    pub async fn organizations_after(
        &self,
        after: Option<&Organization>,
        limit: i64,
    ) -> StoreResult<Vec<Organization>> {
        let (created_at, id) = after.map_or((i64::MIN, ""), |o| (o.created_at, o.id.as_str()));
        Ok(sqlx::query_as(
            "SELECT id, name, created_at FROM organizations \
             WHERE created_at > $1 OR (created_at = $1 AND id > $2) \
             ORDER BY created_at, id LIMIT $3",
        )
        .bind(created_at)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Tx {
    pub async fn insert_organization(&mut self, name: &str) -> StoreResult<Organization> {
        let org = Organization {
            id: new_id(),
            name: name.to_string(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&org.id)
            .bind(&org.name)
            .bind(org.created_at)
            .execute(&mut **self)
            .await?;
        Ok(org)
    }

    pub async fn rename_organization(&mut self, id: &str, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE organizations SET name = $2 WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(&mut **self)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
