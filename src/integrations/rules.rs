//! The write rules: connect, change and delete an integration, and turn
//! SCIM provisioning on, rotate its token or off. Each writes its audit row
//! in the same transaction as the change.

use serde_json::json;

use super::fields::validated_name;
use super::settings::{build_settings, encoded, stored_settings, Settings};
use super::view::scim_tenant_url;
use super::{IntegrationInput, Kind, ScimCredentials};
use crate::audit::AuditKind;
use crate::config::Config;
use crate::events::EventType;
use crate::provisioning::{
    audit_success, integration_changed, invalid, Actor, RuleError, RuleResult,
};
use crate::secrets::{new_token, token_hash, SCIM_TOKEN_PREFIX};
use crate::state::AppState;
use crate::store::{new_id, now_ms, Integration, Store};

/// Builds stored settings from input (on top of `current` for a change) and,
/// for OpenID Connect, checks the provider answers discovery as configured,
/// so a wrong tenant or issuer is an error at connect time rather than at the
/// first sign-in.
async fn settings_for(
    state: &AppState,
    kind: Kind,
    input: &IntegrationInput,
    current: Option<Settings>,
) -> RuleResult<Settings> {
    let settings = build_settings(
        &state.config,
        &state.secrets,
        &state.outbound,
        kind,
        input,
        current,
    )
    .await?;
    if let Settings::Oidc(oidc) = &settings {
        let field = if oidc.tenant.is_some() {
            "tenant"
        } else {
            "issuer"
        };
        crate::oidc::provider::discover(&state.config, &state.outbound, &oidc.expected())
            .await
            .map_err(|e| invalid(field, format!("the provider could not be used: {e}")))?;
    }
    Ok(settings)
}

pub async fn create(
    state: &AppState,
    org_id: &str,
    input: &IntegrationInput,
    actor: &Actor,
) -> RuleResult<Integration> {
    create_with_id(state, org_id, &new_id(), input, actor).await
}

