//! The gateway as an OpenID Provider: full round trips per second, as
//! numbers (not a pass/fail test), next to the RS256 signing ceiling.
//!
//! A real gateway (release build, SQLite + in-process cache) and the
//! loopback SAML IdP of the tests. One person signs in through the IdP
//! once; then each round trip is what a product's app does for a person
//! who already has a gateway session: `GET /oauth2/authorize` (PKCE S256,
//! state, nonce; answered at once with a code) → `POST /oauth2/token`
//! (client_secret_basic, PKCE check, one RS256-signed ID token) → `GET
//! /oauth2/userinfo`. The load comes from this process, on the same cores.
//!
//! Beside it: `openssl speed rsa2048` (one core, and all cores with
//! `-multi`), measured in the same run before the load, and the cost of one
//! ID token signed the way the gateway signs it (josekit over OpenSSL).
//!
//! Run: `cargo bench --bench op_roundtrip` (env ROUND_TRIPS=…, CONCURRENCY=…).
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::idp::{self, TestIdp};
use common::Gateway;
use josekit::jwk::KeyPair;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// `cargo bench` passes `--bench`; under `cargo test --all-targets` this runs
/// as a quick smoke check with small counts.
fn env_usize(name: &str, default: usize) -> usize {
    let default = if smoke() { default.min(20) } else { default };
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// sign/s of `openssl speed rsa2048` (its last "rsa 2048 bits" line).
fn openssl_sign_per_second(multi: Option<usize>) -> Option<f64> {
    let mut command = Command::new("openssl");
    command.args(["speed", "-seconds", "3"]);
    if let Some(n) = multi {
        command.args(["-multi", &n.to_string()]);
    }
    let out = command.arg("rsa2048").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("rsa 2048 bits"))?;
    line.split_whitespace().nth(5)?.parse().ok()
}

/// µs per ID token signed as the gateway does: josekit RS256 over OpenSSL,
/// the key parsed once.
fn josekit_sign_micros() -> f64 {
    let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let signer = josekit::jws::RS256
        .signer_from_pem(pair.to_pem_private_key())
        .unwrap();
    let claims = json!({
        "iss": "https://sso.example.com", "aud": "client", "sub": "0b8f1c4e-3a5d-4e2b-9c7a-6d1e2f3a4b5c",
        "email": "ada@example.com", "email_verified": false, "name": "Ada Lovelace",
        "org_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "org_name": "Acme", "role": "member",
        "teams": ["Engineering"], "nonce": "n", "auth_time": 1, "iat": 1, "exp": 2,
    });
    let payload = josekit::jwt::JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let header = josekit::jws::JwsHeader::new();
    let n = if smoke() { 20 } else { 3000 };
    let clock = Instant::now();
    for _ in 0..n {
        josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap();
    }
    clock.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// The session cookie of one person signed in through the IdP.
async fn session_cookie(gw: &Gateway, integration_id: &str) -> String {
    let browser = gw.browser();
    let start = gw.url(&format!("/users/sign-in/sso/okta/{integration_id}"));
    let to_idp = browser.get(&start).send().await.unwrap();
    let idp_url = to_idp.headers()["location"].to_str().unwrap().to_string();
    let page = browser.get(&idp_url).send().await.unwrap();
    let (action, fields) = idp::parse_form(&page.text().await.unwrap());
    let done = browser.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(done.status(), 303);
    support::session_cookie(&done)
}

/// One OP round trip's fixed parts.
struct RoundTrip {
    http: reqwest::Client,
    cookie: String,
    authorize: String,
    token_url: String,
    userinfo_url: String,
    client_id: String,
    client_secret: String,
    verifier: String,
}

impl RoundTrip {
    /// Authorize (state `r{k}`) → code → token → userinfo.
    async fn run(&self, k: usize) {
        let res = self
            .http
            .get(format!("{}&state=r{k}", self.authorize))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        let back = res.headers()["location"].to_str().unwrap().to_string();
        let code = reqwest::Url::parse(&back)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap_or_else(|| panic!("{back}"))
            .1
            .into_owned();
        let tokens: Value = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &self.verifier),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = tokens["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{tokens}"));
        let me = self
            .http
            .get(&self.userinfo_url)
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
    }
}

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (sign_one, sign_all) = if smoke() {
        (None, None)
    } else {
        (
            openssl_sign_per_second(None),
            openssl_sign_per_second(Some(cores)),
        )
    };
    let josekit_us = josekit_sign_micros();

    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Bench");
    let api = gw.api(&token);
    api.add_team("Eng", &["example.com"]).await;
    let integration = api.connect_okta(&idp).await;
    let cookie = session_cookie(&gw, integration["id"].as_str().unwrap()).await;
    let out = gw.cli(&[
        "client",
        "create",
        "--name",
        "Bench",
        "--redirect-uri",
        REDIRECT_URI,
        "--json",
    ]);
    assert!(out.status.success());
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let client_id = line["client_id"].as_str().unwrap().to_string();
    let client_secret = line["client_secret"].as_str().unwrap().to_string();

    let n = env_usize("ROUND_TRIPS", 6000);
    let concurrency = env_usize("CONCURRENCY", 32);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let verifier = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize = format!(
        "{}?client_id={client_id}&redirect_uri={}&response_type=code&scope=openid%20email%20profile\
         &nonce=bench&code_challenge={challenge}&code_challenge_method=S256",
        gw.url("/oauth2/authorize"),
        url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>(),
    );
    let (token_url, userinfo_url) = (gw.url("/oauth2/token"), gw.url("/oauth2/userinfo"));
    // What every round trip needs, shared by the tasks.
    let round = Arc::new(RoundTrip {
        http,
        cookie,
        authorize,
        token_url,
        userinfo_url,
        client_id,
        client_secret,
        verifier,
    });
    let round_trip = move |k: usize| {
        let round = round.clone();
        async move { round.run(k).await }
    };
    let (per_second, p50, p99) = support::drive((0..n).collect(), concurrency, round_trip).await;
    let shown = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.0}"));
    println!(
        "machine: {cores} cores, shared with the load generator; store: SQLite (default), cache: in-process"
    );
    println!(
        "OP round trips/s (authorize with a session → code → token → userinfo): {per_second:.0}  \
         (n={n}, concurrency={concurrency}, p50={:.1} ms, p99={:.1} ms)",
        p50, p99,
    );
    println!(
        "openssl speed rsa2048 sign/s: {} on one core, {} on {cores} cores; one ID token signed \
         as the gateway does: {josekit_us:.0} µs",
        shown(sign_one),
        shown(sign_all),
    );
    if let Some(one) = sign_one {
        println!(
            "round trips / one-core sign ceiling: {:.2}",
            per_second / one
        );
    }
    println!(
        "{}",
        json!({
            "op_round_trips_per_s": per_second.round(),
            "p50_ms": p50, "p99_ms": p99,
            "openssl_rsa2048_sign_per_s_one_core": sign_one,
            "openssl_rsa2048_sign_per_s_all_cores": sign_all,
            "id_token_sign_us": josekit_us,
        })
    );
}
