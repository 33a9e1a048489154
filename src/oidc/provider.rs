//! An OpenID provider as we know it: its discovery document and signing
//! keys, fetched through the outbound policy (the URLs are admin-chosen, so
//! this is SSRF surface) and reused for `oidc.discovery_cache_seconds`.
//!
//! Discovery is fetched by hand rather than with openidconnect's
//! `discover_async`: that one insists the document's issuer equal the URL it
//! came from, which Entra breaks for tenants named by domain
//! (`contoso.com/v2.0` answers with the tenant GUID's issuer), and it would
//! bypass our size limits and error messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};

use crate::config::Config;
use crate::outbound::{FetchError, Outbound};

/// Who is expected to answer at a discovery URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expected {
    /// A generic provider: the document's issuer must be exactly this.
    Issuer(String),
    /// Entra: `{authority}/{tenant}/v2.0`, where the tenant may be a GUID or
    /// one of the directory's verified domains.
    EntraTenant(String),
}

impl Expected {
    /// The URL discovery lives below.
    pub fn base(&self, config: &Config) -> String {
        match self {
            Expected::Issuer(issuer) => issuer.trim_end_matches('/').to_string(),
            Expected::EntraTenant(tenant) => entra_issuer(config, tenant),
        }
    }
}

/// A discovered provider, with its keys.
#[derive(Debug, Clone)]
pub struct Provider {
    pub metadata: CoreProviderMetadata,
    /// Entra: the directory's GUID, which every ID token's `tid` must equal.
    pub entra_tenant_id: Option<String>,
    /// Where the browser goes to end the provider's own session (OpenID
    /// Connect RP-Initiated Logout), when the provider publishes one.
    pub end_session_endpoint: Option<String>,
    keys_fetched_at: Instant,
}

/// The one discovery field of RP-Initiated Logout, which openidconnect's
/// core metadata type does not carry.
#[derive(serde::Deserialize)]
struct LogoutMetadata {
    end_session_endpoint: Option<String>,
}

/// A browser is sent there, so only a web URL will do.
fn end_session_endpoint(body: &[u8]) -> Option<String> {
    let found = serde_json::from_slice::<LogoutMetadata>(body)
        .ok()?
        .end_session_endpoint?;
    let url = url::Url::parse(&found).ok()?;
    matches!(url.scheme(), "https" | "http").then_some(found)
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("could not fetch the discovery document: {0}")]
    Fetch(FetchError),
    #[error("{url} is not an OpenID Connect discovery document: {reason}")]
    NotDiscovery { url: String, reason: String },
    #[error("the discovery document names issuer {found}, expected {expected}")]
    IssuerMismatch { expected: String, found: String },
    #[error("could not fetch the provider's signing keys: {0}")]
    Keys(FetchError),
    #[error("{url} is not a JSON Web Key Set: {reason}")]
    NotKeys { url: String, reason: String },
    #[error("the provider publishes no signing keys at {0}")]
    NoKeys(String),
}

/// An Entra tenant's issuer, below which its discovery document sits.
pub fn entra_issuer(config: &Config, tenant: &str) -> String {
    format!(
        "{}/{tenant}/v2.0",
        config.entra.authority.trim_end_matches('/')
    )
}

pub fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

fn discovery_url(base: &str) -> String {
    format!("{base}/.well-known/openid-configuration")
}

