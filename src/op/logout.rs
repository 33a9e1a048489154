//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the
//! `end_session_endpoint`. The gateway session ends; the browser goes back
//! to `post_logout_redirect_uri` only when the client it belongs to has
//! registered it, and the client is known from a valid `id_token_hint` (ours,
//! expired or not) or `client_id`. Anything else gets a page, never a
//! redirect.

use josekit::jwt;

use super::keys::verifier_for;
use super::params::Params;
use super::{issuer, OpResult, Services};

#[derive(Debug, PartialEq, Eq)]
pub enum Logout {
    /// Back to the client's registered URI (with `state`).
    Redirect(String),
    /// No place to go back to: a page saying the person is signed out.
    SignedOut,
    /// The request cannot be followed; the person is still signed out.
    Refused(String),
}

/// The client (`aud`) of an ID token this OP signed, if `hint` is one.
async fn hinted_client(services: Services<'_>, hint: &str) -> OpResult<Option<String>> {
    let Some(kid) = jwt::decode_header(hint)
        .ok()
        .and_then(|h| h.claim("kid").and_then(|k| k.as_str()).map(str::to_string))
    else {
        return Ok(None);
    };
    let Some(verifier) = verifier_for(services.store, &services.config.op, &kid).await? else {
        return Ok(None);
    };
    let Ok((payload, _)) = jwt::decode_with_verifier(hint, &verifier) else {
        return Ok(None);
    };
    if payload.issuer() != Some(issuer(services.config).as_str()) {
        return Ok(None);
    }
    Ok(payload
        .audience()
        .and_then(|aud| aud.first().map(|a| a.to_string())))
}

/// Decides where a logout request leads (the caller ends the session).
pub async fn end_session(services: Services<'_>, raw: &str) -> OpResult<Logout> {
    let params = Params::parse(raw);
    if let Some(name) = params.first_repeated() {
        return Ok(Logout::Refused(format!("{name} is sent more than once")));
    }
    let hinted = match params.get("id_token_hint") {
        Some(hint) => match hinted_client(services, hint).await? {
            Some(client) => Some(client),
            None => {
                return Ok(Logout::Refused(
                    "the id_token_hint is not an ID token this service issued".into(),
                ))
            }
        },
        None => None,
    };
    let client_id = match (hinted, params.get("client_id")) {
        (Some(hinted), Some(named)) if hinted != named => {
            return Ok(Logout::Refused(
                "client_id is not the audience of the id_token_hint".into(),
            ))
        }
        (Some(hinted), _) => Some(hinted),
        (None, named) => named.map(str::to_string),
    };
    let Some(target) = params.get("post_logout_redirect_uri") else {
        return Ok(Logout::SignedOut);
    };
    let client = match &client_id {
        Some(id) => services.client(id).await?,
        None => None,
    };
    let Some(client) = client else {
        return Ok(Logout::Refused(
            "post_logout_redirect_uri needs id_token_hint or client_id naming a registered client"
                .into(),
        ));
    };
    if !client
        .client
        .post_logout_redirect_uris
        .iter()
        .any(|uri| uri == target)
    {
        return Ok(Logout::Refused(
            "post_logout_redirect_uri is not registered for this client".into(),
        ));
    }
    let mut url = match url::Url::parse(target) {
        Ok(url) => url,
        Err(_) => return Ok(Logout::SignedOut),
    };
    if let Some(state) = params.get("state") {
        url.query_pairs_mut().append_pair("state", state);
    }
    Ok(Logout::Redirect(url.to_string()))
}
