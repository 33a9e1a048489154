//! Retention at scale (issue 16, goal 5): the SAML sign-in p99 with and
//! without the purge job deleting AUDIT_ROWS (default 10,000,000) expired
//! audit rows underneath, same run, SQLite (the engine with one writer,
//! where a long delete would show first).
//!
//! Knobs: AUDIT_ROWS (10000000), SIGNINS (4000 per phase), CONCURRENCY (16).
// Benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../tests/common/idp.rs"]
mod idp;
mod support;
#[allow(dead_code)]
#[path = "../tests/common/xmlenc.rs"]
mod xmlenc;

use std::process::Child;
use std::time::{Duration, Instant};

use support::{env_usize, machine, post_forms, wait_http, Backend, Gateway};

const ISSUER: &str = "http://www.okta.com/exkretention";

fn bodies(n: usize, acs: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let spec = idp::Spec::ok(ISSUER, acs, &format!("user{}@example.com", i % 500));
            serde_urlencoded::to_string([("SAMLResponse", idp::encode(&idp::signed_xml(&spec)))])
                .unwrap()
        })
        .collect()
}

fn serve(gw: &Gateway, retention_days: &str) -> Child {
    gw.serve_again(&[
        ("SSO_GATEWAY__AUDIT__RETENTION_DAYS", retention_days),
        ("SSO_GATEWAY__PROVISIONING__PURGE_INTERVAL_SECONDS", "1"),
    ])
}

async fn audit_rows(db_url: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(db_url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::main]
async fn main() {
    let rows = env_usize("AUDIT_ROWS", 10_000_000, 20_000);
    let n = env_usize("SIGNINS", 4000, 40);
    let concurrency = env_usize("CONCURRENCY", 16, 8);
    println!(
        "# retention bench: {rows} expired audit rows; {}",
        machine()
    );

    let mut gw = Gateway::start(Backend::Sqlite, &[]).await;
    let http = support::http();
    gw.add_team(&http, "Eng", &["example.com"]).await;
    let integration = gw.okta_integration(&http, idp::CERT_PEM, ISSUER).await;
    let acs = integration["acs_url"].as_str().unwrap().to_string();
    gw.stop();

    // Rows two years old, with the UUIDv7 ids the gateway writes (time first).
    let began = Instant::now();
    let pool = sqlx::SqlitePool::connect(&gw.db_url).await.unwrap();
    let old = chrono::Utc::now().timestamp_millis() - 730 * 86_400_000;
    let chunk = 500_000.min(rows);
    for start in (0..rows).step_by(chunk) {
        sqlx::query(
            "WITH RECURSIVE c(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM c WHERE n + 1 < ?2) \
             INSERT INTO audit_events (id, org_id, occurred_at, kind, outcome, actor, subject, reason, details) \
             SELECT printf('%08x-%04x-7000-8000-%012x', (?3 + n / 1000) / 65536, (?3 + n / 1000) % 65536, n), \
                    (SELECT id FROM organizations LIMIT 1), ?3 + n / 1000, 'sign_in', 'success', \
                    'sso:bench', 'user@example.com', NULL, '{\"kind\":\"okta\"}' FROM c",
        )
        .bind(start as i64)
        .bind((start + chunk).min(rows) as i64)
        .bind(old)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    println!(
        "filled {rows} audit rows in {:.1} s",
        began.elapsed().as_secs_f64()
    );

    // Without a purge: nothing is past a 100-year retention.
    let child = serve(&gw, "36500");
    wait_http(&http, &format!("{}/healthz", gw.base)).await;
    let (rate, p50, p99) = post_forms(&http, &acs, bodies(n, &acs), concurrency, 303).await;
    stop(child);
    let before = audit_rows(&gw.db_url).await;

    // With the purge deleting underneath (365 days: every filled row).
    let child = serve(&gw, "365");
    wait_http(&http, &format!("{}/healthz", gw.base)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let purge_began = Instant::now();
    let (prate, pp50, pp99) = post_forms(&http, &acs, bodies(n, &acs), concurrency, 303).await;
    let during = purge_began.elapsed().as_secs_f64();
    stop(child);
    let after = audit_rows(&gw.db_url).await;
    let purged = before + n as i64 - after;

    println!("sign-ins without a purge: {rate:.0}/s, p50 {p50:.1} ms, p99 {p99:.1} ms (c={concurrency}, n={n})");
    println!(
        "sign-ins with the purge running: {prate:.0}/s, p50 {pp50:.1} ms, p99 {pp99:.1} ms; p99 ratio {:.2}",
        pp99 / p99
    );
    println!(
        "the purge deleted {purged} rows in the {during:.1} s of that phase (+2 s warm-up) = {:.0} rows/s; {after} rows left",
        purged as f64 / (during + 2.0)
    );
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}
