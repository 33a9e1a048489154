//! Outbound HTTP to addresses an admin chose (SAML metadata URLs, OIDC
//! discovery and keys): the SSRF surface.
//!
//! Unless `outbound.allow_private_addresses` is on, no request may reach a
//! loopback, private, link-local or otherwise internal address — checked for
//! literal IPs in the URL, after every DNS resolution (so DNS answers and
//! rebinding are covered), and on every redirect. Plain http needs
//! `outbound.allow_http`. Responses are bounded in time and size.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::config::OutboundConfig;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0} is not an http(s) URL")]
    BadUrl(String),
    #[error("plain http is not allowed for {0}; use https (or turn on outbound.allow_http)")]
    InsecureScheme(String),
    #[error("{host} resolves to {ip}, a private/loopback/link-local address, which is not allowed (outbound.allow_private_addresses)")]
    PrivateAddress { host: String, ip: IpAddr },
    #[error("could not resolve {0}")]
    Dns(String),
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{0} redirected too many times or to a forbidden address")]
    Redirect(String),
}

/// An HTTP client that enforces the outbound policy.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    no_redirects: reqwest::Client,
    config: OutboundConfig,
}

/// Addresses no admin-supplied URL may reach by default.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local (deprecated)
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0)
                || v6.segments()[..6] == [0; 6] // IPv4-compatible ::a.b.c.d
                || v6.segments()[..6] == [0, 0, 0, 0, 0xffff, 0] // ::ffff:0:a.b.c.d
                || (seg0 == 0x2001 && v6.segments()[1] == 0) // Teredo 2001::/32
                || (seg0 == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 can reach v4 internals
                || seg0 == 0x2002 // 6to4 embeds any v4 address
        }
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// Resolves names and drops the answer if any address is internal.
struct PolicyResolver {
    allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| {
                    Box::new(FetchError::Dns(host.clone()))
                        as Box<dyn std::error::Error + Send + Sync>
                })?
                .collect();
            if !allow_private {
                // One internal address is enough to refuse: a name that mixes
                // public and internal answers is a rebinding trick.
                if let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
                    return Err(Box::new(FetchError::PrivateAddress { host, ip: bad.ip() }) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl Outbound {
    /// Fails only if the TLS backend cannot start, which start-up reports.
    pub fn new(config: &OutboundConfig) -> Result<Self, reqwest::Error> {
        let policy_config = config.clone();
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > policy_config.max_redirects {
                let url = attempt.url().to_string();
                return attempt.error(FetchError::Redirect(url));
            }
            match check_url(&policy_config, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        Ok(Outbound {
            client: build_client(config, redirect)?,
            no_redirects: build_client(config, reqwest::redirect::Policy::none())?,
            config: config.clone(),
        })
    }

    /// A client for back-channel calls that must not follow redirects (the
    /// OIDC token endpoint: a redirect there would re-send the code and
    /// secret somewhere else). The DNS policy comes with it; call
    /// [`Outbound::check`] on the URL first for the scheme and literal IPs.
    pub fn no_redirect_client(&self) -> &reqwest::Client {
        &self.no_redirects
    }

    /// The scheme and address policy for a URL about to be requested.
    pub fn check(&self, url: &str) -> Result<(), FetchError> {
        let parsed = Url::parse(url).map_err(|_| FetchError::BadUrl(url.to_string()))?;
        check_url(&self.config, &parsed)
    }

    /// GETs `url` and returns the body, refusing anything the policy forbids.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let limit = self.config.max_response_bytes;
        self.fetch(url, &self.client, None, limit)
            .await
            .map(|(_, body)| body)
    }

    /// GETs `url` with a bearer token (an OIDC userinfo call): redirects
    /// are not followed (they would carry the token elsewhere), at most
    /// `limit` bytes are read. Returns the content type and the body.
    pub async fn get_with_bearer(
        &self,
        url: &str,
        token: &str,
        limit: usize,
    ) -> Result<(String, Vec<u8>), FetchError> {
        self.fetch(url, &self.no_redirects, Some(token), limit)
            .await
    }

    async fn fetch(
        &self,
        url: &str,
        client: &reqwest::Client,
        bearer: Option<&str>,
        limit: usize,
    ) -> Result<(String, Vec<u8>), FetchError> {
        let parsed = Url::parse(url).map_err(|_| FetchError::BadUrl(url.to_string()))?;
        check_url(&self.config, &parsed)?;
        let mut request = client.get(parsed);
        if let Some(token) = bearer {
            request = request
                .bearer_auth(token)
                .header(reqwest::header::ACCEPT, "application/json");
        }
        let response = request.send().await.map_err(|e| self.describe(url, e))?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > limit)
        {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.describe(url, e))?;
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((content_type, body))
    }

    /// Finds our policy error inside reqwest's error chain, if that is what failed.
    pub fn describe(&self, url: &str, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout {
                url: url.to_string(),
                seconds: self.config.timeout_seconds,
            };
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if let Some(policy) = err.downcast_ref::<FetchError>() {
                return match policy {
                    FetchError::PrivateAddress { host, ip } => FetchError::PrivateAddress {
                        host: host.clone(),
                        ip: *ip,
                    },
                    FetchError::Dns(h) => FetchError::Dns(h.clone()),
                    FetchError::InsecureScheme(u) => FetchError::InsecureScheme(u.clone()),
                    other => FetchError::Redirect(other.to_string()),
                };
            }
            source = err.source();
        }
        FetchError::Connect {
            url: url.to_string(),
            reason: e.without_url().to_string(),
        }
    }
}

