//! OpenID Connect sign-in for `entra` and `oidc` integrations: the
//! authorization code flow with PKCE (S256), state and nonce, through the
//! openidconnect crate; the ID token is checked here (issuer, audience,
//! times with the configured skew, nonce, asymmetric signature, Entra's
//! tenant) and turned into the same [`Identity`] SAML produces. A generic
//! provider that keeps email and profile out of the ID token (OIDC Core 5.4:
//! scope claims belong at the userinfo endpoint when an access token is
//! issued) is asked at its userinfo endpoint, and must name the same `sub`.

pub mod provider;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IdToken, IdTokenClaims, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse as _,
};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::config::Config;
use crate::outbound::{FetchError, Outbound};
use crate::secrets::SecretBox;
use crate::signin::pending::{self, Mismatch};
use crate::signin::{Identity, Refusal, RefusalCode, Started};
use crate::store::{Integration, UserProfile};
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

/// Claims beyond the standard ones that we read: Entra's tenant and object
/// ids and UPN, and `nbf`, which openidconnect does not check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderClaims {
    tid: Option<String>,
    oid: Option<String>,
    upn: Option<String>,
    nbf: Option<i64>,
}
impl AdditionalClaims for ProviderClaims {}

type ProviderIdToken = IdToken<
    ProviderClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type VerifiedClaims = IdTokenClaims<ProviderClaims, CoreGenderClaim>;

/// Asymmetric algorithms only: `none` is never accepted, and an HMAC
/// algorithm would let anyone holding the provider's *public* key (or the
/// client secret) mint tokens.
const ALLOWED_ALGORITHMS: [CoreJwsSigningAlgorithm; 8] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

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
fn clipped(text: &str) -> String {
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
    let mut identity = identity(&provider, &claims)?;
    if identity.email.is_none() && provider.entra_tenant_id.is_none() {
        if let Some(endpoint) = provider.metadata.userinfo_endpoint() {
            let info = userinfo(oidc, endpoint.as_str(), &access_token).await?;
            complete_from_userinfo(&mut identity, &claims, info)?;
        }
    }
    Ok((identity, return_to))
}

/// What we read from a userinfo answer (OIDC Core 5.3.2).
#[derive(Debug, Default, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    sub: String,
    email: Option<String>,
    /// A boolean by the spec; some providers send "true"/"false".
    email_verified: Option<serde_json::Value>,
    given_name: Option<String>,
    family_name: Option<String>,
    name: Option<String>,
}

/// At most this much of a userinfo answer is read.
const USERINFO_LIMIT: usize = 64 * 1024;

