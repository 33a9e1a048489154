//! IdP signing certificates running out: the most common SSO outage. A
//! periodic pass warns 30, 7 and 1 day ahead (`integration.certificate_expiring`,
//! audited, each once per certificate across instances) and keeps
//! `sso_gateway_idp_certificate_expiry_seconds{integration}` current.

use serde::Serialize;
use serde_json::json;

use super::settings::{stored_settings, Settings};
use super::view::certificate_view;
use crate::audit::AuditKind;
use crate::events::{EventType, IntegrationData};
use crate::provisioning::{audit_success, emit_event, Actor, RuleResult};
use crate::state::AppState;
use crate::store::Kind;

/// Days before expiry at which a warning goes out.
pub const WARNING_DAYS: [i64; 3] = [30, 7, 1];

#[derive(Serialize)]
struct Expiring {
    #[serde(flatten)]
    integration: IntegrationData,
    certificate: ExpiringCertificate,
}

#[derive(Serialize)]
struct ExpiringCertificate {
    sha256_fingerprint: String,
    subject: String,
    not_after: String,
    days_left: i64,
    /// Which of the 30/7/1-day warnings this is.
    threshold_days: i64,
}

/// One pass over every SAML integration; returns how many warnings went out.
pub async fn warn_expiring_certificates(state: &AppState) -> RuleResult<usize> {
    let mut warned = 0;
    let gauge = &state.metrics.idp_certificate_expiry;
    gauge.reset();
    for integration in state
        .store
        .integrations_of_kinds(&[Kind::Okta, Kind::Saml])
        .await?
    {
        let Ok(Settings::Saml(saml)) = stored_settings(&integration) else {
            continue;
        };
        let certificates: Vec<_> = saml
            .idp
            .certificates
            .iter()
            .filter_map(|b64| certificate_view(b64))
            .collect();
        // The gauge says when sign-ins stop: when the last certificate
        // still valid runs out (a rollover publishes the next one beside it).
        if let Some(latest) = certificates
            .iter()
            .filter_map(|c| chrono::DateTime::parse_from_rfc3339(&c.not_after).ok())
            .max()
        {
            let seconds = (latest.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
            gauge
                .with_label_values(&[&integration.id])
                .set(seconds as f64);
        }
        for cert in certificates {
            // Only the tightest threshold crossed is announced; the looser
            // ones are noted with it, so a certificate found at 5 days left
            // warns once ("7 days"), not twice.
            let crossed: Vec<i64> = WARNING_DAYS
                .into_iter()
                .filter(|t| cert.expires_in_days <= *t)
                .collect();
            let Some(&tightest) = crossed.last() else {
                continue;
            };
            let mut tx = state.store.write_tx().await?;
            let mut fresh = false;
            for threshold in &crossed {
                fresh |= tx
                    .note_certificate_warning(&integration.id, &cert.sha256_fingerprint, *threshold)
                    .await?
                    && *threshold == tightest;
            }
            if !fresh {
                tx.rollback().await?;
                continue;
            }
            let data = Expiring {
                integration: IntegrationData {
                    id: integration.id.clone(),
                    kind: integration.kind.as_str().to_string(),
                    name: integration.name.clone(),
                    changed: Vec::new(),
                },
                certificate: ExpiringCertificate {
                    sha256_fingerprint: cert.sha256_fingerprint.clone(),
                    subject: cert.subject.clone(),
                    not_after: cert.not_after.clone(),
                    days_left: cert.expires_in_days,
                    threshold_days: tightest,
                },
            };
            emit_event(
                &mut tx,
                &integration.org_id,
                EventType::IntegrationCertificateExpiring,
                data,
            );
            audit_success(
                &mut tx,
                &integration.org_id,
                AuditKind::IntegrationCertificateExpiring,
                &Actor::System,
                Some(&integration.id),
                json!({ "sha256_fingerprint": cert.sha256_fingerprint, "not_after": cert.not_after, "threshold_days": tightest }),
            )
            .await?;
            tx.commit().await?;
            warned += 1;
        }
    }
    Ok(warned)
}