fn build_client(
    config: &OutboundConfig,
    redirect: reqwest::redirect::Policy,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PolicyResolver {
            allow_private: config.allow_private_addresses,
        }))
        .redirect(redirect)
        .timeout(Duration::from_secs(config.timeout_seconds))
        .connect_timeout(Duration::from_secs(config.timeout_seconds))
        .user_agent(concat!("sso-gateway/", env!("CARGO_PKG_VERSION")))
        // A proxy from the environment would resolve names itself,
        // past the resolver that enforces the address policy.
        .no_proxy()
        .build()
}

/// Scheme and literal-IP checks (names are checked when resolved).
fn check_url(config: &OutboundConfig, url: &Url) -> Result<(), FetchError> {
    match url.scheme() {
        "https" => {}
        "http" if config.allow_http => {}
        "http" => return Err(FetchError::InsecureScheme(url.to_string())),
        _ => return Err(FetchError::BadUrl(url.to_string())),
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(FetchError::BadUrl(url.to_string())),
    };
    if !config.allow_private_addresses && is_internal(ip) {
        return Err(FetchError::PrivateAddress {
            host: url.host_str().unwrap_or_default().to_string(),
            ip,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allow_private: bool, allow_http: bool) -> OutboundConfig {
        OutboundConfig {
            allow_private_addresses: allow_private,
            allow_http,
            timeout_seconds: 2,
            max_response_bytes: 1024,
            max_redirects: 2,
        }
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2002:7f00:1::",
            "::127.0.0.1",
            "::ffff:0:a00:1",
            "2001::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    /// A tiny loopback HTTP server answering every connection with `response`.
    async fn serve_once(response: String) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        port
    }

    fn http_response(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn refuses_private_targets_by_literal_ip_and_by_name() {
        let port = serve_once(http_response("200 OK", "", "hello")).await;
        let strict = Outbound::new(&config(false, true)).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/m"),
            format!("http://localhost:{port}/m"),
            format!("http://[::1]:{port}/m"),
        ] {
            let err = strict.get(&url).await.unwrap_err();
            assert!(
                matches!(err, FetchError::PrivateAddress { .. }),
                "{url}: {err}"
            );
            assert!(err.to_string().contains("private"), "{err}");
        }
        let open = Outbound::new(&config(true, true)).unwrap();
        assert_eq!(
            open.get(&format!("http://localhost:{port}/m"))
                .await
                .unwrap(),
            b"hello"
        );
    }

    #[tokio::test]
    async fn refuses_http_unless_allowed() {
        let no_http = Outbound::new(&config(true, false)).unwrap();
        let err = no_http.get("http://127.0.0.1:9/m").await.unwrap_err();
        assert!(matches!(err, FetchError::InsecureScheme(_)), "{err}");
        assert!(matches!(
            no_http.get("file:///etc/passwd").await.unwrap_err(),
            FetchError::BadUrl(_)
        ));
    }

    #[tokio::test]
    async fn redirects_are_checked_again() {
        let open = Outbound::new(&config(true, true)).unwrap();
        let target = serve_once(http_response("200 OK", "", "metadata")).await;
        let hop = serve_once(http_response(
            "302 Found",
            &format!("Location: http://127.0.0.1:{target}/\r\n"),
            "",
        ))
        .await;
        assert_eq!(
            open.get(&format!("http://127.0.0.1:{hop}/")).await.unwrap(),
            b"metadata"
        );
        // Every hop passes the URL policy: a redirect to another scheme is refused …
        let sideways = serve_once(http_response(
            "302 Found",
            "Location: gopher://127.0.0.1:70/\r\n",
            "",
        ))
        .await;
        assert!(open
            .get(&format!("http://127.0.0.1:{sideways}/"))
            .await
            .is_err());
        // … and so is a redirect loop.
        let loops = serve_once(http_response("302 Found", "Location: /again\r\n", "")).await;
        assert!(open
            .get(&format!("http://127.0.0.1:{loops}/"))
            .await
            .is_err());
        // Under the default policy a redirect can never land on an internal
        // address: literal IPs are checked per hop, names when resolved.
        let strict = config(false, true);
        for url in [
            "http://127.0.0.1/",
            "http://[::ffff:10.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            assert!(
                matches!(
                    check_url(&strict, &Url::parse(url).unwrap()),
                    Err(FetchError::PrivateAddress { .. })
                ),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn bounds_size_status_and_time() {
        let open = Outbound::new(&config(true, true)).unwrap();
        let big = serve_once(http_response("200 OK", "", &"x".repeat(5000))).await;
        assert!(matches!(
            open.get(&format!("http://127.0.0.1:{big}/")).await,
            Err(FetchError::TooLarge { .. })
        ));
        let missing = serve_once(http_response("404 Not Found", "", "")).await;
        assert!(matches!(
            open.get(&format!("http://127.0.0.1:{missing}/")).await,
            Err(FetchError::Status { status: 404, .. })
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = listener.local_addr().unwrap().port();
        let started = std::time::Instant::now();
        let err = open
            .get(&format!("http://127.0.0.1:{silent}/"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
        let closed = closed_port();
        assert!(matches!(
            open.get(&format!("http://127.0.0.1:{closed}/")).await,
            Err(FetchError::Connect { .. })
        ));
    }

    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}
