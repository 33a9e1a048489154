use serde_json::json;

use super::{audit_success, invalid, Actor, RuleResult};
use crate::audit::AuditKind;
use crate::secrets::{new_token, token_hash, ADMIN_TOKEN_PREFIX};
use crate::store::{Organization, Store};

/// A created organization and its first admin token (shown this once).
pub struct NewOrganization {
    pub organization: Organization,
    pub admin_token: String,
}

pub(crate) fn validate_name(field: &'static str, raw: &str) -> RuleResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    super::limits::bounded(field, name, super::limits::NAME)?;
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(name.to_string())
}

pub async fn create_organization(
    store: &Store,
    name: &str,
    actor: &Actor,
) -> RuleResult<NewOrganization> {
    let name = validate_name("name", name)?;
    let admin_token = new_token(ADMIN_TOKEN_PREFIX);
    let mut tx = store.write_tx().await?;
    let organization = tx.insert_organization(&name).await?;
    let token_id = tx
        .insert_admin_token(&organization.id, &token_hash(&admin_token))
        .await?;
    audit_success(
        &mut tx,
        &organization.id,
        AuditKind::OrganizationCreated,
        actor,
        Some(&organization.id),
        json!({ "name": name, "admin_token_id": token_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(NewOrganization {
        organization,
        admin_token,
    })
}

/// Issues a new admin token and revokes every other one of the organization.
pub async fn rotate_admin_token(store: &Store, org_id: &str, actor: &Actor) -> RuleResult<String> {
    if store.organization(org_id).await?.is_none() {
        return Err(super::RuleError::NotFound("organization"));
    }
    let token = new_token(ADMIN_TOKEN_PREFIX);
    let mut tx = store.write_tx().await?;
    let token_id = tx.insert_admin_token(org_id, &token_hash(&token)).await?;
    let revoked = tx.revoke_admin_tokens_except(org_id, &token_id).await?;
    audit_success(
        &mut tx,
        org_id,
        AuditKind::AdminTokenRotated,
        actor,
        Some(&token_id),
        json!({ "revoked": revoked }),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

pub async fn rename_organization(
    store: &Store,
    org_id: &str,
    name: &str,
    actor: &Actor,
) -> RuleResult<()> {
    let name = validate_name("name", name)?;
    let mut tx = store.write_tx().await?;
    if !tx.rename_organization(org_id, &name).await? {
        return Err(super::RuleError::NotFound("organization"));
    }
    audit_success(
        &mut tx,
        org_id,
        AuditKind::OrganizationRenamed,
        actor,
        Some(org_id),
        json!({ "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
