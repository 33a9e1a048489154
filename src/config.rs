//! Configuration: compiled-in defaults, an optional file, then environment.
//!
//! Every key lives in `config/default.toml`, which is embedded in the binary so
//! that `serve` works with no file at all. Unknown keys are refused, and every
//! bad value stops start-up with one line that names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use url::Url;

const DEFAULTS: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "SSO_GATEWAY__";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub cache: CacheConfig,
    pub session: SessionConfig,
    pub saml: SamlConfig,
    pub entra: EntraConfig,
    pub oidc: OidcConfig,
    pub outbound: OutboundConfig,
    pub scim: ScimConfig,
    pub provisioning: ProvisioningConfig,
    pub events: EventsConfig,
    pub webhooks: WebhooksConfig,
    pub audit: AuditConfig,
    pub dns: DnsConfig,
    pub op: OpConfig,
    pub secrets: SecretsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    pub public_url: String,
    /// Where a sign-in without `return_to`/RelayState lands: a path here
    /// (`/` is the gateway's own signed-in page) or the product's URL.
    pub after_sign_in_url: String,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub log_format: LogFormat,
    pub log_level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub url: String,
    pub memory_max_entries: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    pub lifetime_seconds: u64,
    pub cookie_name: String,
    /// Lifetime of an admin UI session (`/admin`), counted from sign-in.
    pub admin_lifetime_seconds: u64,
    /// Email look-ups the sign-in page (`/users/sign-in`) answers per
    /// client address and minute.
    pub sign_in_page_rate_limit_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    pub clock_skew_seconds: u64,
    pub allow_idp_initiated: bool,
    pub max_response_bytes: usize,
    pub metadata_refresh_seconds: u64,
    /// How often IdP signing certificates are checked for expiry.
    pub certificate_check_seconds: u64,
    /// How long a key staged by `sp-keys rotate` is published before it
    /// is used.
    pub sp_key_overlap_hours: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    pub authority: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub clock_skew_seconds: u64,
    pub discovery_cache_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    pub allow_private_addresses: bool,
    pub allow_http: bool,
    pub timeout_seconds: u64,
    pub max_response_bytes: usize,
    pub max_redirects: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    pub rate_limit_per_minute: u32,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningConfig {
    pub deleted_team_retention_days: u32,
    pub purge_interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub retention_days: u32,
}

/// The gateway as an OpenID Provider for the product's own apps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpConfig {
    /// How long an authorization code may wait to be exchanged.
    pub code_seconds: u64,
    pub id_token_seconds: u64,
    pub access_token_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// `ip:port` of the nameservers to ask; empty: the system's.
    pub nameservers: Vec<String>,
    pub timeout_ms: u64,
    pub recheck_interval_seconds: u64,
    pub grace_hours: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    pub retry_hours: u32,
    pub timeout_seconds: u64,
    pub lease_seconds: u64,
    pub poll_interval_ms: u64,
    pub secret_overlap_hours: u32,
    pub max_retry_interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    pub encryption_key: String,
    pub key_file: PathBuf,
}

/// A configuration problem, always naming the offending key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

fn invalid(key: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("`{key}` {why}"))
}

