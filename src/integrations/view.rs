//! What an admin sees of an integration, built from what is stored.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::saml_source::SamlSource;
use super::settings::{stored_settings, Settings};
use super::{CertificateView, IntegrationView, OidcView, ProvisioningView, SamlView};
use crate::config::Config;
use crate::oidc::provider::entra_issuer;
use crate::provisioning::RuleResult;
use crate::store::Integration;

/// What is shown of a stored (base64 DER) certificate; `None` if it does
/// not parse.
pub fn certificate_view(b64: &str) -> Option<CertificateView> {
    let der = STANDARD.decode(b64).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let not_after = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)?;
    Some(CertificateView {
        subject: cert.subject().to_string(),
        not_after: not_after.to_rfc3339(),
        expires_in_days: (not_after - chrono::Utc::now()).num_days(),
        sha256_fingerprint: hex::encode(Sha256::digest(&der)),
    })
}

/// Everything an admin sees of one integration.
pub fn view(config: &Config, integration: &Integration) -> RuleResult<IntegrationView> {
    let kind = integration.kind;
    let base = config.external_url(&format!(
        "/users/sign-in/sso/{}/{}",
        kind.as_str(),
        integration.id
    ));
    let settings = stored_settings(integration)?;
    let groups = settings.groups().clone();
    let (saml, oidc) = match settings {
        Settings::Saml(s) => {
            let (source, metadata_url) = match s.source {
                SamlSource::MetadataUrl { url } => ("metadata_url", Some(url)),
                SamlSource::MetadataXml => ("metadata_xml", None),
                SamlSource::Manual => ("manual", None),
            };
            let view = SamlView {
                source: source.to_string(),
                metadata_url,
                sign_requests: s.sign_requests,
                want_authn_requests_signed: s.idp.want_authn_requests_signed,
                require_encrypted_assertions: s.require_encrypted_assertions,
                sso_url: s.idp.sso_url,
                idp_entity_id: s.idp.entity_id,
                certificates: s
                    .idp
                    .certificates
                    .iter()
                    .filter_map(|c| certificate_view(c))
                    .collect(),
                metadata_fetched_at: s.metadata_fetched_at,
                metadata_error: s.metadata_error,
            };
            (Some(view), None)
        }
        Settings::Oidc(o) => {
            let issuer = match (&o.tenant, &o.issuer) {
                (Some(tenant), _) => entra_issuer(config, tenant),
                (None, Some(issuer)) => issuer.clone(),
                (None, None) => String::new(),
            };
            let view = OidcView {
                issuer,
                tenant: o.tenant,
                client_id: o.client_id,
                client_secret_set: true,
            };
            (None, Some(view))
        }
    };
    let is_saml = kind.is_saml();
    Ok(IntegrationView {
        id: integration.id.clone(),
        kind,
        name: integration.name.clone(),
        acs_url: is_saml.then(|| base.clone()),
        sp_entity_id: is_saml.then(|| base.clone()),
        sp_metadata_url: is_saml.then(|| format!("{base}/metadata")),
        redirect_uri: (!is_saml).then(|| format!("{base}/callback")),
        sign_in_url: base,
        saml,
        oidc,
        provisioning: ProvisioningView {
            enabled: integration.scim_token_hash.is_some(),
            tenant_url: scim_tenant_url(config, &integration.id),
            tenant_id: integration.id.clone(),
            enabled_at: integration.scim_enabled_at,
        },
        groups_attribute: groups.groups_attribute,
        role_mapping: groups.role_mapping,
        created_at: integration.created_at,
        updated_at: integration.updated_at,
    })
}

pub fn scim_tenant_url(config: &Config, integration_id: &str) -> String {
    config.external_url(&format!("/scim/v2/{integration_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::parse_certificates;

    #[test]
    fn okta_certificate_as_bare_base64_or_pem() {
        let pem = include_str!("../../fixtures/certs/idp-cert.pem");
        let from_pem = parse_certificates(pem).unwrap();
        let bare: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(parse_certificates(&bare).unwrap(), from_pem);
        let view = certificate_view(&from_pem[0]).unwrap();
        assert!(
            view.subject.contains("sso-gateway test IdP"),
            "{}",
            view.subject
        );
        assert!(parse_certificates("not a cert").is_err());
        assert!(
            parse_certificates("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }
}
