//! Faults: the cache (Redis) dying and coming back, PostgreSQL restarting,
//! the gateway killed with `kill -9` in the middle of a SCIM initial sync,
//! and a soak at half capacity with memory watched.
//!
//! These tests stop and start servers, so they take turns (`ONE_AT_A_TIME`).
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::idp::TestIdp;
use common::scim::{tenant, Scim, USER};
use common::{free_port, Gateway};
use reqwest::Method;
use serde_json::{json, Value};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A Redis server of this test's own, so stopping it disturbs no one else.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    async fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect(
                "redis-server not found: run the suite with scripts/test.sh, which installs it",
            );
        let redis = OwnRedis {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SP-initiated SAML sign-in in a fresh browser; returns the ACS answer status
/// (or the start's status when the start itself is refused) and the browser.
async fn sign_in(gw: &Gateway, integration: &str) -> (u16, String, reqwest::Client) {
    let browser = gw.browser();
    let start = browser
        .get(gw.url(&format!("/users/sign-in/sso/okta/{integration}")))
        .send()
        .await
        .unwrap();
    if start.status() != 302 {
        let status = start.status().as_u16();
        return (status, start.text().await.unwrap(), browser);
    }
    let page = browser
        .get(start.headers()["location"].to_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, fields) = common::idp::parse_form(&page);
    let answer = browser.post(&action).form(&fields).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap(), browser)
}

async fn setup(gw: &Gateway, idp: &TestIdp) -> (String, String, Scim) {
    let (token, scim) = tenant(gw, idp, "Acme").await;
    let api = gw.api(&token);
    api.add_team("Engineering", &["example.com"]).await;
    let (_, list) = api.get("/integrations").await;
    let id = list["integrations"][0]["id"].as_str().unwrap().to_string();
    (token, id, scim)
}

