//! `POST /oauth2/token` (authorization_code grant only) and the access
//! tokens `/oauth2/userinfo` accepts.
//!
//! A code is taken from the cache and deleted in one step, so of two
//! exchanges exactly one succeeds. The code is remembered as used for as
//! long as the access token it bought lives: presented again, it revokes
//! that token (RFC 6749 §4.1.2: the code was stolen, or the client is broken).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::authorize::{code_key, random_value, Grant};
use super::claims::{id_token_claims, IdTokenContext, Person};
use super::clients::secret_matches;
use super::params::Params;
use super::{issuer, OpError, Services};
use crate::provisioning::vouches_for;
use crate::store::StoredClient;

/// RFC 6749 §5.2, plus the failure of a part we depend on.
#[derive(Debug)]
pub enum TokenError {
    InvalidRequest(String),
    /// Answered 401; `basic`: the client tried HTTP Basic, so the answer
    /// carries a `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2).
    InvalidClient {
        description: String,
        basic: bool,
    },
    InvalidGrant(String),
    UnsupportedGrantType(String),
    Unavailable(OpError),
}

impl<E: Into<OpError>> From<E> for TokenError {
    fn from(e: E) -> Self {
        TokenError::Unavailable(e.into())
    }
}

impl TokenError {
    /// The `error` code of the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidClient { .. } => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnsupportedGrantType(_) => "unsupported_grant_type",
            TokenError::Unavailable(_) => "temporarily_unavailable",
        }
    }

    pub fn description(&self) -> String {
        match self {
            TokenError::InvalidRequest(d)
            | TokenError::InvalidClient { description: d, .. }
            | TokenError::InvalidGrant(d)
            | TokenError::UnsupportedGrantType(d) => d.clone(),
            TokenError::Unavailable(_) => "try again in a moment".into(),
        }
    }
}

/// The token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub id_token: String,
    pub scope: String,
}

/// What an access token stands for, in the cache under its SHA-256.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessGrant {
    pub client_id: String,
    pub user_id: String,
    pub org_id: String,
}

