//! Sign-ins we started and wait to hear back about (a SAML AuthnRequest, an
//! OIDC authorization request): kept in the shared cache so any instance can
//! finish what another began, bound to the browser that started them and to
//! the integration, consumed exactly once.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{safe_return_path, Refusal};
use crate::cache::Cache;
use crate::store::Integration;

/// Ties a pending sign-in to the browser that started it.
pub const BROWSER_COOKIE: &str = "sso_gateway_signin";
/// How long a person has to come back from the identity provider.
pub const LIFETIME: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    integration_id: String,
    /// SHA-256 of the browser cookie: the cache never holds the cookie itself.
    browser: String,
    return_to: Option<String>,
    protocol: T,
}

/// Why a callback does not match a pending sign-in.
#[derive(Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Never started, already used, or expired.
    Unknown,
    /// Started for another integration.
    OtherIntegration,
    /// Started in another browser, or the cookie was lost.
    OtherBrowser,
}

/// 256 random bits, URL-safe: browser cookies, OIDC state and nonce.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Remembers a sign-in under `key` (the protocol's request id or state) and
/// returns the browser token to set as its cookie (the one the browser
/// already has, when it has one) and the checked `return_to`.
pub async fn remember<T: Serialize>(
    cache: &Cache,
    key: &str,
    integration: &Integration,
    return_to: Option<&str>,
    browser: Option<&str>,
    protocol: T,
) -> Result<(String, Option<String>), Refusal> {
    let browser = browser
        .filter(|b| b.len() == 43)
        .map(str::to_string)
        .unwrap_or_else(random_token);
    let return_to = safe_return_path(return_to);
    let stored = Stored {
        integration_id: integration.id.clone(),
        browser: sha256_hex(&browser),
        return_to: return_to.clone(),
        protocol,
    };
    let json = serde_json::to_string(&stored)
        .map_err(|e| Refusal::unavailable(format!("pending sign-in: {e}")))?;
    cache
        .put(key, &json, LIFETIME)
        .await
        .map_err(|e| Refusal::unavailable(format!("cache: {e}")))?;
    Ok((browser, return_to))
}

/// Takes the sign-in pending under `key` (so it can never be used again)
/// and checks it belongs to this integration and this browser. Returns its
/// `return_to` and protocol data, or why it does not match (`Err(Ok(_))`),
/// or a cache failure (`Err(Err(_))`).
pub async fn recall<T: DeserializeOwned>(
    cache: &Cache,
    key: &str,
    integration: &Integration,
    browser: Option<&str>,
) -> Result<(Option<String>, T), Result<Mismatch, Refusal>> {
    let stored = cache
        .take(key)
        .await
        .map_err(|e| Err(Refusal::unavailable(format!("cache: {e}"))))?
        .and_then(|json| serde_json::from_str::<Stored<T>>(&json).ok())
        .ok_or(Ok(Mismatch::Unknown))?;
    if stored.integration_id != integration.id {
        return Err(Ok(Mismatch::OtherIntegration));
    }
    if browser.map(sha256_hex).as_deref() != Some(stored.browser.as_str()) {
        return Err(Ok(Mismatch::OtherBrowser));
    }
    Ok((stored.return_to, stored.protocol))
}