fn entra_user(user_name: &str, given: &str) -> Value {
    json!({"schemas": [USER], "userName": user_name, "externalId": user_name, "active": true,
           "name": {"givenName": given, "familyName": "Sync"},
           "emails": [{"primary": true, "type": "work", "value": user_name}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outage_gives_clear_errors_and_recovers_without_restart() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let port = free_port();
    let mut redis = OwnRedis::start(port).await;
    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start_with(&[("SSO_GATEWAY__CACHE__URL", &redis.url())]).await;
    let (token, integration, scim) = setup(&gw, &idp).await;
    let api = gw.api(&token);
    let (status, _, browser) = sign_in(&gw, &integration).await;
    assert_eq!(status, 303);

    // Load in the background across the outage: nothing may ever be a 500.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, http, verify) = (stop.clone(), browser.clone(), gw.url("/auth/verify"));
        tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(r) = http.get(&verify).send().await {
                    *statuses.entry(r.status().as_u16()).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    redis.kill();

    // Sign-in needs the cache (pending requests, replay cache, sessions): a page that says so.
    let (status, page, _) = sign_in(&gw, &integration).await;
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("temporarily unavailable"), "{page}");
    let me = browser.get(gw.url("/users/me")).send().await.unwrap();
    assert_eq!(me.status(), 503);
    let body: Value = me.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("session store"),
        "{body}"
    );
    assert_eq!(
        browser
            .get(gw.url("/auth/verify"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    let ready = gw.http.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("cache"));

    // Provisioning and administration do not need it and keep working.
    let (status, created) = scim
        .post("/Users", entra_user("during-outage@example.com", "Olga"))
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, found) = scim
        .get("/Users?filter=userName%20eq%20%22during-outage@example.com%22")
        .await;
    assert_eq!((status, found["totalResults"].as_u64()), (200, Some(1)));
    assert_eq!(api.get("/teams").await.0, 200);
    assert_eq!(api.post("/teams", json!({"name": "Ops"})).await.0, 201);

    // Redis comes back (empty): everything works again, no restart.
    let _redis = OwnRedis::start(port).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, browser) = sign_in(&gw, &integration).await;
        if status == 303 {
            assert_eq!(
                browser
                    .get(gw.url("/users/me"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                200
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sign-in did not recover: {status}"
        );
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
    // The old session lived in the Redis that died: signed out, not an error.
    assert_eq!(
        browser
            .get(gw.url("/auth/verify"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses = load.await.unwrap();
    assert!(
        statuses.keys().all(|s| [200, 401, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.get(&503).is_some_and(|n| *n > 0),
        "the outage was seen: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restart_is_survived_without_restarting_the_gateway() {
    // scripts/test.sh says how to restart the PostgreSQL it started.
    let (Ok(restart), Ok(admin_url)) = (
        std::env::var("SSO_GATEWAY_TEST_POSTGRES_RESTART"),
        std::env::var("SSO_GATEWAY_TEST_POSTGRES_URL"),
    ) else {
        eprintln!("not on PostgreSQL (the SQLite pass has no server to restart)");
        return;
    };
    let started_at = || async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query_scalar::<_, String>("SELECT pg_postmaster_start_time()::text")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    let before = started_at().await;
    let _turn = ONE_AT_A_TIME.lock().await;
    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start().await;
    let (token, integration, scim) = setup(&gw, &idp).await;
    assert_eq!(sign_in(&gw, &integration).await.0, 303);

    let out = Command::new("sh").args(["-c", &restart]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(started_at().await, before, "PostgreSQL was restarted");

    let api = gw.api(&token);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = api.get("/teams").await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "while reconnecting only 503: {body}");
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sign_in(&gw, &integration).await.0, 303);
    let (status, _) = scim
        .post("/Users", entra_user("after-restart@example.com", "Pat"))
        .await;
    assert_eq!(status, 201);
}

/// Entra's initial cycle for one user: look the userName up, create if absent.
/// Retries what fails (gateway down, 5xx) the way an IdP does; returns the
/// number of retries.
async fn provision(scim: &Scim, user_name: &str, given: &str) -> u32 {
    let filter = format!("/Users?filter=userName%20eq%20%22{user_name}%22");
    let mut retries = 0;
    loop {
        let attempt = async {
            let (status, found) = scim.try_call(Method::GET, &filter, None).await.ok()?;
            if status != 200 {
                return None;
            }
            if found["totalResults"] == 1 {
                return Some(());
            }
            let (status, _) = scim
                .try_call(Method::POST, "/Users", Some(entra_user(user_name, given)))
                .await
                .ok()?;
            // 409: an earlier attempt did create it before the answer was lost.
            matches!(status, 201 | 409).then_some(())
        };
        if attempt.await.is_some() {
            return retries;
        }
        retries += 1;
        assert!(retries < 200, "{user_name} never provisioned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_an_initial_sync_loses_and_duplicates_nothing() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let idp = TestIdp::start("ada@example.com").await;
    let mut gw = Gateway::start().await;
    let (_, _, scim) = setup(&gw, &idp).await;
    let scim = std::sync::Arc::new(scim);
    const USERS: usize = 300;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (scim, done) = (scim.clone(), done.clone());
            tokio::spawn(async move {
                let mut retries = 0;
                for i in (c..USERS).step_by(4) {
                    retries +=
                        provision(&scim, &format!("user{i:04}@example.com"), &format!("U{i}"))
                            .await;
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                retries
            })
        })
        .collect();
    while done.load(std::sync::atomic::Ordering::Relaxed) < USERS / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.kill_and_restart().await;
    let mut retries = 0;
    for c in clients {
        retries += c.await.unwrap();
    }
    assert!(retries > 0, "the kill interrupted the sync");

    // Exactly the users sent, each once, each complete.
    let (status, list) = scim.get("/Users?startIndex=1&count=1000").await;
    assert_eq!(status, 200);
    assert_eq!(list["totalResults"], USERS, "nothing lost or duplicated");
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let name = u["userName"].as_str().unwrap().to_string();
            let i: usize = name[4..8].parse().unwrap();
            assert_eq!(u["name"]["givenName"], format!("U{i}").as_str(), "{u}");
            name
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), USERS);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Runs the soak mix (forward-auth, SCIM lookups and updates, a sign-in now
/// and then) at `per_second` (0 = as fast as possible) for `duration`, with
/// `sample` called every few seconds; returns requests done.
async fn mix(
    gw: &Gateway,
    integration: &str,
    scim: &std::sync::Arc<Scim>,
    session: &reqwest::Client,
    per_second: f64,
    duration: Duration,
    mut sample: impl FnMut(),
) -> u64 {
    let started = Instant::now();
    let mut next_sample = Instant::now();
    let (mut done, mut batches) = (0u64, 0u64);
    while started.elapsed() < duration {
        let batch: Vec<_> = (0..16)
            .map(|k| {
                let (scim, session, verify) =
                    (scim.clone(), session.clone(), gw.url("/auth/verify"));
                let n = done + k;
                tokio::spawn(async move {
                    match n % 4 {
                        0 | 1 => {
                            assert_eq!(session.get(&verify).send().await.unwrap().status(), 200)
                        }
                        2 => {
                            let filter = format!(
                                "/Users?filter=userName%20eq%20%22soak{:03}@example.com%22",
                                n % 100
                            );
                            assert_eq!(scim.get(&filter).await.0, 200);
                        }
                        _ => {
                            let name = format!("soak{:03}@example.com", n % 100);
                            let (status, _) = scim.post("/Users", entra_user(&name, "Soak")).await;
                            assert!(status == 201 || status == 409, "{status}");
                        }
                    }
                })
            })
            .collect();
        for b in batch {
            b.await.unwrap();
        }
        done += 16;
        batches += 1;
        if batches.is_multiple_of(100) {
            assert_eq!(sign_in(gw, integration).await.0, 303);
            done += 1;
        }
        if per_second > 0.0 {
            let due = started + Duration::from_secs_f64(done as f64 / per_second);
            tokio::time::sleep_until(due.into()).await;
        }
        if Instant::now() >= next_sample {
            sample();
            next_sample += Duration::from_secs(5);
        }
    }
    done
}

#[tokio::test(flavor = "multi_thread")]
async fn soak_at_half_capacity_keeps_memory_flat() {
    let seconds: u64 = std::env::var("SSO_GATEWAY_TEST_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let _turn = ONE_AT_A_TIME.lock().await;
    let idp = TestIdp::start("ada@example.com").await;
    // The load is the IdP's too: its per-minute budget must not be what stops it.
    let gw =
        Gateway::start_with(&[("SSO_GATEWAY__SCIM__RATE_LIMIT_PER_MINUTE", "100000000")]).await;
    let (_, integration, scim) = setup(&gw, &idp).await;
    let scim = std::sync::Arc::new(scim);
    let (status, _, session) = sign_in(&gw, &integration).await;
    assert_eq!(status, 303);

    // Capacity: the mix flat out for a few seconds (also the warm-up).
    let probe = Duration::from_secs(8);
    let capacity = mix(&gw, &integration, &scim, &session, 0.0, probe, || {}).await as f64
        / probe.as_secs_f64();
    let pid = gw.pid();
    let mut samples: Vec<u64> = Vec::new();
    let done = mix(
        &gw,
        &integration,
        &scim,
        &session,
        capacity / 2.0,
        Duration::from_secs(seconds),
        || samples.push(rss_kib(pid)),
    )
    .await;
    let third = samples.len() / 3;
    let early = *samples[..third.max(1)].iter().max().unwrap();
    let late = *samples[samples.len() - third.max(1)..]
        .iter()
        .max()
        .unwrap();
    eprintln!(
        "soak: {seconds} s at {:.0} req/s (capacity {capacity:.0}/s with this debug build), {done} requests; RSS early {early} KiB, late {late} KiB",
        capacity / 2.0
    );
    assert!(
        late <= early + early / 10 + 4096,
        "memory grew: early {early} KiB, late {late} KiB; samples {samples:?}"
    );
}
