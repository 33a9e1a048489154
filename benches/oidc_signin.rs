//! OIDC callback throughput, as numbers (not a pass/fail test).
//!
//! A real gateway (release build, SQLite + in-process cache) and the
//! loopback OpenID provider of the tests, in this process. Sign-ins are
//! started and sent through the provider first; then the callbacks alone are
//! replayed against the gateway at the given concurrency. Each callback
//! takes the pending state, redeems the code at the provider's token
//! endpoint (PKCE + client secret, an RS256 signature on the provider's side),
//! verifies the ID token, admits the person, opens a session and audits.
//!
//! Run: `cargo bench --bench oidc_signin` (env SIGNINS=…, CONCURRENCY=…).
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use common::op::{TestOp, CLIENT_ID, CLIENT_SECRET, TENANT};
use common::Gateway;
use serde_json::json;

/// `cargo bench` passes `--bench`; under `cargo test --all-targets` this runs
/// as a quick smoke check with small counts.
fn env_usize(name: &str, default: usize) -> usize {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let default = if smoke { default.min(20) } else { default };
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A started sign-in: its callback URL and the browser cookie bound to it.
async fn started(http: &reqwest::Client, start: &str) -> (String, String) {
    let to_op = http.get(start).send().await.unwrap();
    let cookie = to_op.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let authorize = to_op.headers()["location"].to_str().unwrap().to_string();
    let back = http.get(&authorize).send().await.unwrap();
    (
        back.headers()["location"].to_str().unwrap().to_string(),
        cookie,
    )
}

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let op = TestOp::start_with_workers("ada@example.com", cores).await;
    let gw = Gateway::start_with(&[("SSO_GATEWAY__ENTRA__AUTHORITY", &op.base)]).await;
    let (_, token) = gw.create_org("Bench");
    let api = gw.api(&token);
    api.add_team("Eng", &["example.com"]).await;
    let integration = api
        .connect(json!({"kind": "entra", "tenant": TENANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
        .await;
    let start = gw.url(&format!(
        "/users/sign-in/sso/entra/{}",
        integration["id"].as_str().unwrap()
    ));
    let n = env_usize("SIGNINS", 3000);
    let concurrency = env_usize("CONCURRENCY", 32);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();

    let mut pending = Vec::with_capacity(n);
    for _ in 0..n {
        pending.push(started(&http, &start).await);
    }
    let callback = {
        let http = http.clone();
        move |(callback, cookie): (String, String)| {
            let http = http.clone();
            async move {
                let res = http
                    .get(&callback)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
            }
        }
    };
    let (per_second, p50, p99) = support::drive(pending, concurrency, callback).await;
    println!(
        "machine: {cores} cores; store: SQLite (default), cache: in-process; OP in this process"
    );
    println!(
        "oidc callbacks/s: {per_second:.0}  (n={n}, concurrency={concurrency}, p50={:.1} ms, p99={:.1} ms, token requests={})",
        p50,
        p99,
        op.token_requests()
    );
    println!(
        "{}",
        json!({"oidc_callbacks_per_s": per_second.round(), "p50_ms": p50, "p99_ms": p99})
    );
}