/// Fetches and checks a provider's discovery document and keys.
pub async fn discover(
    config: &Config,
    outbound: &Outbound,
    expected: &Expected,
) -> Result<Provider, DiscoveryError> {
    let base = expected.base(config);
    let url = discovery_url(&base);
    let body = outbound.get(&url).await.map_err(DiscoveryError::Fetch)?;
    let metadata: CoreProviderMetadata =
        serde_json::from_slice(&body).map_err(|e| DiscoveryError::NotDiscovery {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let found = metadata.issuer().as_str().to_string();
    let entra_tenant_id = match expected {
        Expected::Issuer(issuer) => {
            if found.trim_end_matches('/') != issuer.trim_end_matches('/') {
                return Err(DiscoveryError::IssuerMismatch {
                    expected: issuer.clone(),
                    found,
                });
            }
            None
        }
        Expected::EntraTenant(tenant) => {
            Some(entra_tenant_of(config, tenant, &found).ok_or_else(|| {
                DiscoveryError::IssuerMismatch {
                    expected: entra_issuer(config, "{tenant-id}"),
                    found: found.clone(),
                }
            })?)
        }
    };
    let metadata = with_keys(outbound, metadata).await?;
    Ok(Provider {
        metadata,
        entra_tenant_id,
        end_session_endpoint: end_session_endpoint(&body),
        keys_fetched_at: Instant::now(),
    })
}

/// The tenant GUID in an Entra issuer, if it is one of ours: the configured
/// GUID itself, or (for a tenant configured by domain) whatever GUID the
/// authority answered with.
fn entra_tenant_of(config: &Config, configured: &str, issuer: &str) -> Option<String> {
    let prefix = format!("{}/", config.entra.authority.trim_end_matches('/'));
    let tenant_id = issuer.strip_prefix(&prefix)?.strip_suffix("/v2.0")?;
    let matches = if is_guid(configured) {
        tenant_id.eq_ignore_ascii_case(configured)
    } else {
        is_guid(tenant_id)
    };
    matches.then(|| tenant_id.to_ascii_lowercase())
}

async fn with_keys(
    outbound: &Outbound,
    metadata: CoreProviderMetadata,
) -> Result<CoreProviderMetadata, DiscoveryError> {
    let url = metadata.jwks_uri().as_str().to_string();
    let body = outbound.get(&url).await.map_err(DiscoveryError::Keys)?;
    let keys: CoreJsonWebKeySet =
        serde_json::from_slice(&body).map_err(|e| DiscoveryError::NotKeys {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    if keys.keys().is_empty() {
        return Err(DiscoveryError::NoKeys(url));
    }
    Ok(metadata.set_jwks(keys))
}

/// Discovered providers, per discovery URL, shared by every sign-in on this
/// instance. Each instance keeps its own copy: they are public documents.
#[derive(Clone)]
pub struct Providers {
    cache: moka::sync::Cache<Expected, Arc<Provider>>,
}

/// Keys are not re-fetched more often than this per provider. ID tokens come
/// from the provider's own token endpoint, not from the browser, so this is
/// politeness towards the provider rather than a defence.
const KEY_REFRESH_FLOOR: Duration = Duration::from_secs(5);

impl Providers {
    pub fn new(config: &Config) -> Self {
        Providers {
            cache: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(config.oidc.discovery_cache_seconds))
                .build(),
        }
    }

    pub async fn get(
        &self,
        config: &Config,
        outbound: &Outbound,
        expected: &Expected,
    ) -> Result<Arc<Provider>, DiscoveryError> {
        if let Some(provider) = self.cache.get(expected) {
            return Ok(provider);
        }
        let provider = Arc::new(discover(config, outbound, expected).await?);
        self.cache.insert(expected.clone(), provider.clone());
        Ok(provider)
    }

    /// Key rotation: an ID token signed by a key we do not know makes us
    /// fetch the keys again (unless we just did). Returns the provider with
    /// fresh keys, or `None` when it is too soon to ask again.
    pub async fn refresh_keys(
        &self,
        outbound: &Outbound,
        expected: &Expected,
        stale: &Provider,
    ) -> Result<Option<Arc<Provider>>, DiscoveryError> {
        if stale.keys_fetched_at.elapsed() < KEY_REFRESH_FLOOR {
            return Ok(None);
        }
        let metadata = with_keys(outbound, stale.metadata.clone()).await?;
        let fresh = Arc::new(Provider {
            metadata,
            entra_tenant_id: stale.entra_tenant_id.clone(),
            end_session_endpoint: stale.end_session_endpoint.clone(),
            keys_fetched_at: Instant::now(),
        });
        self.cache.insert(expected.clone(), fresh.clone());
        Ok(Some(fresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_issuers_are_matched_to_the_configured_tenant() {
        let config = Config::load(None).expect("defaults load");
        let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let issuer = format!("https://login.microsoftonline.com/{guid}/v2.0");
        assert_eq!(
            entra_tenant_of(&config, guid, &issuer).as_deref(),
            Some(guid)
        );
        assert_eq!(
            entra_tenant_of(&config, "contoso.com", &issuer).as_deref(),
            Some(guid)
        );
        let other = "11111111-2222-3333-4444-555555555555";
        assert_eq!(entra_tenant_of(&config, other, &issuer), None);
        for bad in [
            format!("https://evil.example/{guid}/v2.0"),
            format!("https://login.microsoftonline.com/{guid}"),
            "https://login.microsoftonline.com/contoso.com/v2.0".to_string(),
            format!("https://login.microsoftonline.com/{guid}/v2.0/extra"),
        ] {
            assert_eq!(entra_tenant_of(&config, "contoso.com", &bad), None, "{bad}");
        }
    }
}
