//! End-to-end over HTTP and the command line: health, readiness, metrics,
//! headers, and start-up failures that must be clear.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Gateway, BIN};
use serde_json::Value;

#[tokio::test]
async fn health_readiness_metrics_and_headers() {
    let gw = Gateway::start().await;
    let res = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(!id.is_empty());
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(res.headers().get("content-security-policy").is_some());

    let res = gw
        .http
        .get(gw.url("/healthz"))
        .header("x-request-id", "proxy-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "proxy-abc-123");
    let res = gw
        .http
        .get(gw.url("/healthz"))
        .header("x-request-id", "bad id\twith junk")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id\twith junk");

    let ready: Value = gw
        .http
        .get(gw.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"], "ok");
    assert_eq!(ready["cache"], "ok");

    gw.http.get(gw.url("/api/v1/teams")).send().await.unwrap();
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "sso_gateway_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/api/v1/teams\",status=\"401\""));
    assert!(metrics.contains("sso_gateway_http_request_duration_seconds_bucket"));
}

fn run_serve(env: &[(&str, &str)]) -> (bool, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env(
            "SSO_GATEWAY__SERVER__BIND",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let (ok, stderr, _) = run_serve(&[("SSO_GATEWAY__SESSION__LIFETIME_SECONDS", "forever")]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.to_lowercase().contains("lifetime_seconds"),
        "{stderr}"
    );

    let (ok, stderr, _) = run_serve(&[("SSO_GATEWAY__DATABASE__URL", "mysql://db/x")]);
    assert!(!ok);
    assert!(stderr.contains("database.url"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "[server]\nbind = \"not an address\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.bind"));
}

#[test]
fn an_unreachable_database_or_cache_is_a_clear_start_up_error() {
    let port = common::free_port().to_string();
    let db = format!("postgres://sso:hunter2@127.0.0.1:{port}/x");
    let (ok, stderr, took) = run_serve(&[
        ("SSO_GATEWAY__DATABASE__URL", db.as_str()),
        ("SSO_GATEWAY__DATABASE__ACQUIRE_TIMEOUT_SECONDS", "2"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "password redacted: {stderr}");
    assert!(took < Duration::from_secs(30), "no hang: {took:?}");

    let redis = format!("redis://127.0.0.1:{port}");
    let (ok, stderr, took) = run_serve(&[("SSO_GATEWAY__CACHE__URL", redis.as_str())]);
    assert!(!ok);
    assert!(stderr.contains("cannot reach the cache"), "{stderr}");
    assert!(took < Duration::from_secs(30), "no hang: {took:?}");
}

#[test]
fn help_is_available_everywhere() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["org", "create", "--help"],
        &["token", "rotate", "--help"],
        &["migrate", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
    let out = Command::new(BIN).args(["org", "create"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name"));
}

#[tokio::test]
async fn migrate_is_idempotent_and_creates_the_sqlite_file() {
    let gw = Gateway::start().await;
    for _ in 0..2 {
        let out = gw.cli(&["migrate"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if common::is_sqlite(&gw) {
        assert!(gw.data_dir().join("gateway.db").is_file());
    }
}

/// PostgreSQL only (suite 2 of scripts/test.sh): the gateway's database
/// refuses connections mid-run, then comes back.
#[tokio::test]
async fn database_outage_gives_503_and_recovers_without_restart() {
    let Ok(admin_url) = std::env::var("SSO_GATEWAY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: needs SSO_GATEWAY_TEST_POSTGRES_URL (run scripts/test.sh)");
        return;
    };
    let gw = Gateway::start_with(&[("SSO_GATEWAY__DATABASE__ACQUIRE_TIMEOUT_SECONDS", "2")]).await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    assert_eq!(api.get("/teams").await.0, 200);

    let db_url = &gw
        .env
        .iter()
        .find(|(k, _)| k == "SSO_GATEWAY__DATABASE__URL")
        .unwrap()
        .1;
    let db_name = db_url.rsplit('/').next().unwrap().to_string();
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap();
    let set_allowed = |allowed: bool| {
        let (admin, db_name) = (admin.clone(), db_name.clone());
        async move {
            sqlx::query(&format!(
                "ALTER DATABASE {db_name} WITH ALLOW_CONNECTIONS {allowed}"
            ))
            .execute(&admin)
            .await
            .unwrap();
            if !allowed {
                sqlx::query(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}'"))
                    .execute(&admin)
                    .await
                    .unwrap();
            }
        }
    };

    set_allowed(false).await;
    let (status, body) = api.get("/teams").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let ready = gw.http.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["store"], "unreachable");
    assert_eq!(
        gw.http
            .get(gw.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    set_allowed(true).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if api.get("/teams").await.0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        gw.http
            .get(gw.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn account_routes_without_a_session() {
    let gw = Gateway::start().await;
    for path in ["/users/me", "/auth/verify"] {
        let res = gw.http.get(gw.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    let forged = gw
        .http
        .get(gw.url("/auth/verify"))
        .header(
            "cookie",
            "sso_gateway_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let res = gw
        .http
        .post(gw.url("/users/sign-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cleared = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("sso_gateway_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let cross = gw
        .http
        .post(gw.url("/users/sign-out"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let cross = gw
        .http
        .post(gw.url("/users/sign-out"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let same = gw
        .http
        .post(gw.url("/users/sign-out"))
        .header("origin", gw.base.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 204);
    let css = gw.http.get(gw.url("/assets/app.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}
