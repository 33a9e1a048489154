//! Checks on single input fields: URLs, certificates, Entra tenants,
//! secrets and names, and which fields belong to which kind.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use url::Url;

use super::{IntegrationInput, Kind};
use crate::config::Config;
use crate::oidc::provider::is_guid;
use crate::provisioning::limits::{bounded, ATTRIBUTE, CERTIFICATE, EXTERNAL_ID, NAME, URL};
use crate::provisioning::{invalid, RuleError, RuleResult};

/// Size cap on pasted metadata, matching what a fetch may bring.
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
    // Bounded as stored (normalised), the form that is shown back.
    Ok(bounded(field, url.as_str(), URL)?.to_string())
}

/// Accepts PEM (one or more CERTIFICATE blocks) or bare base64 DER, as Okta
/// shows it; returns base64 DER of each certificate after parsing it.
pub fn parse_certificates(raw: &str) -> RuleResult<Vec<String>> {
    const FIELD: &str = "certificate_pem";
    let text = bounded(FIELD, raw.trim(), CERTIFICATE)?;
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
        ("sign_requests", input.sign_requests.is_some()),
        (
            "require_encrypted_assertions",
            input.require_encrypted_assertions.is_some(),
        ),
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
    let tenant = bounded("tenant", raw.trim(), EXTERNAL_ID)?.to_ascii_lowercase();
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
    if raw.is_empty() {
        return Err(invalid(
            "client_secret",
            format!("must be 1 to {ATTRIBUTE} characters"),
        ));
    }
    Ok(bounded("client_secret", raw, ATTRIBUTE)?.to_string())
}

pub(super) fn validated_name(kind: Kind, name: Option<&str>) -> RuleResult<String> {
    match name.map(str::trim) {
        None | Some("") => Ok(match kind {
            Kind::Okta => "Okta".to_string(),
            Kind::Entra => "Microsoft Entra ID".to_string(),
            Kind::Saml => "SAML".to_string(),
            Kind::Oidc => "OpenID Connect".to_string(),
        }),
        Some(n) if n.chars().any(char::is_control) => Err(invalid(
            "name",
            format!("must be at most {NAME} printable characters"),
        )),
        Some(n) => Ok(bounded("name", n, NAME)?.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An https URL of exactly `len` characters, which parsing leaves as is.
    fn url_of(len: usize) -> String {
        let base = "https://idp.example.com/";
        format!("{base}{}", "a".repeat(len - base.len()))
    }

    /// The field a length refusal names.
    fn too_long(result: RuleResult<impl std::fmt::Debug>) -> &'static str {
        match result {
            Err(RuleError::Invalid { field, message }) => {
                assert!(message.starts_with("must be at most"), "{field}: {message}");
                field
            }
            other => panic!("expected a length refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_url_at_the_limit_passes_and_a_longer_one_is_refused_naming_its_field() {
        let config = Config::load(None).unwrap();
        let at = url_of(URL);
        assert_eq!(outbound_url(&config, "metadata_url", &at).unwrap(), at);
        for field in ["metadata_url", "sso_url", "issuer"] {
            assert_eq!(
                too_long(outbound_url(&config, field, &url_of(URL + 1))),
                field
            );
        }
    }

    #[test]
    fn tenant_secret_name_and_certificate_at_the_limit_pass_and_longer_are_refused() {
        let domain = |len: usize| format!("{}.onmicrosoft.com", "a".repeat(len - 16));
        assert!(validate_tenant(&domain(EXTERNAL_ID)).is_ok());
        assert_eq!(
            too_long(validate_tenant(&domain(EXTERNAL_ID + 1))),
            "tenant"
        );

        assert!(validate_client_secret(&"s".repeat(ATTRIBUTE)).is_ok());
        let secret = validate_client_secret(&"s".repeat(ATTRIBUTE + 1));
        assert_eq!(too_long(secret), "client_secret");

        let name = validated_name(Kind::Okta, Some(&"n".repeat(NAME))).unwrap();
        assert_eq!(name.len(), NAME);
        let name = validated_name(Kind::Okta, Some(&"n".repeat(NAME + 1)));
        assert_eq!(too_long(name), "name");

        // Whitespace inside the base64 body is allowed, so it pads a real
        // certificate to the exact size.
        let pem = include_str!("../../fixtures/certs/idp-cert.pem").trim();
        let (begin, body) = pem.split_once('\n').unwrap();
        let padded = |len: usize| format!("{begin}\n{}{body}", " ".repeat(len - pem.len()));
        assert_eq!(parse_certificates(&padded(CERTIFICATE)).unwrap().len(), 1);
        let over = parse_certificates(&padded(CERTIFICATE + 1));
        assert_eq!(too_long(over), "certificate_pem");
    }
}
