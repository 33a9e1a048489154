//! TXT look-ups for domain verification, through a real resolver
//! (hickory): the system's nameservers, or `dns.nameservers` (tests point
//! it at a loopback server).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::TokioAsyncResolver;

use crate::config::DnsConfig;

/// Why a look-up found no answer, in words an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("there is no TXT record at {0}")]
    NoRecord(String),
    #[error("the DNS look-up of {0} timed out; try again in a minute")]
    Timeout(String),
    #[error("the DNS look-up of {name} failed ({why}); try again in a minute")]
    Failed { name: String, why: String },
}

/// The resolver, or why there is none (a machine without
/// /etc/resolv.conf still runs the gateway; only verification then fails,
/// saying why).
#[derive(Clone)]
pub struct Dns {
    resolver: Result<TokioAsyncResolver, String>,
}

impl Dns {
    pub fn new(config: &DnsConfig) -> Self {
        Dns {
            resolver: Self::resolver(config),
        }
    }

    /// A resolver for `config`; with no nameservers set, the system's.
    fn resolver(config: &DnsConfig) -> Result<TokioAsyncResolver, String> {
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_millis(config.timeout_ms);
        options.attempts = 2;
        // Verification must see a record as soon as the admin added it, and
        // its removal at the next re-check: no positive or negative caching.
        options.cache_size = 0;
        if config.nameservers.is_empty() {
            let (system, _) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?;
            Ok(TokioAsyncResolver::tokio(system, options))
        } else {
            let addrs: Vec<SocketAddr> = config
                .nameservers
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|_| format!("dns.nameservers: {s:?} is not ip:port"))
                })
                .collect::<Result<_, _>>()?;
            let mut group = NameServerConfigGroup::new();
            for addr in addrs {
                group.merge(NameServerConfigGroup::from_ips_clear(
                    &[addr.ip()],
                    addr.port(),
                    true,
                ));
            }
            Ok(TokioAsyncResolver::tokio(
                ResolverConfig::from_parts(None, vec![], group),
                options,
            ))
        }
    }

    /// The TXT strings at `name` (each record's parts joined, as RFC 7208
    /// reads them).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        // Fully qualified: no search-domain guessing.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let resolver = self.resolver.as_ref().map_err(|why| DnsError::Failed {
            name: name.to_string(),
            why: why.clone(),
        })?;
        match resolver.txt_lookup(fqdn).await {
            Ok(found) => Ok(found
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>()
                })
                .collect()),
            Err(e) => Err(match e.kind() {
                ResolveErrorKind::NoRecordsFound {
                    response_code: ResponseCode::NXDomain | ResponseCode::NoError,
                    ..
                } => DnsError::NoRecord(name.to_string()),
                ResolveErrorKind::NoRecordsFound { response_code, .. } => DnsError::Failed {
                    name: name.to_string(),
                    why: response_code.to_string(),
                },
                ResolveErrorKind::Timeout => DnsError::Timeout(name.to_string()),
                _ => DnsError::Failed {
                    name: name.to_string(),
                    why: e.to_string(),
                },
            }),
        }
    }
}
