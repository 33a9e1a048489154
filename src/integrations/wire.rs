//! What the admin API and UI send and get back: the one input shape for
//! every kind, and the views (everything to copy into the IdP, no secret).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Kind;
use crate::provisioning::RoleMapping;

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
    /// okta/saml: sign AuthnRequests even if the IdP metadata does not ask
    /// (`WantAuthnRequestsSigned`); kept when not given.
    pub sign_requests: Option<bool>,
    /// okta/saml: refuse assertions the IdP did not encrypt; kept when not given.
    pub require_encrypted_assertions: Option<bool>,
    /// entra: the directory (tenant) id or a verified domain.
    pub tenant: Option<String>,
    /// entra/oidc.
    pub client_id: Option<String>,
    /// entra/oidc: stored encrypted, never shown again.
    pub client_secret: Option<String>,
    /// oidc: the issuer whose `/.well-known/openid-configuration` describes it.
    pub issuer: Option<String>,
    /// The SAML attribute (Name, exactly) or OIDC claim listing the person's
    /// groups; blank for the default (`groups`, and Entra's claim URIs).
    pub groups_attribute: Option<String>,
    /// `{"owner": [groups…], "admin": [groups…]}`: the role of a member in
    /// one of those groups (highest wins).
    #[schema(value_type = Option<RoleMapping>)]
    pub role_mapping: Option<serde_json::Value>,
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
    /// The attribute / claim read for groups; `null`: the default.
    pub groups_attribute: Option<String>,
    pub role_mapping: RoleMapping,
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
    /// Whether AuthnRequests are signed: the integration's `sign_requests`
    /// or the IdP metadata's `WantAuthnRequestsSigned`.
    pub sign_requests: bool,
    pub want_authn_requests_signed: bool,
    pub require_encrypted_assertions: bool,
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