fn access_key(token: &str) -> String {
    format!("op:at:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// Where a used code remembers the access token it bought.
fn used_key(code_key: &str) -> String {
    format!("op:used:{code_key}")
}

fn invalid_client(description: &str, basic: bool) -> TokenError {
    TokenError::InvalidClient {
        description: description.into(),
        basic,
    }
}

/// `client_id:client_secret` of an `Authorization: Basic` header, each
/// form-urlencoded first (RFC 6749 §2.3.1).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// The client this request authenticates as (RFC 6749 §2.3, one method).
async fn authenticate(
    services: Services<'_>,
    params: &Params,
    authorization: Option<&str>,
) -> Result<Arc<StoredClient>, TokenError> {
    let basic = match authorization {
        Some(header) => Some(basic_credentials(header).ok_or_else(|| {
            invalid_client(
                "the Authorization header is not Basic client_id:client_secret",
                true,
            )
        })?),
        None => None,
    };
    if basic.is_some() && params.get("client_secret").is_some() {
        return Err(TokenError::InvalidRequest(
            "use one client authentication method, not both Basic and client_secret".into(),
        ));
    }
    let is_basic = basic.is_some();
    let (client_id, secret) = match &basic {
        Some((id, secret)) => (Some(id.as_str()), Some(secret.as_str())),
        None => (params.get("client_id"), params.get("client_secret")),
    };
    let Some(client_id) = client_id else {
        return Err(invalid_client(
            "client authentication is missing: send client_secret_basic, client_secret_post, \
             or client_id with PKCE for a public client",
            is_basic,
        ));
    };
    if is_basic && params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(TokenError::InvalidRequest(
            "client_id in the body is not the authenticated client".into(),
        ));
    }
    let Some(client) = services.client(client_id).await? else {
        return Err(invalid_client("unknown client", is_basic));
    };
    match (client.client.public, secret) {
        (true, None) => Ok(client),
        (true, Some(_)) => Err(invalid_client(
            "this is a public client: it has no secret",
            is_basic,
        )),
        (false, None) => Err(invalid_client(
            "this client must authenticate with its secret",
            is_basic,
        )),
        (false, Some(secret)) if secret_matches(&client, secret) => Ok(client),
        (false, Some(_)) => Err(invalid_client("the client secret is wrong", is_basic)),
    }
}

/// Whether `verifier` (RFC 7636 §4.1: 43–128 unreserved characters) hashes
/// to `challenge`.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// A presented code that is no longer there: if it was used, the access
/// token it bought is revoked.
async fn refuse_reused(services: Services<'_>, key: &str) -> TokenError {
    match services.cache.take(&used_key(key)).await {
        Ok(Some(access)) => {
            if let Err(e) = services.cache.delete(&access).await {
                return TokenError::Unavailable(e.into());
            }
            TokenError::InvalidGrant(
                "the code was already used; the token it was exchanged for is revoked".into(),
            )
        }
        Ok(None) => TokenError::InvalidGrant("the code is unknown, expired or already used".into()),
        Err(e) => TokenError::Unavailable(e.into()),
    }
}

/// Exchanges an authorization code. `body` is the form as received;
/// `authorization` the request's Authorization header.
pub async fn exchange(
    services: Services<'_>,
    body: &str,
    authorization: Option<&str>,
) -> Result<Tokens, TokenError> {
    let params = Params::parse(body);
    if let Some(name) = params.first_repeated() {
        return Err(TokenError::InvalidRequest(format!(
            "{name} is sent more than once"
        )));
    }
    let client = authenticate(services, &params, authorization).await?;
    match params.get("grant_type") {
        Some("authorization_code") => {}
        None => return Err(TokenError::InvalidRequest("grant_type is missing".into())),
        Some(other) => {
            return Err(TokenError::UnsupportedGrantType(format!(
                "only authorization_code is supported, not {other:?}"
            )))
        }
    }
    let code = params
        .get("code")
        .ok_or_else(|| TokenError::InvalidRequest("code is missing".into()))?;
    let key = code_key(code);
    let Some(stored) = services.cache.take(&key).await? else {
        return Err(refuse_reused(services, &key).await);
    };
    // Taken, so used up whatever follows: a code is good for one try.
    let grant: Grant = serde_json::from_str(&stored)
        .map_err(|_| TokenError::InvalidGrant("the code is unreadable".into()))?;
    if grant.client_id != client.client.id {
        return Err(TokenError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(TokenError::InvalidGrant(
            "redirect_uri is not the one of the authorization request".into(),
        ));
    }
    match (&grant.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(TokenError::InvalidGrant(
                "code_verifier does not match the code_challenge".into(),
            ))
        }
        (Some(_), None) => return Err(TokenError::InvalidGrant("code_verifier is missing".into())),
        // A verifier for a code issued without a challenge is a downgrade
        // attempt (RFC 9700 §4.8.2).
        (None, Some(_)) => {
            return Err(TokenError::InvalidGrant(
                "code_verifier sent for a code issued without code_challenge".into(),
            ))
        }
        (None, None) => {}
    }
    issue(services, grant, &key).await
}

/// Signs the ID token and stores the access token; `code_key` remembers it.
async fn issue(services: Services<'_>, grant: Grant, code_key: &str) -> Result<Tokens, TokenError> {
    let config = &services.config.op;
    let now = chrono::Utc::now().timestamp();
    let id_token = services
        .provider
        .keys
        .sign(id_token_claims(
            &grant.person,
            &IdTokenContext {
                issuer: &issuer(services.config),
                audience: &grant.client_id,
                nonce: grant.nonce.as_deref(),
                auth_time: grant.auth_time,
                issued_at: now,
                lifetime_seconds: config.id_token_seconds as i64,
            },
        ))
        .await?;
    let access_token = random_value();
    let access = access_key(&access_token);
    let lifetime = Duration::from_secs(config.access_token_seconds);
    let record = AccessGrant {
        client_id: grant.client_id,
        user_id: grant.person.sub,
        org_id: grant.person.org_id,
    };
    services
        .cache
        .put(&access, &serde_json::to_string(&record)?, lifetime)
        .await?;
    services
        .cache
        .put(&used_key(code_key), &access, lifetime)
        .await?;
    Ok(Tokens {
        access_token,
        token_type: "Bearer",
        expires_in: config.access_token_seconds,
        id_token,
        scope: grant.scope,
    })
}

/// Why `/oauth2/userinfo` answers 401 (RFC 6750 §3.1) or cannot answer.
#[derive(Debug)]
pub enum UserinfoError {
    /// No bearer token at all.
    Missing,
    /// `invalid_token`: unknown, expired or revoked; or its person or
    /// client is gone.
    Invalid(&'static str),
    Unavailable(OpError),
}

impl<E: Into<OpError>> From<E> for UserinfoError {
    fn from(e: E) -> Self {
        UserinfoError::Unavailable(e.into())
    }
}

/// The person an access token was issued for, read fresh: someone
/// deprovisioned since is not described any more.
pub async fn userinfo(
    services: Services<'_>,
    access_token: Option<&str>,
) -> Result<Person, UserinfoError> {
    let token = access_token.ok_or(UserinfoError::Missing)?;
    let Some(stored) = services.cache.get(&access_key(token)).await? else {
        return Err(UserinfoError::Invalid(
            "the access token is unknown, expired or revoked",
        ));
    };
    let grant: AccessGrant = serde_json::from_str(&stored)
        .map_err(|_| UserinfoError::Invalid("the access token is unreadable"))?;
    if services.client(&grant.client_id).await?.is_none() {
        return Err(UserinfoError::Invalid(
            "the client of this token was deleted",
        ));
    }
    let member = services.store.member(&grant.org_id, &grant.user_id).await?;
    let org = services.organization(&grant.org_id).await?;
    match (member, org) {
        (Some(member), Some(org)) => {
            let verified = vouches_for(services.store, &org.id, &member.email).await?;
            Ok(Person::of(member, &org, verified))
        }
        _ => Err(UserinfoError::Invalid(
            "the person is no longer a member of the organization",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_is_checked_as_rfc_7636_computes_it() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(&verifier.replace('d', "e"), challenge));
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(&format!("{verifier} "), challenge));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%3Aclient:s%2Be+cret"));
        assert_eq!(
            basic_credentials(&header),
            Some(("my:client".to_string(), "s+e cret".to_string()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(
            basic_credentials(&format!("Basic {}", STANDARD.encode("nocolon"))),
            None
        );
    }
}
