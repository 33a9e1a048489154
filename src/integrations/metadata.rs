//! SAML IdP metadata: fetching it, and the periodic job that fetches it
//! again for integrations connected by a metadata URL.

use serde_json::json;

use super::saml_source::{fetch_metadata, SamlSource};
use super::settings::{encoded, stored_settings, Settings};
use crate::audit::AuditKind;
use crate::provisioning::{audit_success, Actor, RuleResult};
use crate::state::AppState;
use crate::store::{now_ms, Kind};

/// Fetches again the metadata of every URL-connected SAML integration whose
/// copy is older than `saml.metadata_refresh_seconds`. A failure keeps the
/// last good copy and records why; a change of certificates is audited.
pub async fn refresh_due_metadata(state: &AppState) -> RuleResult<usize> {
    let interval_ms = state.config.saml.metadata_refresh_seconds as i64 * 1000;
    let mut refreshed = 0;
    for integration in state
        .store
        .integrations_of_kinds(&[Kind::Okta, Kind::Saml])
        .await?
    {
        let Ok(Settings::Saml(mut saml)) = stored_settings(&integration) else {
            continue;
        };
        let SamlSource::MetadataUrl { url } = &saml.source else {
            continue;
        };
        let last_attempt = saml
            .metadata_fetched_at
            .unwrap_or(0)
            .max(integration.updated_at);
        if now_ms() - last_attempt < interval_ms {
            continue;
        }
        let certificates_before = saml.idp.certificates.clone();
        match fetch_metadata(&state.outbound, url).await {
            Ok(idp) => {
                saml.idp = idp;
                saml.metadata_fetched_at = Some(now_ms());
                saml.metadata_error = None;
            }
            Err(message) => {
                tracing::warn!(integration = %integration.id, error = %message, "metadata refresh failed; keeping the last good copy");
                saml.metadata_error = Some(message);
            }
        }
        let settings = encoded(&Settings::Saml(saml.clone()))?;
        state
            .store
            .replace_integration_settings(&integration.id, &settings)
            .await?;
        if saml.idp.certificates != certificates_before {
            let mut tx = state.store.write_tx().await?;
            let details = json!({ "certificates": saml.idp.certificates.len() });
            audit_success(
                &mut tx,
                &integration.org_id,
                AuditKind::IntegrationCertificatesChanged,
                &Actor::System,
                Some(&integration.id),
                details,
            )
            .await?;
            tx.commit().await?;
        }
        refreshed += 1;
    }
    Ok(refreshed)
}
