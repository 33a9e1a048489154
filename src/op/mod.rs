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

use serde_json::{json, Value};

use crate::cache::{Cache, CacheError};
use crate::config::Config;
use crate::secrets::SecretError;
use crate::store::{Store, StoreError};

/// What the OP's steps work with.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub store: &'a Store,
    pub cache: &'a Cache,
    pub config: &'a Config,
    pub keys: &'a Keys,
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
