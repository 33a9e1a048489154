//! The SAML service provider's key pairs (signing, encryption), one line of
//! generations per purpose; see `migrations/0011_sp_keys.sql`.

use super::{now_ms, Store, StoreError, StoreResult};

/// One generation of an SP key, its private half still sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpKeyRow {
    pub purpose: String,
    pub generation: i64,
    pub private_key: String,
    /// base64 DER.
    pub certificate: String,
    pub fingerprint: String,
    pub not_after: i64,
    pub created_at: i64,
    pub active_from: i64,
}

const COLUMNS: &str =
    "purpose, generation, private_key, certificate, fingerprint, not_after, created_at, active_from";

impl Store {
    /// Every SP key, by purpose, newest generation first.
    pub async fn sp_keys(&self) -> StoreResult<Vec<SpKeyRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sp_keys ORDER BY purpose, generation DESC"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores `row` (its `created_at` is now); false when another instance
    /// or command stored that purpose and generation first (re-read then).
    pub async fn insert_sp_key(&self, row: &SpKeyRow) -> StoreResult<bool> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO sp_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&row.purpose)
        .bind(row.generation)
        .bind(&row.private_key)
        .bind(&row.certificate)
        .bind(&row.fingerprint)
        .bind(row.not_after)
        .bind(now_ms())
        .bind(row.active_from)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Makes a staged generation active from `at` (`rotate --now`); false
    /// when there is no such generation.
    pub async fn activate_sp_key(
        &self,
        purpose: &str,
        generation: i64,
        at: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sp_keys SET active_from = $1 WHERE purpose = $2 AND generation = $3",
        )
        .bind(at)
        .bind(purpose)
        .bind(generation)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Drops the generations of `purpose` below `generation`.
    pub async fn delete_sp_keys_below(&self, purpose: &str, generation: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sp_keys WHERE purpose = $1 AND generation < $2")
            .bind(purpose)
            .bind(generation)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
