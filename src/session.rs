//! Signed-in sessions: a random id in an HttpOnly cookie, the session itself
//! in the cache (so every instance sees it) for the configured lifetime.
//!
//! Only the SHA-256 of the id is used as the cache key: a leaked cache dump
//! holds no usable session.

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::{Cache, CacheResult};
use crate::config::Config;

/// Who is signed in, and through which organization's integration: the
/// session vouches for that organization only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    pub org_id: String,
    pub integration_id: String,
    pub created_at: i64,
}

fn cache_key(id: &str) -> String {
    format!("session:{}", hex::encode(Sha256::digest(id.as_bytes())))
}

fn lifetime(config: &Config) -> Duration {
    Duration::from_secs(config.session.lifetime_seconds)
}

/// Stores a new session and returns its id, for [`cookie`] to carry.
pub async fn start(cache: &Cache, config: &Config, session: &Session) -> CacheResult<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let id = URL_SAFE_NO_PAD.encode(bytes);
    let value = serde_json::to_string(session)?;
    cache.put(&cache_key(&id), &value, lifetime(config)).await?;
    Ok(id)
}

/// The session of this request, with its id, if it has a live one.
pub async fn current(
    cache: &Cache,
    config: &Config,
    req: &HttpRequest,
) -> CacheResult<Option<(String, Session)>> {
    let Some(id) = req
        .cookie(&config.session.cookie_name)
        .map(|c| c.value().to_string())
    else {
        return Ok(None);
    };
    if id.len() != 43 {
        return Ok(None);
    }
    let stored = cache.get(&cache_key(&id)).await?;
    Ok(stored
        .and_then(|json| serde_json::from_str(&json).ok())
        .map(|s| (id, s)))
}

pub async fn end(cache: &Cache, id: &str) -> CacheResult<()> {
    cache.delete(&cache_key(id)).await
}

/// The cookie that carries a session id for the session lifetime.
pub fn cookie(config: &Config, id: String) -> Cookie<'static> {
    cookie_with_age(config, id, lifetime(config))
}

fn cookie_with_age(config: &Config, value: String, max_age: Duration) -> Cookie<'static> {
    Cookie::build(config.session.cookie_name.clone(), value)
        .path("/")
        .http_only(true)
        .secure(config.public_url_is_https())
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            max_age.as_secs() as i64,
        ))
        .finish()
}

/// A cookie that makes the browser forget the session.
pub fn removal_cookie(config: &Config) -> Cookie<'static> {
    let mut c = cookie_with_age(config, String::new(), Duration::ZERO);
    c.make_removal();
    c
}

/// Whether a state-changing request came from another site (Origin or
/// Sec-Fetch-Site say so). Sign-out and the admin sign-in forms refuse
/// those outright; SameSite cookies already keep sessions off them.
pub fn is_cross_site(config: &Config, req: &HttpRequest) -> bool {
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site")) {
        return true;
    }
    match req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        None => false,
        Some(origin) => {
            let ours = config
                .public_url()
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            origin != ours
        }
    }
}
