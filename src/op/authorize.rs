//! `GET /oauth2/authorize`: the authorization code flow (OpenID Connect Core
//! §3.1.2, RFC 6749 §4.1, PKCE RFC 7636).
//!
//! A request whose client or redirect URI cannot be trusted is answered with
//! a page and never a redirect (RFC 6749 §4.1.2.1: that would make the OP an
//! open redirector). Every other problem goes back to the client's
//! registered URI as `error`, `error_description` and `state`.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::form_urlencoded::Serializer;
use url::Url;

use super::claims::Person;
use super::params::Params;
use super::{issuer, OpResult, Services, AUTHORIZE_PATH};
use crate::local_path::safe_return_path;
use crate::provisioning::vouches_for;
use crate::session::Session;
use crate::store::StoredClient;

/// The scopes a client may ask for; every claim is issued under `openid`.
pub const SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// What the authorization endpoint answers.
#[derive(Debug)]
pub enum Answer {
    /// A page for the person: the request names no client we know, or a
    /// redirect URI that client has not registered.
    Refused(Refused),
    /// Where the browser goes next: the client (with a code or an error),
    /// or a sign-in that comes back here.
    Redirect(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    UnknownClient,
    UnregisteredRedirectUri,
    /// `client_id` or `redirect_uri` sent twice: neither can be trusted.
    Ambiguous(&'static str),
}

impl Refused {
    pub fn explanation(&self) -> String {
        match self {
            Refused::UnknownClient => {
                "The application that sent you here is not registered with this sign-in service \
                 (its client_id is missing or unknown)."
                    .into()
            }
            Refused::UnregisteredRedirectUri => {
                "The application asked to send you back to an address it has not registered \
                 (redirect_uri), so you were not sent there."
                    .into()
            }
            Refused::Ambiguous(param) => {
                format!("The sign-in request names its {param} more than once.")
            }
        }
    }
}

/// What a code stands for until it is exchanged (at most `op.code_seconds`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub redirect_uri: String,
    /// PKCE S256 challenge, when the client sent one.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub scope: String,
    /// When the person signed in at the IdP (unix seconds).
    pub auth_time: i64,
    /// The person as of this request: the ID token says who signed in.
    pub person: Person,
}

pub fn code_key(code: &str) -> String {
    format!("op:code:{}", hex::encode(Sha256::digest(code.as_bytes())))
}

/// A new random code, access token or similar one-time value.
pub fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An S256 challenge is BASE64URL(SHA-256(verifier)): 43 characters.
fn is_s256_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The error redirect of RFC 6749 §4.1.2.1, to a URI already checked.
fn error_redirect(
    services: Services<'_>,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Answer {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    Answer::Redirect(with_query(services, redirect_uri, &pairs))
}

/// `uri` with `pairs` and `iss` (RFC 9207) added to its query.
fn with_query(services: Services<'_>, uri: &str, pairs: &[(&str, &str)]) -> String {
    let iss = issuer(services.config);
    match Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in pairs {
                    query.append_pair(name, value);
                }
                query.append_pair("iss", &iss);
            }
            url.to_string()
        }
        // Registered URIs were parsed when they were registered.
        Err(_) => uri.to_string(),
    }
}

/// The client and the redirect URI the request names, if both can be trusted.
async fn trusted_target(
    services: Services<'_>,
    params: &Params,
) -> OpResult<Result<(Arc<StoredClient>, String), Refused>> {
    for name in ["client_id", "redirect_uri"] {
        if params.is_repeated(name) {
            return Ok(Err(Refused::Ambiguous(name)));
        }
    }
    let client = match params.get("client_id") {
        Some(id) => services.client(id).await?,
        None => None,
    };
    let Some(client) = client else {
        return Ok(Err(Refused::UnknownClient));
    };
    // Exact string match (OAuth 2.0 Security BCP): no prefix, no pattern.
    let redirect_uri = params
        .get("redirect_uri")
        .filter(|uri| client.client.redirect_uris.iter().any(|r| r == uri))
        .map(str::to_string);
    Ok(match redirect_uri {
        Some(uri) => Ok((client, uri)),
        None => Err(Refused::UnregisteredRedirectUri),
    })
}

