//! The gateway as an OpenID Provider for the product's own apps (SPEC: "The
//! gateway as an OpenID Provider"): clients, discovery, the authorization
//! code flow with PKCE, ID tokens, userinfo and RP-initiated logout.
//!
//! Protocol only: no HTTP here. `web::op` turns requests into these calls
//! and their answers into responses. Codes and access tokens live in the
//! shared cache (every instance honours them); clients and signing keys in
//! the database.

pub mod authorize;
pub mod claims;
pub mod clients;
pub mod keys;
pub mod logout;
pub mod params;
pub mod token;

pub use keys::Keys;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cache::{Cache, CacheError};
use crate::config::Config;
use crate::secrets::{SecretBox, SecretError};
use crate::store::{Organization, Store, StoreError, StoredClient};

/// How long a client or organization read from the database is reused. One
/// sign-in reads each several times (authorize, token, userinfo); a deleted
/// client or a renamed organization shows on every instance within this.
const RECENT: Duration = Duration::from_secs(5);
const RECENT_ENTRIES: u64 = 10_000;

fn recent<V: Clone + Send + Sync + 'static>() -> moka::sync::Cache<String, V> {
    moka::sync::Cache::builder()
        .max_capacity(RECENT_ENTRIES)
        .time_to_live(RECENT)
        .build()
}

/// The OP's long-lived parts, shared by every request of an instance.
#[derive(Clone)]
pub struct Provider {
    pub keys: Keys,
    clients: moka::sync::Cache<String, Arc<StoredClient>>,
    organizations: moka::sync::Cache<String, Organization>,
}

impl Provider {
    /// Loads the signing key (creating the first one if there is none).
    pub async fn load(store: &Store, secrets: &SecretBox) -> OpResult<Provider> {
        Ok(Provider {
            keys: Keys::load(store, secrets).await?,
            clients: recent(),
            organizations: recent(),
        })
    }

    /// Forgets a client this instance deleted, at once.
    pub fn forget_client(&self, id: &str) {
        self.clients.invalidate(id);
    }
}

/// What the OP's steps work with.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub store: &'a Store,
    pub cache: &'a Cache,
    pub config: &'a Config,
    pub provider: &'a Provider,
}

impl Services<'_> {
    /// A registered client, read at most every few seconds.
    pub async fn client(&self, id: &str) -> OpResult<Option<Arc<StoredClient>>> {
        if let Some(client) = self.provider.clients.get(id) {
            return Ok(Some(client));
        }
        let found = self.store.op_client(id).await?.map(Arc::new);
        if let Some(client) = &found {
            self.provider.clients.insert(id.to_string(), client.clone());
        }
        Ok(found)
    }

    /// An organization, read at most every few seconds.
    pub async fn organization(&self, id: &str) -> OpResult<Option<Organization>> {
        if let Some(org) = self.provider.organizations.get(id) {
            return Ok(Some(org));
        }
        let found = self.store.organization(id).await?;
        if let Some(org) = &found {
            self.provider
                .organizations
                .insert(id.to_string(), org.clone());
        }
        Ok(found)
    }
}

/// A part the OP depends on failed: the request may be retried.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("OP signing key: {0}")]
    Key(String),
}

/// A value that cannot be encoded for the cache counts as the cache
/// failing, as `cache` has it.
impl From<serde_json::Error> for OpError {
    fn from(e: serde_json::Error) -> Self {
        OpError::Cache(e.into())
    }
}

pub type OpResult<T> = Result<T, OpError>;

pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const USERINFO_PATH: &str = "/oauth2/userinfo";
pub const JWKS_PATH: &str = "/oauth2/jwks";
pub const END_SESSION_PATH: &str = "/oauth2/logout";

/// The `iss` of every token: `server.public_url` as configured, less a
/// trailing slash (discovery hangs below it).
pub fn issuer(config: &Config) -> String {
    config.server.public_url.trim_end_matches('/').to_string()
}

/// `/.well-known/openid-configuration`.
pub fn discovery(config: &Config) -> Value {
    let at = |path: &str| config.external_url(path);
    json!({
        "issuer": issuer(config),
        "authorization_endpoint": at(AUTHORIZE_PATH),
        "token_endpoint": at(TOKEN_PATH),
        "userinfo_endpoint": at(USERINFO_PATH),
        "jwks_uri": at(JWKS_PATH),
        "end_session_endpoint": at(END_SESSION_PATH),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": authorize::SCOPES,
        "claims_supported": claims::SUPPORTED,
        "prompt_values_supported": ["none", "login"],
        // RFC 9207: the authorization response names its issuer, so a
        // client talking to several providers cannot be mixed up.
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    })
}
