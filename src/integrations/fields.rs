//! Checks on single input fields: URLs, certificates, Entra tenants,
//! secrets and names, and which fields belong to which kind.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use url::Url;

use super::{IntegrationInput, Kind};
use crate::config::Config;
use crate::oidc::provider::is_guid;
use crate::provisioning::{invalid, RuleError, RuleResult};

/// Size cap on pasted metadata and certificates, matching what a fetch may bring.
pub(super) fn check_size(field: &'static str, value: &str, max: usize) -> RuleResult<()> {
    if value.len() > max {
        return Err(invalid(field, format!("is larger than {max} bytes")));
    }
    Ok(())
}

pub(super) fn outbound_url(config: &Config, field: &'static str, raw: &str) -> RuleResult<String> {
    let url = Url::parse(raw.trim()).map_err(|e| invalid(field, format!("is not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if config.outbound.allow_http => {}
        "http" => {
            return Err(invalid(
                field,
                "must use https (plain http is off: outbound.allow_http)",
            ))
        }
        other => {
            return Err(invalid(
                field,
                format!("must be an https URL, not {other}:"),
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(field, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(field, "must not carry credentials"));
    }
    Ok(url.to_string())
}

/// Accepts PEM (one or more CERTIFICATE blocks) or bare base64 DER, as Okta
/// shows it; returns base64 DER of each certificate after parsing it.
pub fn parse_certificates(raw: &str) -> RuleResult<Vec<String>> {
    const FIELD: &str = "certificate_pem";
    let text = raw.trim();
    let blobs: Vec<String> = if text.contains("-----BEGIN") {
        let mut blobs = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
            let end = body.find("-----END CERTIFICATE-----").ok_or_else(|| {
                invalid(FIELD, "has a BEGIN CERTIFICATE line without its END line")
            })?;
            blobs.push(body[..end].to_string());
            rest = &body[end..];
        }
        if blobs.is_empty() {
            return Err(invalid(
                FIELD,
                "holds no CERTIFICATE block (a private key is not a certificate)",
            ));
        }
        blobs
    } else {
        vec![text.to_string()]
    };
    blobs
        .iter()
        .map(|b| {
            let compact: String = b.chars().filter(|c| !c.is_whitespace()).collect();
            let der = STANDARD
                .decode(&compact)
                .map_err(|_| invalid(FIELD, "is neither PEM nor base64"))?;
            x509_parser::parse_x509_certificate(&der)
                .map_err(|_| invalid(FIELD, "is not an X.509 certificate"))?;
            Ok(STANDARD.encode(der))
        })
        .collect()
}

pub(super) fn required(field: &'static str, value: Option<&str>) -> RuleResult<String> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(invalid(field, "is required")),
    }
}

/// Refuses fields that belong to another kind, by name.
pub(super) fn refuse_foreign_fields(kind: Kind, input: &IntegrationInput) -> RuleResult<()> {
    let saml_fields = [
        ("metadata_url", input.metadata_url.is_some()),
        ("metadata_xml", input.metadata_xml.is_some()),
        ("sso_url", input.sso_url.is_some()),
        ("certificate_pem", input.certificate_pem.is_some()),
        ("idp_entity_id", input.idp_entity_id.is_some()),
    ];
    let oidc_fields = [
        ("client_id", input.client_id.is_some()),
        ("client_secret", input.client_secret.is_some()),
    ];
    let entra_only = [("tenant", input.tenant.is_some())];
    let oidc_only = [("issuer", input.issuer.is_some())];
    let foreign: Vec<(&str, bool)> = match kind {
        Kind::Okta | Kind::Saml => [&oidc_fields[..], &entra_only, &oidc_only].concat(),
        Kind::Entra => [&saml_fields[..], &oidc_only].concat(),
        Kind::Oidc => [&saml_fields[..], &entra_only].concat(),
    };
    match foreign.iter().find(|(_, present)| *present) {
        Some((name, _)) => Err(RuleError::Invalid {
            field: "kind",
            message: format!("`{name}` does not apply to a {} integration", kind.as_str()),
        }),
        None => Ok(()),
    }
}

pub(super) fn validate_tenant(raw: &str) -> RuleResult<String> {
    let tenant = raw.trim().to_ascii_lowercase();
    let domain_like = tenant.contains('.')
        && tenant
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if is_guid(&tenant) || domain_like {
        Ok(tenant)
    } else {
        Err(invalid(
            "tenant",
            "must be the Directory (tenant) ID, a GUID, or a verified domain such as contoso.onmicrosoft.com",
        ))
    }
}

pub(super) fn validate_client_secret(raw: &str) -> RuleResult<String> {
    if raw.is_empty() || raw.len() > 1024 {
        return Err(invalid("client_secret", "must be 1 to 1024 characters"));
    }
    Ok(raw.to_string())
}

pub(super) fn validated_name(kind: Kind, name: Option<&str>) -> RuleResult<String> {
    match name.map(str::trim) {
        None | Some("") => Ok(match kind {
            Kind::Okta => "Okta".to_string(),
            Kind::Entra => "Microsoft Entra ID".to_string(),
            Kind::Saml => "SAML".to_string(),
            Kind::Oidc => "OpenID Connect".to_string(),
        }),
        Some(n) if n.chars().count() > 200 || n.chars().any(char::is_control) => {
            Err(invalid("name", "must be at most 200 printable characters"))
        }
        Some(n) => Ok(n.to_string()),
    }
}