/// What the request asks for, checked; or the error to redirect with.
struct Request<'a> {
    state: Option<&'a str>,
    nonce: Option<&'a str>,
    scope: String,
    code_challenge: Option<&'a str>,
    prompt_none: bool,
    prompt_login: bool,
    login_hint: Option<&'a str>,
    organization: Option<&'a str>,
}

fn check_request<'a>(
    params: &'a Params,
    client: &StoredClient,
) -> Result<Request<'a>, (&'static str, String)> {
    let invalid = |why: String| ("invalid_request", why);
    if let Some(name) = params.first_repeated() {
        return Err(invalid(format!("{name} is sent more than once")));
    }
    if params.get("request").is_some() {
        return Err((
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if params.get("request_uri").is_some() {
        return Err((
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return Err(invalid("response_type is missing".into())),
        Some(other) => {
            return Err((
                "unsupported_response_type",
                format!("only response_type=code is supported, not {other:?}"),
            ))
        }
    }
    if let Some(mode) = params.get("response_mode").filter(|m| *m != "query") {
        return Err(invalid(format!(
            "only response_mode=query is supported, not {mode:?}"
        )));
    }
    let scopes: Vec<&str> = params
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !scopes.contains(&"openid") {
        return Err((
            "invalid_scope",
            "scope must include openid (this is an OpenID Provider)".into(),
        ));
    }
    let scope = SCOPES
        .iter()
        .filter(|s| scopes.contains(s))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let code_challenge = params.get("code_challenge");
    match (code_challenge, params.get("code_challenge_method")) {
        (None, None) if client.client.public => {
            return Err(invalid(
                "a public client must use PKCE: code_challenge and code_challenge_method=S256"
                    .into(),
            ))
        }
        (None, None) => {}
        (None, Some(_)) => {
            return Err(invalid(
                "code_challenge_method without code_challenge".into(),
            ))
        }
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {}
        (Some(_), Some("S256")) => {
            return Err(invalid(
                "code_challenge must be BASE64URL(SHA-256(code_verifier)), 43 characters".into(),
            ))
        }
        // `plain` (or an absent method, which means plain) gives no protection.
        (Some(_), _) => {
            return Err(invalid(
                "code_challenge_method must be S256 (plain is not accepted)".into(),
            ))
        }
    }
    let prompts: Vec<&str> = params.get("prompt").unwrap_or("").split(' ').collect();
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.iter().any(|p| !p.is_empty() && *p != "none") {
        return Err(invalid(
            "prompt=none cannot be combined with other prompts".into(),
        ));
    }
    Ok(Request {
        state: params.get("state"),
        nonce: params.get("nonce"),
        scope,
        code_challenge,
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        login_hint: params.get("login_hint"),
        organization: params.get("organization"),
    })
}

/// Who the session says is signed in, read fresh (a person deprovisioned
/// since has no say), if it fits the request's organization.
async fn signed_in(
    services: Services<'_>,
    session: Option<&Session>,
    organization: Option<&str>,
) -> OpResult<Option<(Person, i64)>> {
    let Some(session) = session else {
        return Ok(None);
    };
    if organization.is_some_and(|org| org != session.org_id) {
        return Ok(None);
    }
    let Some(member) = services
        .store
        .member(&session.org_id, &session.user_id)
        .await?
    else {
        return Ok(None);
    };
    let Some(org) = services.organization(&session.org_id).await? else {
        return Ok(None);
    };
    let verified = vouches_for(services.store, &org.id, &member.email).await?;
    Ok(Some((
        Person::of(member, &org, verified),
        session.created_at / 1000,
    )))
}

/// This request again, as a `return_to` the sign-in routes accept, less
/// `prompt=login` (which the sign-in it leads to has satisfied).
fn return_path(raw_query: &str) -> Option<String> {
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .filter(|(name, value)| !(name == "prompt" && value.split(' ').any(|p| p == "login")))
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    let query = Serializer::new(String::new()).extend_pairs(kept).finish();
    safe_return_path(Some(&format!("{AUTHORIZE_PATH}?{query}")))
}

/// Where a person without a session signs in: the one integration of the
/// organization the request names, else the sign-in page (which routes by
/// email, or by `login_hint` without asking).
async fn sign_in_url(
    services: Services<'_>,
    request: &Request<'_>,
    return_to: &str,
) -> OpResult<String> {
    if let Some(org) = request.organization {
        let integrations = services.store.integrations(org).await?;
        if let [only] = integrations.as_slice() {
            let query = Serializer::new(String::new())
                .append_pair("return_to", return_to)
                .finish();
            return Ok(services.config.external_url(&format!(
                "/users/sign-in/sso/{}/{}?{query}",
                only.kind.as_str(),
                only.id
            )));
        }
    }
    let mut query = Serializer::new(String::new());
    query.append_pair("return_to", return_to);
    if let Some(hint) = request.login_hint {
        query.append_pair("login_hint", hint);
    }
    Ok(services
        .config
        .external_url(&format!("/users/sign-in?{}", query.finish())))
}

/// Answers one authorization request. `raw_query` is the request's query
/// string as received; `session` the browser's gateway session, if any.
pub async fn authorize(
    services: Services<'_>,
    raw_query: &str,
    session: Option<&Session>,
) -> OpResult<Answer> {
    let params = Params::parse(raw_query);
    let (client, redirect_uri) = match trusted_target(services, &params).await? {
        Ok(target) => target,
        Err(refused) => return Ok(Answer::Refused(refused)),
    };
    let state = params.get("state");
    let request = match check_request(&params, &client) {
        Ok(request) => request,
        Err((error, description)) => {
            return Ok(error_redirect(
                services,
                &redirect_uri,
                state,
                error,
                &description,
            ))
        }
    };
    let current = if request.prompt_login {
        None
    } else {
        signed_in(services, session, request.organization).await?
    };
    let Some((person, auth_time)) = current else {
        if request.prompt_none {
            return Ok(error_redirect(
                services,
                &redirect_uri,
                request.state,
                "login_required",
                "nobody is signed in at the gateway",
            ));
        }
        let Some(return_to) = return_path(raw_query) else {
            return Ok(error_redirect(
                services,
                &redirect_uri,
                request.state,
                "invalid_request",
                "the request is too long to come back to after sign-in",
            ));
        };
        return Ok(Answer::Redirect(
            sign_in_url(services, &request, &return_to).await?,
        ));
    };
    let code = random_value();
    let grant = Grant {
        client_id: client.client.id.clone(),
        redirect_uri: redirect_uri.clone(),
        code_challenge: request.code_challenge.map(str::to_string),
        nonce: request.nonce.map(str::to_string),
        scope: request.scope.clone(),
        auth_time,
        person,
    };
    services
        .cache
        .put(
            &code_key(&code),
            &serde_json::to_string(&grant)?,
            Duration::from_secs(services.config.op.code_seconds),
        )
        .await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = request.state {
        pairs.push(("state", state));
    }
    Ok(Answer::Redirect(with_query(
        services,
        &redirect_uri,
        &pairs,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_return_path_is_this_request_less_prompt_login() {
        let back = return_path("client_id=c&prompt=login&state=a%20b").unwrap();
        assert_eq!(back, "/oauth2/authorize?client_id=c&state=a+b");
        let kept = return_path("client_id=c&prompt=consent").unwrap();
        assert!(kept.contains("prompt=consent"));
        assert!(return_path(&format!("state={}", "x".repeat(3000))).is_none());
    }

    #[test]
    fn s256_challenges_have_their_shape() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        assert!(is_s256_challenge(&challenge));
        assert!(!is_s256_challenge("short"));
        assert!(!is_s256_challenge(&format!("{}=", &challenge[..42])));
    }
}
