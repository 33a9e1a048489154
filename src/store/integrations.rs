use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{now_ms, Store, StoreResult, Tx, INTEGRATIONS_VERSION};

/// What protocol an integration speaks (stored as its lowercase name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Okta,
    Entra,
    Saml,
    Oidc,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Okta => "okta",
            Kind::Entra => "entra",
            Kind::Saml => "saml",
            Kind::Oidc => "oidc",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "okta" => Some(Kind::Okta),
            "entra" => Some(Kind::Entra),
            "saml" => Some(Kind::Saml),
            "oidc" => Some(Kind::Oidc),
            _ => None,
        }
    }

    /// The identity provider, for people.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Okta => "Okta",
            Kind::Entra => "Microsoft Entra ID",
            Kind::Saml => "SAML",
            Kind::Oidc => "OpenID Connect",
        }
    }

    pub fn is_saml(self) -> bool {
        matches!(self, Kind::Okta | Kind::Saml)
    }
}

/// Stored as its name; a row with a name we do not know fails to decode
/// (loudly) instead of passing for some other kind.
impl sqlx::Type<sqlx::Any> for Kind {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <String as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Kind {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let name = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
        Kind::parse(&name).ok_or_else(|| format!("unknown integration kind {name:?}").into())
    }
}

/// A stored integration. `settings` is the kind-specific JSON document that
/// `crate::integrations` validates; secrets inside it are already encrypted.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Integration {
    pub id: String,
    pub org_id: String,
    pub kind: Kind,
    pub name: String,
    pub settings: String,
    pub scim_token_hash: Option<String>,
    pub scim_enabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, org_id, kind, name, settings, scim_token_hash, scim_enabled_at, created_at, updated_at";

impl Store {
    /// Every organization's integrations of these kinds (for background jobs).
    pub async fn integrations_of_kinds(&self, kinds: &[Kind]) -> StoreResult<Vec<Integration>> {
        let all: Vec<Integration> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM integrations ORDER BY id"))
                .fetch_all(&self.pool)
                .await?;
        Ok(all
            .into_iter()
            .filter(|i| kinds.contains(&i.kind))
            .collect())
    }

    /// Replaces the settings document only (a background refresh, not an admin change).
    pub async fn replace_integration_settings(&self, id: &str, settings: &str) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE integrations SET settings = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(settings)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.integrations_changed();
        tx.commit().await?;
        Ok(())
    }

    pub async fn integrations(&self, org_id: &str) -> StoreResult<Vec<Integration>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM integrations WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// An integration by its public id alone: sign-in and SCIM routes carry
    /// only that id, and find the organization through it. From memory
    /// when `remember_reads` is on and no integration changed since.
    pub async fn integration(&self, id: &str) -> StoreResult<Option<Integration>> {
        let Some(remembered) = &self.remembered else {
            return self.read_integration(id).await;
        };
        match remembered.versions.version(INTEGRATIONS_VERSION).await {
            Some(version) => {
                remembered
                    .integrations
                    .read(id.to_string(), version, || self.read_integration(id))
                    .await
            }
            None => self.read_integration(id).await,
        }
    }

    async fn read_integration(&self, id: &str) -> StoreResult<Option<Integration>> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM integrations WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// An integration only if it belongs to the organization.
    pub async fn org_integration(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<Integration>> {
        Ok(self.integration(id).await?.filter(|i| i.org_id == org_id))
    }
}

impl Tx {
    pub async fn insert_integration(&mut self, integration: &Integration) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO integrations (id, org_id, kind, name, settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&integration.id)
        .bind(&integration.org_id)
        .bind(integration.kind.as_str())
        .bind(&integration.name)
        .bind(&integration.settings)
        .bind(integration.created_at)
        .bind(integration.updated_at)
        .execute(&mut **self)
        .await?;
        self.integrations_changed();
        Ok(())
    }

    pub async fn update_integration(
        &mut self,
        org_id: &str,
        id: &str,
        name: &str,
        settings: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE integrations SET name = $3, settings = $4, updated_at = $5 WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .bind(name)
        .bind(settings)
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        self.integrations_changed();
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_integration(&mut self, org_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM integrations WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut **self)
            .await?;
        self.integrations_changed();
        Ok(done.rows_affected() == 1)
    }

    /// Turns SCIM on with this token hash (replacing any earlier token), or off with `None`.
    pub async fn set_scim_token(
        &mut self,
        org_id: &str,
        id: &str,
        token_hash: Option<&str>,
    ) -> StoreResult<bool> {
        let enabled_at = token_hash.map(|_| now_ms());
        let done = sqlx::query(
            "UPDATE integrations SET scim_token_hash = $3, scim_enabled_at = $4, updated_at = $5 \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .bind(token_hash)
        .bind(enabled_at)
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        self.integrations_changed();
        Ok(done.rows_affected() == 1)
    }
}

impl Tx {
    /// Records that the `threshold_days` warning for a certificate was
    /// given; `false` if it already had been.
    pub async fn note_certificate_warning(
        &mut self,
        integration_id: &str,
        fingerprint: &str,
        threshold_days: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO certificate_warnings (integration_id, fingerprint, threshold_days, warned_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(integration_id)
        .bind(fingerprint)
        .bind(threshold_days)
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