/// GETs the userinfo endpoint with the access token (redirects are not
/// followed: they would carry the token elsewhere).
async fn userinfo(oidc: &Oidc, url: &str, access_token: &str) -> Result<UserInfo, Refusal> {
    let (content_type, body) = oidc
        .outbound
        .get_with_bearer(url, access_token, USERINFO_LIMIT)
        .await
        .map_err(|e| match e {
            FetchError::TooLarge { .. } => {
                Refusal::new(RefusalCode::UserinfoUnreadable, e.to_string())
            }
            other => Refusal::new(
                RefusalCode::ProviderUnreachable,
                format!("userinfo endpoint: {other}"),
            ),
        })?;
    let unreadable = |detail: String| Refusal::new(RefusalCode::UserinfoUnreadable, detail);
    if content_type.starts_with("application/jwt") {
        return Err(unreadable(
            "the userinfo endpoint answered with a signed JWT; only plain JSON userinfo is supported"
                .into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| {
        unreadable(format!(
            "the userinfo answer is not a JSON object of claims: {e}"
        ))
    })
}

/// Fills what the ID token left out from a userinfo answer about the same
/// person: its `sub` must equal the ID token's, or it is ignored with a refusal.
pub fn complete_from_userinfo(
    identity: &mut Identity,
    claims: &VerifiedClaims,
    info: UserInfo,
) -> Result<(), Refusal> {
    if info.sub != claims.subject().as_str() {
        return Err(Refusal::new(
            RefusalCode::UserinfoMismatch,
            format!(
                "the userinfo endpoint describes subject {:?}, the ID token {:?}",
                clipped(&info.sub),
                clipped(claims.subject().as_str())
            ),
        ));
    }
    let unverified = match &info.email_verified {
        Some(serde_json::Value::Bool(b)) => !b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("false"),
        _ => false,
    };
    if unverified && info.email.is_some() {
        return Err(Refusal::new(
            RefusalCode::EmailUnverified,
            "the identity provider says this email address is not verified",
        ));
    }
    identity.email = info.email;
    let profile = &mut identity.profile;
    profile.given_name = profile.given_name.take().or(info.given_name);
    profile.family_name = profile.family_name.take().or(info.family_name);
    profile.display_name = profile.display_name.take().or(info.name);
    Ok(())
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

/// Why an ID token was refused.
#[derive(Debug)]
pub enum Verification {
    /// Signed by a key the provider does not (yet) publish: worth re-fetching keys.
    UnknownKey(String),
    Refused {
        code: RefusalCode,
        detail: String,
    },
}

impl Verification {
    fn refused(code: RefusalCode, detail: impl Into<String>) -> Self {
        Verification::Refused {
            code,
            detail: detail.into(),
        }
    }

    fn into_failure(self) -> Refusal {
        match self {
            Verification::UnknownKey(detail) => Refusal::new(RefusalCode::BadSignature, detail),
            Verification::Refused { code, detail } => Refusal::new(code, detail),
        }
    }
}

/// Every check on the ID token. Pure, so each can be tested with a crafted token.
pub fn verify(
    provider: &Provider,
    settings: &OidcSettings,
    raw: &str,
    nonce: &str,
    now: DateTime<Utc>,
    skew: chrono::Duration,
) -> Result<VerifiedClaims, Verification> {
    let token: ProviderIdToken = raw.parse().map_err(|e| {
        Verification::refused(
            RefusalCode::TokenUnreadable,
            format!("the ID token is not a JWT: {e}"),
        )
    })?;
    let max_age = chrono::Duration::from_std(pending::LIFETIME).unwrap_or_default() + skew;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(settings.client_id.clone()),
        provider.metadata.issuer().clone(),
        provider.metadata.jwks().clone(),
    )
    .set_allowed_algs(ALLOWED_ALGORITHMS)
    // exp is checked against "now", so moving now back by the skew tolerates
    // a provider whose clock runs behind.
    .set_time_fn(move || now - skew)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + skew {
            Err(format!("issued in the future ({iat})"))
        } else if iat < now - max_age {
            Err(format!(
                "issued too long ago ({iat}) to answer this sign-in"
            ))
        } else {
            Ok(())
        }
    });
    let claims = token
        .into_claims(&verifier, &Nonce::new(nonce.to_string()))
        .map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ) => Verification::UnknownKey(
                "the ID token is signed by a key the provider does not publish".into(),
            ),
            ClaimsVerificationError::SignatureVerification(e) => Verification::refused(
                RefusalCode::BadSignature,
                format!("the ID token's signature is not acceptable: {e}"),
            ),
            ClaimsVerificationError::InvalidIssuer(e) => Verification::refused(
                RefusalCode::WrongIssuer,
                format!("the ID token's issuer is wrong: {e}"),
            ),
            ClaimsVerificationError::InvalidAudience(e) => Verification::refused(
                RefusalCode::WrongAudience,
                format!("the ID token is not for this application: {e}"),
            ),
            ClaimsVerificationError::Expired(e) => Verification::refused(
                RefusalCode::Expired,
                format!("the ID token is expired or not current: {e}"),
            ),
            ClaimsVerificationError::InvalidNonce(e) => Verification::refused(
                RefusalCode::NonceMismatch,
                format!("the ID token does not answer this sign-in (nonce): {e}"),
            ),
            other => Verification::refused(
                RefusalCode::TokenRefused,
                format!("the ID token is not acceptable: {other}"),
            ),
        })?;
    if let Some(nbf) = claims.additional_claims().nbf {
        if nbf > (now + skew).timestamp() {
            return Err(Verification::refused(
                RefusalCode::NotYetValid,
                format!("the ID token is not valid before {nbf}"),
            ));
        }
    }
    if let Some(tenant_id) = &provider.entra_tenant_id {
        let tid = claims.additional_claims().tid.as_deref().unwrap_or("");
        if !tid.eq_ignore_ascii_case(tenant_id) {
            return Err(Verification::refused(
                RefusalCode::WrongTenant,
                format!("the ID token is from tenant {tid:?}, expected {tenant_id}"),
            ));
        }
    }
    Ok(claims)
}

