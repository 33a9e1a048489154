//! Integrations: an organization's connection to its identity provider.
//!
//! This module owns the kind-specific settings — what an admin may send, how
//! it is validated, how it is stored (client secrets sealed) and how it is
//! shown back (never a secret) — and the SCIM provisioning toggle.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;
use utoipa::ToSchema;

use crate::audit::AuditKind;
use crate::config::Config;
use crate::oidc::provider::{entra_issuer, is_guid};
use crate::oidc::OidcSettings;
use crate::outbound::Outbound;
use crate::provisioning::{audit_success, Actor, RuleError, RuleResult};
use crate::saml::{parse_idp_metadata, IdpDescriptor};
use crate::secrets::{new_token, token_hash, SecretBox, SCIM_TOKEN_PREFIX};
use crate::state::AppState;
pub use crate::store::{kind_of, Kind};
use crate::store::{new_id, now_ms, Integration, Store};

/// What an admin sends to create or change an integration. One flat shape
/// for every kind (as the SPEC fixes it); fields that do not apply to the
/// kind are refused by name.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationInput {
    /// Required on create; on change it must match if given.
    pub kind: Option<Kind>,
    /// A label for people; defaults to the kind.
    pub name: Option<String>,
    /// okta/saml: the IdP's metadata link (Okta: Sign On tab → SHA-2 → View IdP Metadata).
    pub metadata_url: Option<String>,
    /// okta/saml: the metadata document itself.
    pub metadata_xml: Option<String>,
    /// okta/saml, manual set-up: the IdP's single sign-on URL …
    pub sso_url: Option<String>,
    /// … and its signing certificate, PEM or the bare base64 Okta shows.
    pub certificate_pem: Option<String>,
    /// okta/saml, manual set-up: the IdP's entity ID (Issuer), if known.
    pub idp_entity_id: Option<String>,
    /// entra: the directory (tenant) id or a verified domain.
    pub tenant: Option<String>,
    /// entra/oidc.
    pub client_id: Option<String>,
    /// entra/oidc: stored encrypted, never shown again.
    pub client_secret: Option<String>,
    /// oidc: the issuer whose `/.well-known/openid-configuration` describes it.
    pub issuer: Option<String>,
}

/// Stored settings (JSON in `integrations.settings`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum Settings {
    Saml(SamlSettings),
    Oidc(OidcSettings),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamlSettings {
    pub source: SamlSource,
    /// The IdP as last resolved (from metadata, or entered by hand). A failed
    /// refresh keeps this last good copy.
    pub idp: IdpDescriptor,
    /// When the metadata URL was last fetched successfully (unix ms).
    pub metadata_fetched_at: Option<i64>,
    /// Why the last refresh failed, if it did.
    pub metadata_error: Option<String>,
}

/// Where the IdP's description came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SamlSource {
    MetadataUrl { url: String },
    MetadataXml,
    Manual,
}

