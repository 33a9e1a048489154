//! Signed-in sessions: a random id in an HttpOnly cookie, the session itself
//! in the cache (so every instance sees it) for the configured lifetime.
//!
//! Only the SHA-256 of the id is used as the cache key: a leaked cache dump
//! holds no usable session.
//!
//! On https the cookie is named `__Host-…`: browsers accept such a cookie
//! only from this exact host, Secure, with Path=/ and no Domain, so a
//! sibling subdomain can neither plant nor overwrite it.

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
    /// Set for a SAML sign-in: what Single Logout needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml: Option<SamlLogin>,
}

/// Whom the IdP said signed in, as a LogoutRequest names them (both an
/// IdP's, to find the sessions it ends, and ours, sent to the IdP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlLogin {
    pub name_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_id_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_index: Option<String>,
}

const HOST_PREFIX: &str = "__Host-";

/// `name` as this deployment sets it: `__Host-` prefixed on https (unless
/// the configured name already is). The cookie must then be Secure, Path=/
/// and without Domain.
pub fn host_only_name(config: &Config, name: &str) -> String {
    if config.public_url_is_https() && !name.starts_with(HOST_PREFIX) {
        format!("{HOST_PREFIX}{name}")
    } else {
        name.to_string()
    }
}

fn cookie_name(config: &Config) -> String {
    host_only_name(config, &config.session.cookie_name)
}

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn cache_key(id: &str) -> String {
    key_of_hash(&sha256_hex(id))
}

fn key_of_hash(id_hash: &str) -> String {
    format!("session:{id_hash}")
}

/// The sessions one IdP login (integration + NameID) opened, one line per
/// session: its id's hash and the SessionIndex. Hashes only, like the
/// session keys themselves.
fn logout_index_key(integration_id: &str, name_id: &str) -> String {
    format!("saml-logins:{integration_id}:{}", sha256_hex(name_id))
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
    if let Some(saml) = &session.saml {
        let line = format!(
            "{}\t{}",
            sha256_hex(&id),
            saml.session_index.as_deref().unwrap_or_default()
        );
        let index = logout_index_key(&session.integration_id, &saml.name_id);
        cache.append_line(&index, &line, lifetime(config)).await?;
    }
    Ok(id)
}

/// Ends what an IdP's LogoutRequest names: the sessions this integration
/// opened for `name_id`, only those with one of `session_indexes` when it
/// lists any. Returns how many live sessions ended.
pub async fn end_idp_logins(
    cache: &Cache,
    config: &Config,
    integration_id: &str,
    name_id: &str,
    session_indexes: &[String],
) -> CacheResult<usize> {
    let index = logout_index_key(integration_id, name_id);
    let Some(lines) = cache.take(&index).await? else {
        return Ok(0);
    };
    let mut ended = 0;
    for line in lines.lines() {
        let (id_hash, session_index) = line.split_once('\t').unwrap_or((line, ""));
        let named =
            session_indexes.is_empty() || session_indexes.iter().any(|s| s == session_index);
        if named {
            if cache.take(&key_of_hash(id_hash)).await?.is_some() {
                ended += 1;
            }
        } else if cache.get(&key_of_hash(id_hash)).await?.is_some() {
            // Still live and not named: back into the index.
            cache.append_line(&index, line, lifetime(config)).await?;
        }
    }
    Ok(ended)
}

/// The session id this request's cookie carries, if it has one of the
/// right shape.
fn cookie_id(config: &Config, req: &HttpRequest) -> Option<String> {
    req.cookie(&cookie_name(config))
        .map(|c| c.value().to_string())
        .filter(|id| id.len() == 43)
}

fn decode(stored: Option<String>) -> Option<Session> {
    stored.and_then(|json| serde_json::from_str(&json).ok())
}

/// The session of this request, with its id, if it has a live one.
pub async fn current(
    cache: &Cache,
    config: &Config,
    req: &HttpRequest,
) -> CacheResult<Option<(String, Session)>> {
    let Some(id) = cookie_id(config, req) else {
        return Ok(None);
    };
    let stored = cache.get(&cache_key(&id)).await?;
    Ok(decode(stored).map(|s| (id, s)))
}