/// Who the verified token vouches for. Entra keys people by tenant + object
/// id (its `sub` is per application); others by issuer + subject.
fn identity(provider: &Provider, claims: &VerifiedClaims) -> Result<Identity, Refusal> {
    let extra = claims.additional_claims();
    let subject = match &provider.entra_tenant_id {
        Some(tenant_id) => {
            let oid = extra
                .oid
                .as_deref()
                .filter(|o| !o.is_empty())
                .ok_or_else(|| {
                    Refusal::new(
                        RefusalCode::NoSubject,
                        "the Entra ID token carries no oid (object id)",
                    )
                })?;
            format!("entra:{tenant_id}:{oid}")
        }
        None => format!("{} {}", claims.issuer().as_str(), claims.subject().as_str()),
    };
    if claims.email_verified() == Some(false) && provider.entra_tenant_id.is_none() {
        return Err(Refusal::new(
            RefusalCode::EmailUnverified,
            "the identity provider says this email address is not verified",
        ));
    }
    // Entra's `email` is optional and admin-editable; its preferred_username
    // and upn are the sign-in name, usually the address. Either way the
    // provider only vouches inside its own organization.
    let email = claims.email().map(|e| e.as_str().to_string()).or_else(|| {
        provider.entra_tenant_id.as_ref().and_then(|_| {
            claims
                .preferred_username()
                .map(|p| p.as_str().to_string())
                .filter(|p| p.contains('@'))
                .or_else(|| extra.upn.clone())
        })
    });
    Ok(Identity {
        subject,
        email,
        profile: UserProfile {
            given_name: claims
                .given_name()
                .and_then(|c| c.get(None))
                .map(|v| (**v).clone()),
            family_name: claims
                .family_name()
                .and_then(|c| c.get(None))
                .map(|v| (**v).clone()),
            display_name: claims
                .name()
                .and_then(|c| c.get(None))
                .map(|v| (**v).clone()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::{Audience, IssuerUrl, StandardClaims, SubjectIdentifier};

    fn claims(sub: &str) -> VerifiedClaims {
        let now = Utc::now();
        IdTokenClaims::new(
            IssuerUrl::new("https://id.example.com".into()).unwrap(),
            vec![Audience::new("app".into())],
            now + chrono::Duration::minutes(5),
            now,
            StandardClaims::new(SubjectIdentifier::new(sub.into())),
            ProviderClaims::default(),
        )
    }

    fn answer(json: serde_json::Value) -> UserInfo {
        serde_json::from_value(json).unwrap()
    }

    fn nobody() -> Identity {
        Identity {
            subject: "https://id.example.com 248289761001".into(),
            email: None,
            profile: UserProfile::default(),
        }
    }

    #[test]
    fn userinfo_fills_in_what_the_id_token_left_out() {
        let mut identity = nobody();
        let info = answer(
            serde_json::json!({"sub": "248289761001", "email": "jane@example.com",
            "email_verified": "true", "given_name": "Jane"}),
        );
        complete_from_userinfo(&mut identity, &claims("248289761001"), info).unwrap();
        assert_eq!(identity.email.as_deref(), Some("jane@example.com"));
        assert_eq!(identity.profile.given_name.as_deref(), Some("Jane"));
    }

    #[test]
    fn userinfo_about_someone_else_or_unverified_is_refused() {
        let other = answer(serde_json::json!({"sub": "someone-else", "email": "boss@example.com"}));
        let refused = complete_from_userinfo(&mut nobody(), &claims("248289761001"), other);
        assert_eq!(refused.unwrap_err().code.as_str(), "userinfo_mismatch");
        let missing = answer(serde_json::json!({"email": "boss@example.com"}));
        let refused = complete_from_userinfo(&mut nobody(), &claims("248289761001"), missing);
        assert_eq!(refused.unwrap_err().code.as_str(), "userinfo_mismatch");
        for flag in [serde_json::json!(false), serde_json::json!("False")] {
            let info = answer(
                serde_json::json!({"sub": "248289761001", "email": "jane@example.com", "email_verified": flag}),
            );
            let refused = complete_from_userinfo(&mut nobody(), &claims("248289761001"), info);
            assert_eq!(refused.unwrap_err().code.as_str(), "email_unverified");
        }
    }
}
