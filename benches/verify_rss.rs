//! `/auth/verify` throughput and the gateway's memory, as numbers.
//!
//! 1. Idle RSS of a fresh release gateway (default store: SQLite + the
//!    in-process cache), and of the peers at idle (when scripts/bench.sh
//!    gives them: `JACKSON_HARNESS`, `SCIM2_SERVER_BIN`).
//! 2. `/auth/verify` req/s and p50/p99 for a signed-in session (one real
//!    SAML sign-in), wrk from its own process, SECONDS (10) long.
//! 3. RSS at FILL_USERS (1,000,000) users: the users, their memberships and
//!    their SCIM resources are written straight into the gateway's SQLite
//!    file (one SQL statement each; through SCIM it would take the length
//!    of a 1M-user sync), then wrk drives `/auth/verify` and SCIM filter
//!    GETs for random users at once while the gateway's RSS is sampled;
//!    the peak is reported.
//! 4. When PostgreSQL and Redis are given (`SSO_GATEWAY_BENCH_POSTGRES_URL`
//!    and `SSO_GATEWAY_BENCH_REDIS_URL`, set by scripts/bench.sh; or the
//!    tests' `SSO_GATEWAY_TEST_…` pair): two instances on them, one
//!    session; wrk drives `/auth/verify` on instance A while instance B
//!    provisions a user through SCIM every 100 ms (each write moves the
//!    organization on, so A re-reads its members), then on A and B at once.
//!
//!
//! wrk (2. and 4.) measures at saturation: its connections wait for each
//! answer, so its p99 is that of a queue kept full. Beside each, the same
//! requests at a fixed offered rate, RATE per second (25,000, the goal's
//! per-instance rate), open loop (`support::open_loop`: timed from when
//! each request fell due, so without coordinated omission).
//!
//! `BENCH_GATEWAY_BIN` runs another build of the gateway (before/after).
//! Run: `scripts/bench.sh verify` or `cargo bench --bench verify_rss`.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../tests/common/idp.rs"]
mod idp;
mod support;
#[allow(dead_code)]
#[path = "../tests/common/xmlenc.rs"]
mod xmlenc;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Connection;
use support::open_loop::{open_loop, OpenLoopResult};
use support::{env_usize, rss_kib, smoke, wrk, Backend, Gateway, Process, WrkResult};

const ISSUER: &str = "http://www.okta.com/exkbench";