/// How an integration is shown: everything an admin needs to copy into the
/// IdP, and no secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationView {
    /// The Integration ID (also the SCIM Tenant ID).
    pub id: String,
    pub kind: Kind,
    pub name: String,
    /// Where people start SP-initiated sign-in.
    pub sign_in_url: String,
    /// SAML: Assertion Consumer Service URL (also the SP entity ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acs_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_metadata_url: Option<String>,
    /// OIDC: the redirect URI to register at the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcView>,
    pub provisioning: ProvisioningView,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SamlView {
    /// `metadata_url`, `metadata_xml` or `manual`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<String>,
    /// The IdP's single sign-on URL (HTTP-Redirect).
    pub sso_url: String,
    /// The IdP's entity ID: the Issuer responses must carry.
    pub idp_entity_id: Option<String>,
    /// Signing certificates with their expiry.
    pub certificates: Vec<CertificateView>,
    /// Last successful metadata fetch (unix ms), for URL-based set-ups.
    pub metadata_fetched_at: Option<i64>,
    /// Why the last metadata refresh failed (the last good copy stays in use).
    pub metadata_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateView {
    pub subject: String,
    /// RFC 3339.
    pub not_after: String,
    /// Days until `not_after` (negative once expired).
    pub expires_in_days: i64,
    pub sha256_fingerprint: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OidcView {
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub client_id: String,
    /// Always true: the secret is stored (encrypted) and never shown.
    pub client_secret_set: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProvisioningView {
    pub enabled: bool,
    /// SCIM base URL: Entra's Tenant URL, Okta's SCIM connector base URL.
    pub tenant_url: String,
    /// Entra's Tenant ID: the Integration ID.
    pub tenant_id: String,
    pub enabled_at: Option<i64>,
}

/// The SCIM credentials, returned once when provisioning is turned on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScimCredentials {
    pub tenant_url: String,
    pub tenant_id: String,
    /// The Secret/Bearer token. Shown only here; stored hashed.
    pub token: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> RuleError {
    RuleError::Invalid {
        field,
        message: message.into(),
    }
}

/// Size cap on pasted metadata and certificates, matching what a fetch may bring.
fn check_size(field: &'static str, value: &str, max: usize) -> RuleResult<()> {
    if value.len() > max {
        return Err(invalid(field, format!("is larger than {max} bytes")));
    }
    Ok(())
}

fn outbound_url(config: &Config, field: &'static str, raw: &str) -> RuleResult<String> {
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

fn certificate_view(b64: &str) -> Option<CertificateView> {
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

fn required(field: &'static str, value: Option<&str>) -> RuleResult<String> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(invalid(field, "is required")),
    }
}

/// Refuses fields that belong to another kind, by name.
fn refuse_foreign_fields(kind: Kind, input: &IntegrationInput) -> RuleResult<()> {
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

/// Resolves the SAML input into settings: fetches a metadata URL (through
/// the outbound policy), parses metadata XML, or takes the manual fields.
/// `None` when the input names no source (a change of name only).
async fn saml_settings(
    config: &Config,
    outbound: &Outbound,
    input: &IntegrationInput,
) -> RuleResult<Option<SamlSettings>> {
    let max = config.outbound.max_response_bytes;
    let manual =
        input.sso_url.is_some() || input.certificate_pem.is_some() || input.idp_entity_id.is_some();
    let given = [
        input.metadata_url.is_some(),
        input.metadata_xml.is_some(),
        manual,
    ];
    match given.iter().filter(|g| **g).count() {
        0 => return Ok(None),
        1 => {}
        _ => {
            return Err(invalid(
                "metadata_url",
                "give exactly one of metadata_url, metadata_xml, or sso_url + certificate_pem",
            ))
        }
    }
    if let Some(url) = &input.metadata_url {
        let url = outbound_url(config, "metadata_url", url)?;
        let idp = fetch_metadata(outbound, &url)
            .await
            .map_err(|message| invalid("metadata_url", message))?;
        return Ok(Some(SamlSettings {
            source: SamlSource::MetadataUrl { url },
            idp,
            metadata_fetched_at: Some(now_ms()),
            metadata_error: None,
        }));
    }
    if let Some(xml) = &input.metadata_xml {
        check_size("metadata_xml", xml, max)?;
        let idp = parse_idp_metadata(xml).map_err(|e| invalid("metadata_xml", e.to_string()))?;
        return Ok(Some(SamlSettings {
            source: SamlSource::MetadataXml,
            idp,
            metadata_fetched_at: None,
            metadata_error: None,
        }));
    }
    let sso_url = outbound_url(
        config,
        "sso_url",
        &required("sso_url", input.sso_url.as_deref())?,
    )?;
    let pem = required("certificate_pem", input.certificate_pem.as_deref())?;
    check_size("certificate_pem", &pem, max)?;
    Ok(Some(SamlSettings {
        source: SamlSource::Manual,
        idp: IdpDescriptor {
            entity_id: input
                .idp_entity_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            sso_url,
            certificates: parse_certificates(&pem)?,
        },
        metadata_fetched_at: None,
        metadata_error: None,
    }))
}

/// Fetches and reads IdP metadata; the error names what failed, for the admin.
pub async fn fetch_metadata(outbound: &Outbound, url: &str) -> Result<IdpDescriptor, String> {
    let body = outbound
        .get(url)
        .await
        .map_err(|e| format!("could not fetch the metadata: {e}"))?;
    let text = String::from_utf8(body).map_err(|_| "the metadata is not UTF-8 text".to_string())?;
    parse_idp_metadata(&text).map_err(|e| format!("{url} did not return usable metadata: {e}"))
}

fn validate_tenant(raw: &str) -> RuleResult<String> {
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

fn validate_client_secret(raw: &str) -> RuleResult<String> {
    if raw.is_empty() || raw.len() > 1024 {
        return Err(invalid("client_secret", "must be 1 to 1024 characters"));
    }
    Ok(raw.to_string())
}

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

/// Builds stored settings from input, on top of `current` for a change.
async fn build_settings(
    config: &Config,
    secrets: &SecretBox,
    outbound: &Outbound,
    kind: Kind,
    input: &IntegrationInput,
    current: Option<Settings>,
) -> RuleResult<Settings> {
    refuse_foreign_fields(kind, input)?;
    if kind.is_saml() {
        return match (saml_settings(config, outbound, input).await?, current) {
            (Some(settings), _) => Ok(Settings::Saml(settings)),
            (None, Some(Settings::Saml(kept))) => Ok(Settings::Saml(kept)),
            (None, _) => Err(invalid(
                "metadata_url",
                "give metadata_url, metadata_xml, or sso_url + certificate_pem",
            )),
        };
    }
    let current = match current {
        Some(Settings::Oidc(o)) => Some(o),
        _ => None,
    };
    let pick = |field: &'static str,
                given: Option<&String>,
                kept: Option<&String>|
     -> RuleResult<String> { required(field, given.or(kept).map(String::as_str)) };
    let client_id = pick(
        "client_id",
        input.client_id.as_ref(),
        current.as_ref().map(|c| &c.client_id),
    )?;
    let client_secret_sealed = match (&input.client_secret, &current) {
        (Some(secret), _) => secrets
            .seal(&validate_client_secret(secret)?)
            .map_err(|e| invalid("client_secret", e.to_string()))?,
        (None, Some(c)) => c.client_secret_sealed.clone(),
        (None, None) => return Err(invalid("client_secret", "is required")),
    };
    let (tenant, issuer) = match kind {
        Kind::Entra => {
            let tenant = pick(
                "tenant",
                input.tenant.as_ref(),
                current.as_ref().and_then(|c| c.tenant.as_ref()),
            )?;
            if !is_guid(client_id.trim()) {
                return Err(invalid(
                    "client_id",
                    "must be the Application (client) ID, a GUID",
                ));
            }
            (Some(validate_tenant(&tenant)?), None)
        }
        _ => {
            let issuer = pick(
                "issuer",
                input.issuer.as_ref(),
                current.as_ref().and_then(|c| c.issuer.as_ref()),
            )?;
            let issuer = outbound_url(config, "issuer", &issuer)?;
            (None, Some(issuer.trim_end_matches('/').to_string()))
        }
    };
    Ok(Settings::Oidc(OidcSettings {
        tenant,
        issuer,
        client_id,
        client_secret_sealed,
    }))
}

pub fn stored_settings(integration: &Integration) -> RuleResult<Settings> {
    serde_json::from_str(&integration.settings).map_err(|e| {
        RuleError::Store(crate::store::StoreError::Other(sqlx::Error::Decode(
            e.into(),
        )))
    })
}

/// Everything an admin sees of one integration.
pub fn view(config: &Config, integration: &Integration) -> RuleResult<IntegrationView> {
    let kind = kind_of(integration);
    let base = config.external_url(&format!(
        "/users/sign-in/sso/{}/{}",
        kind.as_str(),
        integration.id
    ));
    let settings = stored_settings(integration)?;
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
        created_at: integration.created_at,
        updated_at: integration.updated_at,
    })
}

pub fn scim_tenant_url(config: &Config, integration_id: &str) -> String {
    config.external_url(&format!("/scim/v2/{integration_id}"))
}

fn validated_name(kind: Kind, name: Option<&str>) -> RuleResult<String> {
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
        kind: kind.as_str().to_string(),
        name: validated_name(kind, input.name.as_deref())?,
        settings: serde_json::to_string(&settings).expect("settings serialize"),
        scim_token_hash: None,
        scim_enabled_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = store.write_tx().await?;
    match store.insert_integration(&mut tx, &integration).await {
        Err(crate::store::StoreError::Conflict) => {
            return Err(RuleError::Conflict(
                "an integration with this ID already exists".into(),
            ))
        }
        other => other?,
    }
    audit_success(
        store,
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
    let kind = kind_of(&current);
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
    let settings = serde_json::to_string(&settings).expect("settings serialize");
    let mut tx = store.write_tx().await?;
    if !store
        .update_integration(&mut tx, org_id, id, &name, &settings)
        .await?
    {
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
    ]
    .into_iter()
    .filter_map(|(f, given)| given.then_some(f))
    .collect();
    audit_success(
        store,
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
    let mut tx = store.write_tx().await?;
    if !store.delete_integration(&mut tx, org_id, id).await? {
        return Err(RuleError::NotFound("integration"));
    }
    audit_success(
        store,
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
    store
        .set_scim_token(&mut tx, org_id, id, Some(&token_hash(&token)))
        .await?;
    let kind = if current.scim_token_hash.is_some() {
        AuditKind::ProvisioningTokenRotated
    } else {
        AuditKind::ProvisioningEnabled
    };
    audit_success(store, &mut tx, org_id, kind, actor, Some(id), json!({})).await?;
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
    let mut tx = store.write_tx().await?;
    if !store.set_scim_token(&mut tx, org_id, id, None).await? {
        return Err(RuleError::NotFound("integration"));
    }
    audit_success(
        store,
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

/// Fetches again the metadata of every URL-connected SAML integration whose
/// copy is older than `saml.metadata_refresh_seconds`. A failure keeps the
/// last good copy and records why; a change of certificates is audited.
pub async fn refresh_due_metadata(state: &AppState) -> RuleResult<usize> {
    let interval_ms = state.config.saml.metadata_refresh_seconds as i64 * 1000;
    let mut refreshed = 0;
    for integration in state.store.integrations_of_kinds(&["okta", "saml"]).await? {
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
        let settings =
            serde_json::to_string(&Settings::Saml(saml.clone())).expect("settings serialize");
        state
            .store
            .replace_integration_settings(&integration.id, &settings)
            .await?;
        if saml.idp.certificates != certificates_before {
            let mut tx = state.store.write_tx().await?;
            let details = json!({ "certificates": saml.idp.certificates.len() });
            audit_success(
                &state.store,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::load(None).unwrap()
    }

    fn secret_box() -> (SecretBox, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let sb = SecretBox::load(&crate::config::SecretsConfig {
            encryption_key: String::new(),
            key_file: dir.path().join("k"),
        })
        .unwrap();
        (sb, dir)
    }

    #[test]
    fn okta_certificate_as_bare_base64_or_pem() {
        let pem = include_str!("../fixtures/certs/idp-cert.pem");
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

    #[tokio::test]
    async fn settings_are_validated_per_kind() {
        let c = config();
        let (sb, _dir) = secret_box();
        let outbound = Outbound::new(&c.outbound).unwrap();
        let input =
            |json: serde_json::Value| -> IntegrationInput { serde_json::from_value(json).unwrap() };
        let cert = include_str!("../fixtures/certs/idp-cert.pem");
        let entra = serde_json::json!({
            "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "client_id": "00000000-0000-0000-0000-000000000001",
            "client_secret": "s3cret",
        });
        let with = |extra: serde_json::Value| {
            let mut v = entra.clone();
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        let refusals = [
            (
                Kind::Okta,
                serde_json::json!({"metadata_url": "https://127.0.0.1/app/exk1/sso/saml/metadata"}),
                "private",
            ),
            (
                Kind::Okta,
                serde_json::json!({"metadata_url": "http://acme.okta.com/m"}),
                "https",
            ),
            (Kind::Okta, serde_json::json!({}), "metadata_url"),
            (
                Kind::Saml,
                serde_json::json!({"metadata_url": "https://a/m", "metadata_xml": "<x/>"}),
                "exactly one",
            ),
            (
                Kind::Saml,
                serde_json::json!({"metadata_xml": "<!DOCTYPE x><EntityDescriptor/>"}),
                "DOCTYPE",
            ),
            (
                Kind::Saml,
                serde_json::json!({"sso_url": "https://idp/sso"}),
                "certificate_pem",
            ),
            (
                Kind::Okta,
                serde_json::json!({"client_id": "x", "metadata_url": "https://a/m"}),
                "client_id",
            ),
            (
                Kind::Entra,
                with(serde_json::json!({"tenant": "not a tenant"})),
                "tenant",
            ),
            (
                Kind::Entra,
                with(serde_json::json!({"client_id": "abc"})),
                "client_id",
            ),
            (
                Kind::Entra,
                with(serde_json::json!({"issuer": "https://x"})),
                "issuer",
            ),
            (
                Kind::Oidc,
                serde_json::json!({"issuer": "https://id.example.com", "client_id": "c"}),
                "client_secret",
            ),
        ];
        for (kind, json, expected) in refusals {
            let err = build_settings(&c, &sb, &outbound, kind, &input(json.clone()), None)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }

        let manual = input(
            serde_json::json!({"sso_url": "https://idp.example.com/sso", "certificate_pem": cert}),
        );
        let Settings::Saml(saml) = build_settings(&c, &sb, &outbound, Kind::Saml, &manual, None)
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(saml.idp.sso_url, "https://idp.example.com/sso");
        assert_eq!(saml.idp.certificates.len(), 1);

        let Settings::Oidc(o) =
            build_settings(&c, &sb, &outbound, Kind::Entra, &input(entra.clone()), None)
                .await
                .unwrap()
        else {
            panic!()
        };
        assert_ne!(o.client_secret_sealed, "s3cret");
        assert_eq!(sb.open(&o.client_secret_sealed).unwrap(), "s3cret");
    }
}
