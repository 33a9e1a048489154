//! OpenID Connect sign-in for `entra` and `oidc` integrations: the
//! authorization code flow with PKCE (S256), state and nonce, through the
//! openidconnect crate. `id_token.rs` checks the ID token (issuer, audience,
//! times with the configured skew, nonce, asymmetric signature, Entra's
//! tenant) and turns it into the same [`Identity`] SAML produces;
//! `userinfo.rs` asks a generic provider's userinfo endpoint for what the ID
//! token left out (OIDC Core 5.4); `provider.rs` discovers providers and keys.

mod id_token;
pub mod provider;
mod userinfo;

use id_token::identity;
pub use id_token::{verify, Verification, VerifiedClaims};
use userinfo::userinfo;
pub use userinfo::{complete_from_userinfo, UserInfo};

use chrono::Utc;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    Scope, TokenResponse as _,
};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::config::Config;
use crate::outbound::Outbound;
use crate::provisioning::idp_groups::{self, GroupSettings};
use crate::secrets::SecretBox;
use crate::signin::pending::{self, Mismatch};
use crate::signin::{Identity, Refusal, RefusalCode, Started};
use crate::store::Integration;
use provider::{Expected, Provider, Providers};

/// OpenID Connect sign-in and what it works with: the discovered providers,
/// HTTP under the outbound policy, the key that opens client secrets, and
/// the shared cache that holds pending sign-ins.
#[derive(Clone)]
pub struct Oidc {
    config: Arc<Config>,
    providers: Providers,
    outbound: Outbound,
    secrets: SecretBox,
    cache: Cache,
}

impl Oidc {
    pub fn new(config: Arc<Config>, outbound: Outbound, secrets: SecretBox, cache: Cache) -> Self {
        Oidc {
            providers: Providers::new(&config),
            config,
            outbound,
            secrets,
            cache,
        }
    }
}

/// Kept between the redirect to the provider and its callback, beside the
/// browser binding and `return_to`.
#[derive(Serialize, Deserialize)]
struct PendingSecrets {
    nonce: String,
    pkce_verifier: String,
}

fn state_key(state: &str) -> String {
    format!("oidc:state:{}", pending::sha256_hex(state))
}

/// An `entra` or `oidc` integration's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcSettings {
    /// Entra only; the issuer is derived from it and `entra.authority`.
    pub tenant: Option<String>,
    /// Generic OIDC only.
    pub issuer: Option<String>,
    pub client_id: String,
    /// Sealed with the configured key (see `secrets`).
    pub client_secret_sealed: String,
    #[serde(flatten)]
    pub groups: GroupSettings,
}

impl OidcSettings {
    /// The provider this integration trusts.
    pub fn expected(&self) -> Expected {
        match (&self.tenant, &self.issuer) {
            (Some(tenant), _) => Expected::EntraTenant(tenant.clone()),
            (None, issuer) => Expected::Issuer(issuer.clone().unwrap_or_default()),
        }
    }
}

async fn provider(oidc: &Oidc, expected: &Expected) -> Result<std::sync::Arc<Provider>, Refusal> {
    oidc.providers
        .get(&oidc.config, &oidc.outbound, expected)
        .await
        .map_err(|e| Refusal::new(RefusalCode::DiscoveryFailed, e.to_string()))
}

/// Where to send the browser so the provider ends its own session too
/// (RP-Initiated Logout 1.0), if it publishes an end-session endpoint. No
/// post_logout_redirect_uri: a provider accepts only registered ones, and
/// the set-up guides register the callback alone.
pub async fn end_session_url(
    oidc: &Oidc,
    settings: &OidcSettings,
) -> Result<Option<String>, Refusal> {
    let provider = provider(oidc, &settings.expected()).await?;
    let Some(endpoint) = provider.end_session_endpoint.as_deref() else {
        return Ok(None);
    };
    let mut url = url::Url::parse(endpoint).map_err(|e| {
        Refusal::new(
            RefusalCode::DiscoveryFailed,
            format!("end_session_endpoint: {e}"),
        )
    })?;
    url.query_pairs_mut()
        .append_pair("client_id", &settings.client_id);
    Ok(Some(url.to_string()))
}