/// How many sessions [`SessionOrgs`] knows the organization of.
const SESSION_ORGS: u64 = 10_000;

/// The organization of each session seen lately, by its cache key. A
/// session's organization never changes, so once it is known the session
/// and a counter of its organization can be read together
/// ([`current_with_version`]): one round trip to Redis per request, not
/// two. Knows only which organization to ask about, never whether the
/// session is live: that is read every time.
#[derive(Clone)]
pub struct SessionOrgs(moka::sync::Cache<String, std::sync::Arc<str>>);

impl Default for SessionOrgs {
    fn default() -> Self {
        SessionOrgs(moka::sync::Cache::new(SESSION_ORGS))
    }
}

/// [`current`], with the version counter `version_key(org_id)` of the
/// session's organization read in the same round trip when `orgs` knows
/// that organization and `version_key` names a counter (`None` otherwise:
/// the caller reads it, after the session).
pub async fn current_with_version(
    cache: &Cache,
    config: &Config,
    req: &HttpRequest,
    orgs: &SessionOrgs,
    version_key: impl Fn(&str) -> Option<String>,
) -> CacheResult<Option<(String, Session, Option<u64>)>> {
    let Some(id) = cookie_id(config, req) else {
        return Ok(None);
    };
    let key = cache_key(&id);
    let org = orgs.0.get(&key);
    let (stored, version) = match org.as_deref().and_then(&version_key) {
        Some(counter) => {
            let (stored, version) = cache.get_with_version(&key, &counter).await?;
            (stored, Some(version))
        }
        None => (cache.get(&key).await?, None),
    };
    let Some(session) = decode(stored) else {
        orgs.0.invalidate(&key);
        return Ok(None);
    };
    let version = match org {
        Some(org) if *org == *session.org_id => version,
        _ => {
            orgs.0.insert(key, session.org_id.as_str().into());
            None
        }
    };
    Ok(Some((id, session, version)))
}

pub async fn end(cache: &Cache, id: &str) -> CacheResult<()> {
    cache.delete(&cache_key(id)).await
}

/// The cookie that carries a session id for the session lifetime.
pub fn cookie(config: &Config, id: String) -> Cookie<'static> {
    cookie_with_age(config, id, lifetime(config))
}