/// Creates an integration under an Integration ID drawn beforehand: the
/// admin UI shows the ID (to paste into Okta) before the IdP's metadata
/// exists, as Okta's set-up order needs. An ID already in use is a conflict.
pub async fn create_with_id(
    state: &AppState,
    org_id: &str,
    id: &str,
    input: &IntegrationInput,
    actor: &Actor,
) -> RuleResult<Integration> {
    let store = &state.store;
    let kind = input
        .kind
        .ok_or_else(|| invalid("kind", "is required: okta, entra, saml or oidc"))?;
    let settings = settings_for(state, kind, input, None).await?;
    let now = now_ms();
    let integration = Integration {
        id: id.to_string(),
        org_id: org_id.to_string(),
        kind,
        name: validated_name(kind, input.name.as_deref())?,
        settings: encoded(&settings)?,
        scim_token_hash: None,
        scim_enabled_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = store.write_tx().await?;
    match tx.insert_integration(&integration).await {
        Err(crate::store::StoreError::Conflict) => {
            return Err(RuleError::Conflict(
                "an integration with this ID already exists".into(),
            ))
        }
        other => other?,
    }
    integration_changed(&mut tx, EventType::IntegrationCreated, &integration, &[]);
    audit_success(
        &mut tx,
        org_id,
        AuditKind::IntegrationCreated,
        actor,
        Some(&integration.id),
        json!({ "kind": kind, "name": integration.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(integration)
}

pub async fn update(
    state: &AppState,
    org_id: &str,
    id: &str,
    input: &IntegrationInput,
    actor: &Actor,
) -> RuleResult<Integration> {
    let store = &state.store;
    let current = store
        .org_integration(org_id, id)
        .await?
        .ok_or(RuleError::NotFound("integration"))?;
    let kind = current.kind;
    if input.kind.is_some_and(|k| k != kind) {
        return Err(invalid(
            "kind",
            "cannot change; delete the integration and create a new one",
        ));
    }
    let current_settings = Some(stored_settings(&current)?);
    let settings = settings_for(state, kind, input, current_settings).await?;
    let name = match &input.name {
        Some(n) => validated_name(kind, Some(n))?,
        None => current.name.clone(),
    };
    let settings = encoded(&settings)?;
    let mut tx = store.write_tx().await?;
    if !tx.update_integration(org_id, id, &name, &settings).await? {
        return Err(RuleError::NotFound("integration"));
    }
    let changed: Vec<&str> = [
        ("name", input.name.is_some()),
        ("metadata_url", input.metadata_url.is_some()),
        ("metadata_xml", input.metadata_xml.is_some()),
        ("sso_url", input.sso_url.is_some()),
        ("certificate_pem", input.certificate_pem.is_some()),
        ("idp_entity_id", input.idp_entity_id.is_some()),
        ("tenant", input.tenant.is_some()),
        ("client_id", input.client_id.is_some()),
        ("client_secret", input.client_secret.is_some()),
        ("issuer", input.issuer.is_some()),
        ("groups_attribute", input.groups_attribute.is_some()),
        ("role_mapping", input.role_mapping.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, given)| given.then_some(f))
    .collect();
    let updated = Integration {
        name: name.clone(),
        ..current
    };
    integration_changed(&mut tx, EventType::IntegrationUpdated, &updated, &changed);
    audit_success(
        &mut tx,
        org_id,
        AuditKind::IntegrationUpdated,
        actor,
        Some(id),
        json!({ "changed": changed }),
    )
    .await?;
    tx.commit().await?;
    store
        .org_integration(org_id, id)
        .await?
        .ok_or(RuleError::NotFound("integration"))
}

pub async fn delete(store: &Store, org_id: &str, id: &str, actor: &Actor) -> RuleResult<()> {
    let integration = store
        .org_integration(org_id, id)
        .await?
        .ok_or(RuleError::NotFound("integration"))?;
    let mut tx = store.write_tx().await?;
    if !tx.delete_integration(org_id, id).await? {
        return Err(RuleError::NotFound("integration"));
    }
    integration_changed(&mut tx, EventType::IntegrationDeleted, &integration, &[]);
    audit_success(
        &mut tx,
        org_id,
        AuditKind::IntegrationDeleted,
        actor,
        Some(id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns SCIM on, or rotates its token: the old token stops working at once.
pub async fn enable_provisioning(
    store: &Store,
    config: &Config,
    org_id: &str,
    id: &str,
    actor: &Actor,
) -> RuleResult<ScimCredentials> {
    let current = store
        .org_integration(org_id, id)
        .await?
        .ok_or(RuleError::NotFound("integration"))?;
    let token = new_token(SCIM_TOKEN_PREFIX);
    let mut tx = store.write_tx().await?;
    tx.set_scim_token(org_id, id, Some(&token_hash(&token)))
        .await?;
    let kind = if current.scim_token_hash.is_some() {
        AuditKind::ProvisioningTokenRotated
    } else {
        integration_changed(&mut tx, EventType::ProvisioningEnabled, &current, &[]);
        AuditKind::ProvisioningEnabled
    };
    audit_success(&mut tx, org_id, kind, actor, Some(id), json!({})).await?;
    tx.commit().await?;
    Ok(ScimCredentials {
        tenant_url: scim_tenant_url(config, id),
        tenant_id: id.to_string(),
        token,
    })
}

pub async fn disable_provisioning(
    store: &Store,
    org_id: &str,
    id: &str,
    actor: &Actor,
) -> RuleResult<()> {
    let integration = store
        .org_integration(org_id, id)
        .await?
        .ok_or(RuleError::NotFound("integration"))?;
    let mut tx = store.write_tx().await?;
    if !tx.set_scim_token(org_id, id, None).await? {
        return Err(RuleError::NotFound("integration"));
    }
    if integration.scim_token_hash.is_some() {
        integration_changed(&mut tx, EventType::ProvisioningDisabled, &integration, &[]);
    }
    audit_success(
        &mut tx,
        org_id,
        AuditKind::ProvisioningDisabled,
        actor,
        Some(id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