fn client(
    provider: &Provider,
    settings: &OidcSettings,
    secret: Option<String>,
    redirect_uri: &str,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    Refusal,
> {
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|e| Refusal::new(RefusalCode::NotConfigured, format!("redirect URI: {e}")))?;
    // client_secret_basic is the default; use the form body when that is
    // all the provider says it takes.
    let post_only = provider
        .metadata
        .token_endpoint_auth_methods_supported()
        .is_some_and(|methods| {
            let names: Vec<String> = methods
                .iter()
                .filter_map(|m| serde_json::to_value(m).ok())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            names.iter().any(|n| n == "client_secret_post")
                && !names.iter().any(|n| n == "client_secret_basic")
        });
    let client = CoreClient::from_provider_metadata(
        provider.metadata.clone(),
        ClientId::new(settings.client_id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(redirect);
    Ok(if post_only {
        client.set_auth_type(AuthType::RequestBody)
    } else {
        client
    })
}

/// Where to send the browser to sign in, and the browser cookie to set.
pub async fn start(
    oidc: &Oidc,
    integration: &Integration,
    settings: &OidcSettings,
    redirect_uri: &str,
    return_to: Option<&str>,
    browser: Option<&str>,
) -> Result<Started, Refusal> {
    let provider = provider(oidc, &settings.expected()).await?;
    let client = client(&provider, settings, None, redirect_uri)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let csrf_state = pending::random_token();
    let nonce = pending::random_token();
    let (url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            {
                let csrf_state = csrf_state.clone();
                move || CsrfToken::new(csrf_state)
            },
            {
                let nonce = nonce.clone();
                move || Nonce::new(nonce)
            },
        )
        .add_scope(Scope::new("email".to_string()))
        .add_scope(Scope::new("profile".to_string()))
        .set_pkce_challenge(challenge)
        .url();
    let secrets = PendingSecrets {
        nonce,
        pkce_verifier: verifier.secret().clone(),
    };
    let (browser, _) = pending::remember(
        &oidc.cache,
        &state_key(&csrf_state),
        integration,
        return_to,
        browser,
        secrets,
    )
    .await?;
    Ok(Started {
        redirect_url: url.to_string(),
        browser,
    })
}

/// The query string the provider sends the browser back with.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// At most this much of what a provider says goes into pages and the audit log.
pub(super) fn clipped(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// The callback: matches it to the sign-in we started in this browser
/// (consuming it), redeems the code with the PKCE verifier, verifies the ID
/// token, and says who signed in and where to send them.
pub async fn finish(
    oidc: &Oidc,
    integration: &Integration,
    settings: &OidcSettings,
    redirect_uri: &str,
    callback: Callback,
    browser: Option<&str>,
) -> Result<(Identity, Option<String>), Refusal> {
    let Some(csrf_state) = callback.state.as_deref().filter(|s| !s.is_empty()) else {
        return Err(Refusal::new(
            RefusalCode::StateMissing,
            "the provider's answer carries no state, so it cannot be matched to a sign-in we started",
        ));
    };
    let (return_to, secrets) = match pending::recall::<PendingSecrets>(
        &oidc.cache,
        &state_key(csrf_state),
        integration,
        browser,
    )
    .await
    {
        Ok(found) => found,
        Err(Err(unavailable)) => return Err(unavailable),
        Err(Ok(Mismatch::Unknown | Mismatch::OtherIntegration)) => {
            return Err(Refusal::new(
                RefusalCode::StateUnknown,
                "the answer does not match a sign-in we started here, or that sign-in was already finished or expired",
            ))
        }
        Err(Ok(Mismatch::OtherBrowser)) => {
            return Err(Refusal::new(
                RefusalCode::BrowserMismatch,
                "the sign-in was started in another browser (or its cookie was lost)",
            ))
        }
    };
    if let Some(error) = &callback.error {
        let description = callback.error_description.as_deref().unwrap_or("");
        return Err(Refusal::new(
            RefusalCode::ProviderError,
            format!(
                "the identity provider answered {}: {}",
                clipped(error),
                clipped(description)
            ),
        ));
    }
    let Some(code) = callback.code.filter(|c| !c.is_empty()) else {
        return Err(Refusal::new(
            RefusalCode::CodeMissing,
            "the provider's answer carries no authorization code",
        ));
    };
    let secret = oidc
        .secrets
        .open(&settings.client_secret_sealed)
        .map_err(|e| {
            Refusal::new(
                RefusalCode::NotConfigured,
                format!("the client secret cannot be decrypted ({e}); was secrets.encryption_key changed? Enter the secret again"),
            )
        })?;
    let expected = settings.expected();
    let provider = provider(oidc, &expected).await?;
    let (raw_id_token, access_token) = redeem(
        oidc,
        &provider,
        settings,
        secret,
        redirect_uri,
        code,
        secrets.pkce_verifier,
    )
    .await?;
    let skew = chrono::Duration::seconds(oidc.config.oidc.clock_skew_seconds as i64);
    let claims = match verify(
        &provider,
        settings,
        &raw_id_token,
        &secrets.nonce,
        Utc::now(),
        skew,
    ) {
        Err(Verification::UnknownKey(_)) => {
            match oidc
                .providers
                .refresh_keys(&oidc.outbound, &expected, &provider)
                .await
            {
                Ok(Some(fresh)) => verify(
                    &fresh,
                    settings,
                    &raw_id_token,
                    &secrets.nonce,
                    Utc::now(),
                    skew,
                ),
                Ok(None) => verify(
                    &provider,
                    settings,
                    &raw_id_token,
                    &secrets.nonce,
                    Utc::now(),
                    skew,
                ),
                Err(e) => return Err(Refusal::new(RefusalCode::DiscoveryFailed, e.to_string())),
            }
        }
        other => other,
    }
    .map_err(Verification::into_failure)?;
    let groups_claim = settings.groups.groups_attribute.as_deref();
    let groups_claim = groups_claim.unwrap_or(idp_groups::DEFAULT_OIDC_GROUPS_CLAIM);
    let mut identity = identity(&provider, &claims, groups_claim)?;
    if identity.email.is_none() && provider.entra_tenant_id.is_none() {
        if let Some(endpoint) = provider.metadata.userinfo_endpoint() {
            let info = userinfo(oidc, endpoint.as_str(), &access_token).await?;
            complete_from_userinfo(&mut identity, &claims, info, groups_claim)?;
        }
    }
    Ok((identity, return_to))
}

/// Redeems the authorization code at the token endpoint; returns the raw ID
/// token and the access token.
async fn redeem(
    oidc: &Oidc,
    provider: &Provider,
    settings: &OidcSettings,
    secret: String,
    redirect_uri: &str,
    code: String,
    pkce_verifier: String,
) -> Result<(String, String), Refusal> {
    let unreachable = |detail: String| Refusal::new(RefusalCode::ProviderUnreachable, detail);
    let client = client(provider, settings, Some(secret), redirect_uri)?;
    let request = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| {
            Refusal::new(
                RefusalCode::NotConfigured,
                "the provider's discovery document names no token endpoint",
            )
        })?;
    if let Some(url) = provider.metadata.token_endpoint() {
        oidc.outbound
            .check(url.as_str())
            .map_err(|e| unreachable(e.to_string()))?;
    }
    let response = request
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
        .request_async(oidc.outbound.no_redirect_client())
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(refusal) => Refusal::new(
                RefusalCode::CodeRefused,
                format!(
                    "the provider refused the authorization code: {}{}",
                    clipped(refusal.error().as_ref()),
                    refusal
                        .error_description()
                        .map(|d| format!(" ({})", clipped(d)))
                        .unwrap_or_default()
                ),
            ),
            RequestTokenError::Request(openidconnect::HttpClientError::Reqwest(e)) => {
                let url = provider
                    .metadata
                    .token_endpoint()
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                unreachable(format!(
                    "token endpoint: {}",
                    oidc.outbound.describe(&url, *e)
                ))
            }
            RequestTokenError::Request(e) => unreachable(format!("token endpoint: {e}")),
            RequestTokenError::Parse(e, _) => Refusal::new(
                RefusalCode::TokenUnreadable,
                format!("the token endpoint's answer is not a token response: {e}"),
            ),
            RequestTokenError::Other(e) => unreachable(format!("token endpoint: {}", clipped(&e))),
        })?;
    let id_token = response.id_token().map(|t| t.to_string()).ok_or_else(|| {
        Refusal::new(
            RefusalCode::NoIdToken,
            "the token endpoint returned no ID token",
        )
    })?;
    Ok((id_token, response.access_token().secret().clone()))
}