/// One real sign-in: the session cookie (`name=value`).
async fn sign_in(http: &reqwest::Client, acs: &str) -> String {
    let xml = idp::signed_xml(&idp::Spec::ok(ISSUER, acs, "ada@example.com"));
    let res = http
        .post(acs)
        .form(&[("SAMLResponse", idp::encode(&xml))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "sign-in refused");
    support::session_cookie(&res)
}

/// Writes `n` users, their memberships and SCIM resources directly.
async fn fill(db_url: &str, org_id: &str, integration_id: &str, n: usize) {
    let path = db_url.trim_start_matches("sqlite://");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query("PRAGMA busy_timeout = 30000")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $1 - 1) \
         INSERT INTO users (id, email, email_key, given_name, family_name, display_name, created_at, updated_at) \
         SELECT 'fill-' || i, 'fill' || i || '@example.com', 'fill' || i || '@example.com', 'User', 'N' || i, NULL, i, i FROM c",
    )
    .bind(n as i64)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, scim_managed, created_at) \
         SELECT $1, id, 'member', 1, created_at FROM users WHERE id LIKE 'fill-%'",
    )
    .bind(org_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO scim_users (id, integration_id, org_id, user_id, user_name, user_name_key, external_id, active, \
         resource, password_hash, version, created_at, updated_at) \
         SELECT 's' || id, $1, $2, id, email, email_key, 'ext-' || id, 1, \
         '{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"' || email || \
         '\",\"active\":true,\"externalId\":\"ext-' || id || '\",\"name\":{\"givenName\":\"User\",\"familyName\":\"' || family_name || \
         '\"},\"emails\":[{\"primary\":true,\"type\":\"work\",\"value\":\"' || email || '\"}]}', \
         NULL, 1, created_at, created_at FROM users WHERE id LIKE 'fill-%'",
    )
    .bind(integration_id)
    .bind(org_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Idle RSS of a peer process once it answers (KiB).
async fn peer_idle_rss(name: &str) -> Option<(String, u64)> {
    let port = support::free_port();
    let (process, health) = match name {
        "saml-jackson" => {
            let dir = std::env::var("JACKSON_HARNESS").ok()?;
            let mut cmd = Command::new("node");
            cmd.arg("server.js")
                .current_dir(dir)
                .env("PORT", port.to_string());
            (Process::spawn(name, cmd), "/healthz")
        }
        _ => {
            let bin = std::env::var("SCIM2_SERVER_BIN").ok()?;
            let mut cmd = Command::new(bin);
            cmd.args(["--port", &port.to_string(), "--bearer-token", "t"]);
            (Process::spawn(name, cmd), "/ServiceProviderConfig")
        }
    };
    support::wait_http(
        &support::http(),
        &format!("http://127.0.0.1:{port}{health}"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Some((name.to_string(), rss_kib(process.pid())))
}

/// Two instances on PostgreSQL + Redis (step 4): verify on A while B
/// writes through SCIM every 100 ms; then verify on both at once.
async fn two_instances(redis_url: &str, seconds: u64, rate: u64) -> Value {
    let http = support::http();
    let a = Gateway::start(Backend::Postgres, &[("SSO_GATEWAY__CACHE__URL", redis_url)]).await;
    let b = a.start_twin().await;
    a.add_team(&http, "Eng", &["example.com"]).await;
    let integration = a.okta_integration(&http, idp::CERT_PEM, ISSUER).await;
    let integration_id = integration["id"].as_str().unwrap().to_string();
    let acs = integration["acs_url"].as_str().unwrap().to_string();
    let (tenant, scim_token) = a.scim_tenant(&http, &integration_id).await;
    let cookie = sign_in(&http, &acs).await;
    let users_on_b = format!("{}/Users", tenant.replacen(&a.base, &b.base, 1));

    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let (writing, http) = (writing.clone(), http.clone());
        tokio::spawn(async move {
            let (mut written, mut i) = (0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let name = format!("writer{i}@example.com");
                i += 1;
                let res = http
                    .post(&users_on_b)
                    .bearer_auth(&scim_token)
                    .json(
                        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                  "userName": name, "active": true,
                                  "emails": [{"primary": true, "value": name}]}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201, "SCIM write on B");
                written += 1;
            }
            written
        })
    };
    let on = |gw: &Gateway, connections: usize| {
        let (url, cookie) = (format!("{}/auth/verify", gw.base), cookie.clone());
        std::thread::spawn(move || wrk(&url, &[("Cookie", &cookie)], None, connections, seconds))
    };
    let a_alone = on(&a, 64).join().unwrap();
    show("/auth/verify on A, B writing (PG+Redis)", &a_alone);
    let (url, a_cookie) = (format!("{}/auth/verify", a.base), cookie.clone());
    let a_rate =
        std::thread::spawn(move || open_loop(&url, &[("Cookie", &a_cookie)], rate, 64, seconds))
            .join()
            .unwrap();
    show_open("/auth/verify on A at a fixed rate, B writing", &a_rate);
    let (on_a, on_b) = (on(&a, 32), on(&b, 32));
    let (both_a, both_b) = (on_a.join().unwrap(), on_b.join().unwrap());
    show("/auth/verify on A, with B loaded too", &both_a);
    show("/auth/verify on B, with A loaded too", &both_b);
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    println!("SCIM writes on B meanwhile: {written}");
    json!({"a_alone_per_s": a_alone.requests_per_s, "a_alone_p99_ms": a_alone.p99_ms,
           "a_rate_offered_per_s": a_rate.offered_per_s, "a_rate_answered_per_s": a_rate.answered_per_s,
           "a_rate_p99_ms": a_rate.p99_ms,
           "both_a_per_s": both_a.requests_per_s, "both_a_p99_ms": both_a.p99_ms,
           "both_b_per_s": both_b.requests_per_s, "both_b_p99_ms": both_b.p99_ms,
           "scim_writes": written})
}

fn show(name: &str, r: &WrkResult) {
    println!(
        "{name:<44} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  non-2xx {}",
        r.requests_per_s, r.p50_ms, r.p99_ms, r.non_2xx
    );
}

fn show_open(name: &str, r: &OpenLoopResult) {
    println!(
        "{name:<44} {:>9.0} req/s answered of {:.0} offered  p50 {:>6.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  non-2xx {}",
        r.answered_per_s, r.offered_per_s, r.p50_ms, r.p99_ms, r.max_ms, r.non_2xx
    );
}

#[tokio::main]
async fn main() {
    let seconds = env_usize("SECONDS", 10, 1) as u64;
    let fill_users = env_usize("FILL_USERS", 1_000_000, 50);
    let rate = env_usize("RATE", 25_000, 1) as u64;
    println!("machine: {}", support::machine());
    let http = support::http();
    let gw = Gateway::start(Backend::Sqlite, &[]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = rss_kib(gw.pid());
    println!(
        "idle RSS sso-gateway (SQLite, in-process cache): {:.1} MiB",
        idle_rss as f64 / 1024.0
    );

    gw.add_team(&http, "Eng", &["example.com"]).await;
    let integration = gw.okta_integration(&http, idp::CERT_PEM, ISSUER).await;
    let integration_id = integration["id"].as_str().unwrap().to_string();
    let acs = integration["acs_url"].as_str().unwrap().to_string();
    let (tenant, scim_token) = gw.scim_tenant(&http, &integration_id).await;
    let cookie = sign_in(&http, &acs).await;
    let verify_url = format!("{}/auth/verify", gw.base);

    let org: Value = http
        .get(gw.api("/organization"))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org_id = org["id"].as_str().unwrap().to_string();

    if smoke() {
        let res = http
            .get(&verify_url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        fill(&gw.db_url, &org_id, &integration_id, fill_users).await;
        let res = http
            .get(format!("{tenant}/Users"))
            .query(&[("filter", "userName eq \"fill7@example.com\"")])
            .bearer_auth(&scim_token)
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["totalResults"], 1, "{body}");
        println!("smoke mode: wrk and peers skipped (cargo bench runs them)");
        return;
    }

    let verify = wrk(&verify_url, &[("Cookie", &cookie)], None, 64, seconds);
    show("/auth/verify (1 user)", &verify);
    let verify_rate = open_loop(&verify_url, &[("Cookie", &cookie)], rate, 64, seconds);
    show_open("/auth/verify (1 user) at a fixed rate", &verify_rate);
    let redis_url = std::env::var("SSO_GATEWAY_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("SSO_GATEWAY_TEST_REDIS_URL"))
        .ok();
    let shared = match (support::postgres_admin_url(), redis_url) {
        (Some(_), Some(redis_url)) => two_instances(&redis_url, seconds, rate).await,
        _ => {
            println!("two instances: not run (no PostgreSQL + Redis given)");
            Value::Null
        }
    };

    let t = Instant::now();
    fill(&gw.db_url, &org_id, &integration_id, fill_users).await;
    println!(
        "filled {fill_users} users in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let after_fill = rss_kib(gw.pid());

    // Both loads at once, from two wrk processes, RSS sampled meanwhile.
    let prefix = url::Url::parse(&tenant).unwrap().path().to_string();
    let script = support::user_filter_script(&prefix, "fill", fill_users, 7);
    let auth = format!("Bearer {scim_token}");
    let (v_url, v_cookie) = (verify_url.clone(), cookie.clone());
    let verify_load =
        std::thread::spawn(move || wrk(&v_url, &[("Cookie", &v_cookie)], None, 32, seconds));
    let base = gw.base.clone();
    let scim_load = std::thread::spawn(move || {
        wrk(
            &base,
            &[("Authorization", &auth)],
            Some(&script),
            16,
            seconds,
        )
    });
    let mut peak = 0;
    let until = Instant::now() + Duration::from_secs(seconds + 1);
    while Instant::now() < until {
        peak = peak.max(rss_kib(gw.pid()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let verify_1m = verify_load.join().unwrap();
    let scim_1m = scim_load.join().unwrap();
    peak = peak.max(rss_kib(gw.pid()));
    show(
        &format!("/auth/verify at {fill_users} users (with SCIM load)"),
        &verify_1m,
    );
    show(
        &format!("SCIM filter GETs at {fill_users} users (with verify load)"),
        &scim_1m,
    );
    println!(
        "RSS sso-gateway: idle {:.1} MiB; after filling {fill_users} users {:.1} MiB; peak under load {:.1} MiB",
        idle_rss as f64 / 1024.0,
        after_fill as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    drop(gw);

    let mut peers = Vec::new();
    for name in ["saml-jackson", "scim2-server"] {
        match peer_idle_rss(name).await {
            Some((n, kib)) => {
                println!(
                    "idle RSS {n}: {:.1} MiB (sso-gateway / {n}: {:.2})",
                    kib as f64 / 1024.0,
                    idle_rss as f64 / kib as f64
                );
                peers.push(json!({"peer": n, "idle_rss_kib": kib}));
            }
            None => println!("idle RSS {name}: not run (its environment variable is unset)"),
        }
    }
    println!(
        "{}",
        json!({"idle_rss_kib": idle_rss, "verify_per_s": verify.requests_per_s, "verify_p99_ms": verify.p99_ms,
               "verify_rate_answered_per_s": verify_rate.answered_per_s, "verify_rate_p99_ms": verify_rate.p99_ms,
               "fill_users": fill_users, "rss_after_fill_kib": after_fill, "rss_peak_kib": peak,
               "verify_1m_per_s": verify_1m.requests_per_s, "verify_1m_p99_ms": verify_1m.p99_ms,
               "scim_gets_1m_per_s": scim_1m.requests_per_s, "scim_gets_1m_p99_ms": scim_1m.p99_ms, "peers": peers,
               "two_instances": shared})
    );
}
