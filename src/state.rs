//! What every request handler shares.

use std::sync::Arc;

use crate::cache::Cache;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::secrets::SecretBox;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub cache: Cache,
    pub secrets: SecretBox,
    pub metrics: Arc<Metrics>,
    /// HTTP to admin-chosen addresses, under the outbound policy.
    pub outbound: Outbound,
    /// OpenID Connect sign-in (discovered providers and their keys).
    pub oidc: crate::oidc::Oidc,
    /// TXT look-ups for domain verification.
    pub dns: crate::dns::Dns,
    /// The OpenID Provider for the product's apps: its signing keys and
    /// recently read clients.
    pub op: crate::op::Provider,
    /// The SAML SP's signing and encryption keys (an `Arc` inside: any
    /// handler can sign, e.g. `sp_keys.signing().await`).
    pub sp_keys: crate::saml::SpKeys,
    /// Which organization recent sessions belong to (`/auth/verify`).
    pub session_orgs: crate::session::SessionOrgs,
}

/// Why the gateway could not start, each naming the part that failed.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open the database ({url}): {source}")]
    Database {
        url: String,
        source: crate::store::StoreError,
    },
    #[error("cannot apply database migrations: {0}")]
    Migrate(crate::store::StoreError),
    #[error("cannot reach the cache ({url}): {source}")]
    Cache {
        url: String,
        source: crate::cache::CacheError,
    },
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretError),
    #[error("cannot set up the metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot set up outbound HTTP: {0}")]
    Outbound(#[from] reqwest::Error),
    #[error("cannot load or create the OpenID Provider signing key: {0}")]
    OpKeys(#[from] crate::op::OpError),
    #[error("cannot load or create the SAML SP keys: {0}")]
    SpKeys(#[from] crate::saml::keys::SpKeyError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
}

/// Hides the password of a `scheme://user:password@host` URL for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl AppState {
    /// What finishing a sign-in works with.
    pub fn sign_in(&self) -> crate::signin::Services<'_> {
        crate::signin::Services {
            store: &self.store,
            cache: &self.cache,
            config: &self.config,
            metrics: &self.metrics,
        }
    }

    /// Opens the store (applying migrations), the cache and the secret key.
    pub async fn open(config: Config) -> Result<Self, StartupError> {
        let store = crate::store::Store::connect(&config.database)
            .await
            .map_err(|source| StartupError::Database {
                url: redact_url(&config.database.url),
                source,
            })?;
        store.migrate().await.map_err(StartupError::Migrate)?;
        let cache = Cache::connect(&config.cache)
            .await
            .map_err(|source| StartupError::Cache {
                url: redact_url(&config.cache.url),
                source,
            })?;
        let metrics = Arc::new(Metrics::new()?);
        let store = store.count_events(metrics.events_recorded.clone());
        // Versions in the cache: every instance sharing it sees every write.
        let store = store.remember_reads(cache.clone());
        let secrets = SecretBox::load(&config.secrets)?;
        let op = crate::op::Provider::load(&store, &secrets).await?;
        let sp_keys =
            crate::saml::SpKeys::load(&store, &secrets, &crate::saml::keys::subject_host(&config))
                .await?;
        let config = Arc::new(config);
        let outbound = Outbound::new(&config.outbound)?;
        Ok(AppState {
            oidc: crate::oidc::Oidc::new(
                config.clone(),
                outbound.clone(),
                secrets.clone(),
                cache.clone(),
            ),
            outbound,
            dns: crate::dns::Dns::new(&config.dns),
            op,
            sp_keys,
            config,
            store,
            cache,
            secrets,
            metrics,
            session_orgs: crate::session::SessionOrgs::default(),
        })
    }
}