fn cookie_with_age(config: &Config, value: String, max_age: Duration) -> Cookie<'static> {
    Cookie::build(cookie_name(config), value)
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn config(public_url: &str) -> Config {
        let mut config = Config::load(None).unwrap();
        config.server.public_url = public_url.into();
        config
    }

    #[test]
    fn on_https_the_session_cookie_is_host_only() {
        let config = config("https://sso.example.com");
        let set = cookie(&config, "id".into());
        assert_eq!(set.name(), "__Host-sso_gateway_session");
        assert_eq!(set.secure(), Some(true));
        assert_eq!(set.path(), Some("/"));
        assert_eq!(set.domain(), None);
        assert_eq!(removal_cookie(&config).name(), set.name());
    }

    #[test]
    fn on_http_the_session_cookie_keeps_its_configured_name() {
        let config = config("http://127.0.0.1:9100");
        let set = cookie(&config, "id".into());
        assert_eq!(set.name(), "sso_gateway_session");
        assert_eq!(set.secure(), Some(false));
        assert_eq!(set.path(), Some("/"));
    }

    #[test]
    fn a_configured_host_prefix_is_not_doubled() {
        let config = config("https://sso.example.com");
        assert_eq!(host_only_name(&config, "__Host-mine"), "__Host-mine");
    }

    fn saml_session(integration_id: &str, name_id: &str, index: &str) -> Session {
        Session {
            user_id: "u".into(),
            org_id: "o".into(),
            integration_id: integration_id.into(),
            created_at: 0,
            saml: Some(SamlLogin {
                name_id: name_id.into(),
                name_id_format: None,
                session_index: Some(index.into()),
            }),
        }
    }

    async fn live(cache: &Cache, id: &str) -> bool {
        cache.get(&cache_key(id)).await.unwrap().is_some()
    }

    #[tokio::test]
    async fn an_idp_logout_ends_the_named_sessions_of_that_integration_only() {
        let config = config("http://127.0.0.1:9100");
        let cache = Cache::Memory(crate::cache::MemoryCache::new(100));
        let first = start(
            &cache,
            &config,
            &saml_session("okta", "ada@example.com", "s1"),
        )
        .await
        .unwrap();
        let second = start(
            &cache,
            &config,
            &saml_session("okta", "ada@example.com", "s2"),
        )
        .await
        .unwrap();
        let elsewhere = start(
            &cache,
            &config,
            &saml_session("other", "ada@example.com", "s1"),
        )
        .await
        .unwrap();

        let ended = end_idp_logins(&cache, &config, "okta", "ada@example.com", &["s1".into()])
            .await
            .unwrap();
        assert_eq!(ended, 1);
        assert!(!live(&cache, &first).await);
        assert!(live(&cache, &second).await, "another SessionIndex stays");
        assert!(
            live(&cache, &elsewhere).await,
            "another integration's session stays"
        );

        // No SessionIndex: every session of that login, and only once.
        let ended = end_idp_logins(&cache, &config, "okta", "ada@example.com", &[])
            .await
            .unwrap();
        assert_eq!(ended, 1);
        assert!(!live(&cache, &second).await);
        let again = end_idp_logins(&cache, &config, "okta", "ada@example.com", &[])
            .await
            .unwrap();
        assert_eq!(again, 0);
        assert!(live(&cache, &elsewhere).await);
    }

    /// The organization is learnt at the first read; from the next on, its
    /// version comes with the session, and an ended session is refused.
    #[tokio::test]
    async fn the_version_comes_with_the_session_once_its_organization_is_known() {
        let config = config("http://127.0.0.1:9100");
        let cache = Cache::Memory(crate::cache::MemoryCache::new(100));
        let orgs = SessionOrgs::default();
        let id = start(
            &cache,
            &config,
            &saml_session("okta", "ada@example.com", "s1"),
        )
        .await
        .unwrap();
        let req = TestRequest::default()
            .cookie(cookie(&config, id.clone()))
            .to_http_request();
        let counter = |org: &str| Some(format!("v:{org}"));
        let read = || current_with_version(&cache, &config, &req, &orgs, counter);

        let (_, first, version) = read().await.unwrap().unwrap();
        assert_eq!((first.org_id.as_str(), version), ("o", None));
        cache.bump_version("v:o").await.unwrap();
        let (_, _, version) = read().await.unwrap().unwrap();
        assert_eq!(version, Some(cache.version("v:o").await.unwrap()));
        let no_counter = current_with_version(&cache, &config, &req, &orgs, |_| None);
        assert_eq!(no_counter.await.unwrap().unwrap().2, None);

        end(&cache, &id).await.unwrap();
        assert!(read().await.unwrap().is_none());
        assert!(orgs.0.get(&cache_key(&id)).is_none(), "forgotten");
    }

    #[tokio::test]
    async fn on_https_an_unprefixed_session_cookie_is_not_read() {
        let config = config("https://sso.example.com");
        let cache = Cache::Memory(crate::cache::MemoryCache::new(100));
        let session = Session {
            user_id: "u".into(),
            org_id: "o".into(),
            integration_id: "i".into(),
            created_at: 0,
            saml: None,
        };
        let id = start(&cache, &config, &session).await.unwrap();
        let planted = TestRequest::default()
            .cookie(Cookie::new("sso_gateway_session", id.clone()))
            .to_http_request();
        assert!(current(&cache, &config, &planted).await.unwrap().is_none());
        let ours = TestRequest::default()
            .cookie(cookie(&config, id))
            .to_http_request();
        let (_, found) = current(&cache, &config, &ours).await.unwrap().unwrap();
        assert_eq!(found.user_id, "u");
    }
}
