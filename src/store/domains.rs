//! Claimed and verified email domains, and former members (both feed the
//! rule for attaching accounts that belong to another organization).

use super::{email_key, now_ms, Store, StoreResult, Tx};

/// A domain an organization claims.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgDomain {
    pub org_id: String,
    pub domain: String,
    pub challenge: String,
    pub created_at: i64,
    pub verified_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub failing_since: Option<i64>,
}

const DOMAIN_COLUMNS: &str =
    "org_id, domain, challenge, created_at, verified_at, last_checked_at, failing_since";

impl Store {
    pub async fn org_domains(&self, org_id: &str) -> StoreResult<Vec<OrgDomain>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM org_domains WHERE org_id = $1 ORDER BY domain"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn org_domain(&self, org_id: &str, domain: &str) -> StoreResult<Option<OrgDomain>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM org_domains WHERE org_id = $1 AND domain = $2"
        ))
        .bind(org_id)
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The organization that holds `domain` verified, on the pool or inside
    /// a transaction.
    pub async fn verified_domain_owner<'c>(
        executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
        domain: &str,
    ) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT org_id FROM org_domains WHERE domain = $1 AND verified_at IS NOT NULL",
        )
        .bind(domain)
        .fetch_optional(executor)
        .await?;
        Ok(row.map(|(org,)| org))
    }

    /// Verified domains not looked up since `before`, oldest check first.
    pub async fn verified_domains_checked_before(
        &self,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<OrgDomain>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM org_domains WHERE verified_at IS NOT NULL \
             AND COALESCE(last_checked_at, 0) < $1 ORDER BY COALESCE(last_checked_at, 0) LIMIT $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Tx {
    /// Claims a domain (unverified); `Conflict` if this organization already
    /// claims it.
    pub async fn insert_org_domain(&mut self, domain: &OrgDomain) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO org_domains (org_id, domain, challenge, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&domain.org_id)
        .bind(&domain.domain)
        .bind(&domain.challenge)
        .bind(domain.created_at)
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// Marks the claim verified; `Conflict` when another organization holds
    /// the domain verified.
    pub async fn set_domain_verified(&mut self, org_id: &str, domain: &str) -> StoreResult<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE org_domains SET verified_at = COALESCE(verified_at, $3), last_checked_at = $3, \
             failing_since = NULL WHERE org_id = $1 AND domain = $2",
        )
        .bind(org_id)
        .bind(domain)
        .bind(now)
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes a re-check of a verified domain: found (clears any failure) or
    /// not (the failure starts now unless it already had).
    pub async fn record_domain_check(
        &mut self,
        org_id: &str,
        domain: &str,
        found: bool,
    ) -> StoreResult<()> {
        let now = now_ms();
        let sql = if found {
            "UPDATE org_domains SET last_checked_at = $3, failing_since = NULL \
             WHERE org_id = $1 AND domain = $2"
        } else {
            "UPDATE org_domains SET last_checked_at = $3, failing_since = COALESCE(failing_since, $3) \
             WHERE org_id = $1 AND domain = $2"
        };
        sqlx::query(sql)
            .bind(org_id)
            .bind(domain)
            .bind(now)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// Takes the verification away (the claim stays, to verify again).
    pub async fn set_domain_unverified(&mut self, org_id: &str, domain: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE org_domains SET verified_at = NULL, failing_since = NULL \
             WHERE org_id = $1 AND domain = $2",
        )
        .bind(org_id)
        .bind(domain)
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    pub async fn delete_org_domain(&mut self, org_id: &str, domain: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM org_domains WHERE org_id = $1 AND domain = $2")
            .bind(org_id)
            .bind(domain)
            .execute(&mut **self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many organizations other than `org_id` the account belongs to.
    pub async fn other_memberships(&mut self, org_id: &str, user_id: &str) -> StoreResult<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND org_id <> $2")
                .bind(user_id)
                .bind(org_id)
                .fetch_one(&mut **self)
                .await?;
        Ok(n)
    }

    pub async fn remember_former_member(&mut self, org_id: &str, email: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO former_members (org_id, email_key, left_at) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id, email_key) DO UPDATE SET left_at = excluded.left_at",
        )
        .bind(org_id)
        .bind(email_key(email))
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    pub async fn was_member(&mut self, org_id: &str, email: &str) -> StoreResult<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT left_at FROM former_members WHERE org_id = $1 AND email_key = $2",
        )
        .bind(org_id)
        .bind(email_key(email))
        .fetch_optional(&mut **self)
        .await?;
        Ok(row.is_some())
    }
}