impl Config {
    /// Defaults, then `file` (if any), then `SSO_GATEWAY__…` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        Self::from_figment(figment.merge(Env::prefixed(ENV_PREFIX).split("__")))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|e| {
            // figment reports one error per problem; the first is the one to fix.
            let whole = e.to_string();
            ConfigError(
                e.into_iter()
                    .next()
                    .map_or(whole, |first| first.to_string()),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        let public = self.public_url()?;
        if public.query().is_some() || public.fragment().is_some() {
            return Err(invalid(
                "server.public_url",
                "must not carry a query or fragment",
            ));
        }
        let landing = &self.server.after_sign_in_url;
        let local = crate::local_path::safe_return_path(Some(landing)).is_some();
        let absolute = Url::parse(landing).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !local && !absolute {
            return Err(invalid(
                "server.after_sign_in_url",
                format!("must be a path on this host (\"/app\") or an http(s) URL: {landing:?}"),
            ));
        }
        if let Some(bad) = self
            .dns
            .nameservers
            .iter()
            .find(|s| s.parse::<std::net::SocketAddr>().is_err())
        {
            return Err(invalid(
                "dns.nameservers",
                format!("must list ip:port addresses (\"127.0.0.1:53\"), not {bad:?}"),
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.server.log_level).is_err() {
            return Err(invalid(
                "server.log_level",
                format!("is not a valid filter: {:?}", self.server.log_level),
            ));
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        let cache = &self.cache.url;
        if cache != "memory" && !cache.starts_with("redis://") && !cache.starts_with("rediss://") {
            return Err(invalid(
                "cache.url",
                "must be \"memory\" or a redis:// / rediss:// URL",
            ));
        }
        if self.session.lifetime_seconds < 60 {
            return Err(invalid("session.lifetime_seconds", "must be at least 60"));
        }
        if self.session.admin_lifetime_seconds == 0 {
            return Err(invalid(
                "session.admin_lifetime_seconds",
                "must be at least 1",
            ));
        }
        let cookie = &self.session.cookie_name;
        if cookie.is_empty()
            || !cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "session.cookie_name",
                "must be non-empty letters, digits, '_' or '-'",
            ));
        }
        if self.saml.clock_skew_seconds > 600 {
            return Err(invalid(
                "saml.clock_skew_seconds",
                "must be at most 600 (ten minutes)",
            ));
        }
        if self.oidc.clock_skew_seconds > 600 {
            return Err(invalid(
                "oidc.clock_skew_seconds",
                "must be at most 600 (ten minutes)",
            ));
        }
        if self.oidc.discovery_cache_seconds < 60 {
            return Err(invalid(
                "oidc.discovery_cache_seconds",
                "must be at least 60",
            ));
        }
        if self.saml.metadata_refresh_seconds == 0 {
            return Err(invalid(
                "saml.metadata_refresh_seconds",
                "must be at least 1",
            ));
        }
        match Url::parse(&self.entra.authority) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => return Err(invalid("entra.authority", "must be an http(s) URL")),
        }
        if self.outbound.timeout_seconds == 0 {
            return Err(invalid("outbound.timeout_seconds", "must be at least 1"));
        }
        if self.scim.rate_limit_per_minute == 0 {
            return Err(invalid("scim.rate_limit_per_minute", "must be at least 1"));
        }
        let hooks = &self.webhooks;
        for (key, value) in [
            ("webhooks.timeout_seconds", hooks.timeout_seconds),
            ("webhooks.poll_interval_ms", hooks.poll_interval_ms),
            (
                "webhooks.max_retry_interval_seconds",
                hooks.max_retry_interval_seconds,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        // Renewed every third of it: at least once a second.
        if hooks.lease_seconds < 3 {
            return Err(invalid("webhooks.lease_seconds", "must be at least 3"));
        }
        // The SPEC's bound: a code lives at most 60 s.
        if !(1..=60).contains(&self.op.code_seconds) {
            return Err(invalid("op.code_seconds", "must be between 1 and 60"));
        }
        for (key, seconds) in [
            ("op.id_token_seconds", self.op.id_token_seconds),
            ("op.access_token_seconds", self.op.access_token_seconds),
        ] {
            if !(60..=86_400).contains(&seconds) {
                return Err(invalid(key, "must be between 60 and 86400 (a day)"));
            }
        }
        if self.provisioning.purge_interval_seconds == 0 {
            return Err(invalid(
                "provisioning.purge_interval_seconds",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|_| {
            invalid(
                "server.bind",
                format!("is not a host:port address: {:?}", self.server.bind),
            )
        })
    }

    /// The public base URL, without a trailing slash in its path.
    pub fn public_url(&self) -> Result<Url, ConfigError> {
        let url = Url::parse(&self.server.public_url).map_err(|e| {
            invalid(
                "server.public_url",
                format!("is not a URL ({e}): {:?}", self.server.public_url),
            )
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(invalid("server.public_url", "must be an http or https URL"));
        }
        Ok(url)
    }

    /// `public_url` joined with an absolute path, e.g. `/scim/v2/{id}`.
    pub fn external_url(&self, path: &str) -> String {
        format!("{}{}", self.server.public_url.trim_end_matches('/'), path)
    }

    pub fn public_url_is_https(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(overrides: &str) -> Result<Config, ConfigError> {
        Config::from_figment(Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(overrides)))
    }

    #[test]
    fn defaults_are_valid_and_match_the_spec() {
        let c = with("").unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://data/sso-gateway.db");
        assert_eq!(c.cache.url, "memory");
        assert!(c.saml.allow_idp_initiated);
        assert!(!c.outbound.allow_private_addresses);
        assert_eq!(c.entra.authority, "https://login.microsoftonline.com");
        assert_eq!(c.provisioning.deleted_team_retention_days, 30);
        assert_eq!(c.events.retention_days, 30);
        assert_eq!(c.webhooks.retry_hours, 72);
        assert_eq!(c.webhooks.secret_overlap_hours, 24);
        assert_eq!(c.audit.retention_days, 365);
        assert_eq!(c.op.code_seconds, 60);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("[server]\nbind = \"nope\"", "server.bind"),
            ("[server]\npublic_url = \"ftp://x\"", "server.public_url"),
            ("[database]\nurl = \"mysql://x\"", "database.url"),
            ("[cache]\nurl = \"memcached://x\"", "cache.url"),
            (
                "[saml]\nclock_skew_seconds = \"soon\"",
                "clock_skew_seconds",
            ),
            ("[saml]\nallow_idp_initiated = 3", "allow_idp_initiated"),
            ("[server]\nlog_format = \"xml\"", "log_format"),
            ("[server]\nbogus = 1", "bogus"),
            ("[op]\ncode_seconds = 61", "op.code_seconds"),
            ("[op]\ncode_seconds = 0", "op.code_seconds"),
            ("[op]\nid_token_seconds = 5", "op.id_token_seconds"),
            (
                "[server]\nafter_sign_in_url = \"javascript:alert(1)\"",
                "server.after_sign_in_url",
            ),
            (
                "[server]\nafter_sign_in_url = \"//evil.example\"",
                "server.after_sign_in_url",
            ),
        ];
        for (toml, key) in cases {
            let err = with(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "custom.toml",
                "[server]\nbind = \"127.0.0.1:9000\"\npublic_url = \"https://sso.example.com/\"",
            )?;
            jail.set_env("SSO_GATEWAY__SAML__CLOCK_SKEW_SECONDS", "5");
            jail.set_env("SSO_GATEWAY__SERVER__BIND", "127.0.0.1:9100");
            let c = Config::load(Some(Path::new("custom.toml"))).unwrap();
            assert_eq!(c.server.bind, "127.0.0.1:9100");
            assert_eq!(c.saml.clock_skew_seconds, 5);
            assert!(c.public_url_is_https());
            assert_eq!(
                c.external_url("/scim/v2/x"),
                "https://sso.example.com/scim/v2/x"
            );
            Ok(())
        });
    }

    #[test]
    fn missing_config_file_is_a_clear_error() {
        let err = Config::load(Some(Path::new("/nonexistent/sso.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/sso.toml"));
    }
}
