//! SCIM throughput, as numbers (not a pass/fail test).
//!
//! 1. Entra-style initial sync: for each user `GET /Users?filter=userName eq`
//!    then `POST /Users` (Entra's create body); then for each group
//!    `GET /Groups?excludedAttributes=members&filter=displayName eq`,
//!    `POST /Groups` with empty members and `PATCH` Add members in batches.
//!    USERS (100,000) users and GROUP_COUNT (1,000) groups; user i is in group
//!    i % GROUP_COUNT; BATCH (10) members per PATCH; CONCURRENCY (8) requests in
//!    flight. Against the gateway on SQLite and on PostgreSQL (when
//!    scripts/bench.sh gives one), and the peers in the same run.
//! 2. Filter GETs/s: `GET /Users?filter=userName eq "…"` for random synced
//!    users, driven by wrk from its own process, p50/p99.
//! 3. Webhooks: the same sync again on a gateway with a webhook registered
//!    to a loopback receiver (delivering while the sync runs), reported as
//!    the ratio to the sync without (goal: at least 0.9). A second endpoint
//!    held back (503 + Retry-After) during that sync is then released: how
//!    fast it drains the backlog of every sync event is the delivery
//!    throughput (goal: 2,000 events/s). `WEBHOOK_BENCH=0` skips this.
//!
//! Run: `scripts/bench.sh scim` or `cargo bench --bench scim_sync`.
//! Peers (started when their environment variable is set, as
//! scripts/bench.sh does): `SCIM2_SERVER_BIN` (PyPI scim2-server) and
//! `JACKSON_HARNESS` (bench/peers/jackson, @boxyhq/saml-jackson's
//! directory sync). A peer gets `PEER_SYNC_SECONDS` (300) to sync; one that
//! has not finished by then is reported with what it did in that time.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{env_usize, query_escape, ratio, smoke, wrk, Backend, Gateway, Process};

#[derive(Clone)]
struct Target {
    name: String,
    /// The SCIM base URL (…/Users and …/Groups below it).
    base: String,
    token: String,
    /// Whether the group body carries Entra's extra schema URN; a peer that
    /// refuses unknown schemas (scim2-server) gets the core schema only.
    entra_group_schema: bool,
    /// Where a group's member count is read when the SCIM resource does not
    /// list members (saml-jackson's never does): `…?name=<displayName>`.
    group_members: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct SyncResult {
    users: usize,
    groups: usize,
    patches: usize,
    user_seconds: f64,
    group_seconds: f64,
    finished: bool,
}

impl SyncResult {
    fn total_seconds(&self) -> f64 {
        self.user_seconds + self.group_seconds
    }
    fn objects_per_s(&self) -> f64 {
        (self.users + self.groups) as f64 / self.total_seconds()
    }
}

#[derive(Clone, Copy)]
struct Shape {
    users: usize,
    groups: usize,
    batch: usize,
    concurrency: usize,
}

fn user_name(i: usize) -> String {
    format!("user{i}@example.com")
}

/// What Entra POSTs to create a user (INTEROP.md).
fn entra_user(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": format!("ext-{i}"),
        "userName": user_name(i),
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name(i)}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("User {i}"), "familyName": format!("N{i}"), "givenName": "User"},
        "roles": []
    })
}

fn entra_group(g: usize, extra_schema: bool) -> Value {
    let mut group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": format!("gext-{g}"),
        "displayName": format!("Group {g}"),
        "members": []
    });
    if !extra_schema {
        group["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Group"]);
    }
    group
}

async fn send(
    http: &reqwest::Client,
    t: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = http
        .request(method.clone(), format!("{}{path}", t.base))
        .bearer_auth(&t.token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {method} {path}: {e}", t.name));
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

fn ok(t: &Target, what: &str, status: u16, body: &Value) {
    assert!(
        (200..300).contains(&status),
        "{}: {what} answered {status}: {body}",
        t.name
    );
}

/// Runs `work(i)` for i in 0..n on `concurrency` tasks until done or past
/// `deadline`; returns how many were done.
async fn drive<F, Fut>(n: usize, concurrency: usize, deadline: Instant, work: F) -> usize
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, done, work) = (next.clone(), done.clone(), work.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || Instant::now() > deadline {
                        break;
                    }
                    work(i).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed)
}

async fn entra_sync(t: &Target, shape: &Shape, limit: Duration) -> SyncResult {
    let http = support::http();
    let deadline = Instant::now() + limit;
    let ids: Arc<Vec<std::sync::OnceLock<String>>> = Arc::new(
        (0..shape.users)
            .map(|_| std::sync::OnceLock::new())
            .collect(),
    );

    let started = Instant::now();
    let (h, tt, idsw) = (http.clone(), t.clone(), ids.clone());
    let users = drive(shape.users, shape.concurrency, deadline, move |i| {
        let (http, t, ids) = (h.clone(), tt.clone(), idsw.clone());
        async move {
            let filter = query_escape(&format!("userName eq \"{}\"", user_name(i)));
            let (s, found) = send(
                &http,
                &t,
                reqwest::Method::GET,
                &format!("/Users?filter={filter}"),
                None,
            )
            .await;
            ok(&t, "GET /Users?filter", s, &found);
            assert_eq!(
                found["totalResults"], 0,
                "{}: user {i} exists already",
                t.name
            );
            let (s, created) = send(
                &http,
                &t,
                reqwest::Method::POST,
                "/Users",
                Some(&entra_user(i)),
            )
            .await;
            ok(&t, "POST /Users", s, &created);
            ids[i]
                .set(created["id"].as_str().expect("an id").to_string())
                .unwrap();
        }
    })
    .await;
    let user_seconds = started.elapsed().as_secs_f64();
    eprintln!("{}: {users} users in {user_seconds:.1} s", t.name);

    let started = Instant::now();
    let patches = Arc::new(AtomicUsize::new(0));
    let (h, tt, idsg, p) = (http.clone(), t.clone(), ids.clone(), patches.clone());
    let (n_users, n_groups, batch) = (shape.users, shape.groups, shape.batch);
    let groups = drive(shape.groups, shape.concurrency, deadline, move |g| {
        let (http, t, ids, patches) = (h.clone(), tt.clone(), idsg.clone(), p.clone());
        async move {
            let filter = query_escape(&format!("displayName eq \"Group {g}\""));
            let (s, found) = send(
                &http,
                &t,
                reqwest::Method::GET,
                &format!("/Groups?excludedAttributes=members&filter={filter}"),
                None,
            )
            .await;
            ok(&t, "GET /Groups?filter", s, &found);
            assert_eq!(
                found["totalResults"], 0,
                "{}: group {g} exists already",
                t.name
            );
            let (s, created) = send(
                &http,
                &t,
                reqwest::Method::POST,
                "/Groups",
                Some(&entra_group(g, t.entra_group_schema)),
            )
            .await;
            ok(&t, "POST /Groups", s, &created);
            let gid = created["id"].as_str().expect("a group id").to_string();
            // Members of group g: the synced users i with i % groups == g.
            let members: Vec<&String> = (g..n_users)
                .step_by(n_groups)
                .filter_map(|i| ids[i].get())
                .collect();
            for chunk in members.chunks(batch) {
                let value: Vec<Value> = chunk
                    .iter()
                    .map(|id| json!({"$ref": null, "value": id}))
                    .collect();
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Add", "path": "members", "value": value}]
                });
                let (s, answer) = send(
                    &http,
                    &t,
                    reqwest::Method::PATCH,
                    &format!("/Groups/{gid}"),
                    Some(&body),
                )
                .await;
                ok(&t, "PATCH /Groups", s, &answer);
                patches.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await;
    let group_seconds = started.elapsed().as_secs_f64();
    SyncResult {
        finished: users == shape.users && groups == shape.groups,
        users,
        groups,
        patches: patches.load(Ordering::Relaxed),
        user_seconds,
        group_seconds,
    }
}

/// Checks that the sync left what it should: a member count of one group.
async fn check_group(t: &Target, shape: &Shape) {
    let http = support::http();
    let members = match &t.group_members {
        Some(url) => {
            let res = http
                .get(format!("{url}?name={}", query_escape("Group 0")))
                .send()
                .await
                .unwrap();
            assert!(
                res.status().is_success(),
                "{}: group count: {}",
                t.name,
                res.status()
            );
            let count: Value = res.json().await.unwrap();
            count["members"].as_u64().unwrap_or(0) as usize
        }
        None => {
            let filter = query_escape("displayName eq \"Group 0\"");
            let (s, found) = send(
                &http,
                t,
                reqwest::Method::GET,
                &format!("/Groups?filter={filter}"),
                None,
            )
            .await;
            ok(t, "GET /Groups", s, &found);
            found["Resources"][0]["members"]
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    let expected = (0..shape.users).step_by(shape.groups).count();
    assert_eq!(
        members, expected,
        "{}: group 0 has {members} members, expected {expected}",
        t.name
    );
}

/// Filter GETs/s for random synced users: wrk in full mode, a few checked
/// requests in smoke mode.
async fn filter_gets(t: &Target, users: usize, seconds: u64) -> Option<support::WrkResult> {
    if smoke() {
        let http = support::http();
        for i in 0..users.min(5) {
            let filter = query_escape(&format!("userName eq \"{}\"", user_name(i)));
            let (s, found) = send(
                &http,
                t,
                reqwest::Method::GET,
                &format!("/Users?filter={filter}"),
                None,
            )
            .await;
            ok(t, "GET /Users?filter", s, &found);
            assert_eq!(found["totalResults"], 1);
        }
        return None;
    }
    let url = url::Url::parse(&t.base).unwrap();
    let prefix = url.path().trim_end_matches('/').to_string();
    let script = support::user_filter_script(&prefix, "user", users, 42);
    let auth = format!("Bearer {}", t.token);
    Some(wrk(
        url.as_str(),
        &[("Authorization", &auth)],
        Some(&script),
        32,
        seconds,
    ))
}

fn report(name: &str, r: &SyncResult) {
    println!(
        "{name:<28} users {:>6} in {:>7.1} s ({:>6.0}/s); groups {:>5} ({} PATCHes) in {:>6.1} s; total {:>7.1} s{}",
        r.users,
        r.user_seconds,
        r.users as f64 / r.user_seconds,
        r.groups,
        r.patches,
        r.group_seconds,
        r.total_seconds(),
        if r.finished { "" } else { "  (time limit hit: NOT finished)" }
    );
}

async fn gateway_target(gw: &Gateway) -> Target {
    let http = support::http();
    let integration = gw
        .okta_integration(
            &http,
            include_str!("../fixtures/certs/idp-cert.pem"),
            "http://www.okta.com/exkbench",
        )
        .await;
    let (base, token) = gw
        .scim_tenant(&http, integration["id"].as_str().unwrap())
        .await;
    Target {
        name: "sso-gateway".into(),
        base,
        token,
        entra_group_schema: true,
        group_members: None,
    }
}

/// Registers a webhook for every event type to `url` with `key`.
async fn register_webhook(gw: &Gateway, key: &str, url: &str) {
    let res = support::http()
        .post(gw.api("/webhooks"))
        .bearer_auth(key)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201, "{:?}", res.text().await);
}

/// The sync once more, with a live webhook and a held one (see the top of
/// this file); returns the report lines.
async fn with_webhooks(backend: Backend, shape: &Shape, without: &SyncResult) -> Vec<String> {
    let receiver = support::Receiver::start().await;
    receiver.hold("/drain", true);
    let gw = Gateway::start(
        backend,
        &[
            ("SSO_GATEWAY__OUTBOUND__ALLOW_PRIVATE_ADDRESSES", "true"),
            ("SSO_GATEWAY__OUTBOUND__ALLOW_HTTP", "true"),
        ],
    )
    .await;
    let target = gateway_target(&gw).await;
    let key = gw.api_key();
    register_webhook(&gw, &key, &receiver.url("/live")).await;
    register_webhook(&gw, &key, &receiver.url("/drain")).await;
    let store = sso_gateway::store::Store::connect(&sso_gateway::config::DatabaseConfig {
        url: gw.db_url.clone(),
        max_connections: 1,
        acquire_timeout_seconds: 10,
    })
    .await
    .unwrap();
    let first = store.last_event_id().await.unwrap();
    let r = entra_sync(&target, shape, Duration::from_secs(24 * 3600)).await;
    check_group(&target, shape).await;
    let name = format!("sso-gateway ({backend:?}, webhook)");
    report(&name, &r);
    let events = usize::try_from(store.last_event_id().await.unwrap() - first).unwrap();
    let limit = Duration::from_secs(600);
    let mut lines = vec![format!(
        "{name}: sync objects/s with a webhook / without: {:.2} (goal >= 0.90); {events} events",
        r.objects_per_s() / without.objects_per_s()
    )];
    if !receiver.wait_accepted("/live", events, limit).await {
        lines.push(format!(
            "{name}: live endpoint got {} of {events} events within {limit:?}",
            receiver.count("/live").accepted
        ));
    }
    receiver.hold("/drain", false);
    let drained = receiver.wait_accepted("/drain", events, limit).await;
    let count = receiver.count("/drain");
    let seconds = match (count.first_accepted, count.last_accepted) {
        (Some(a), Some(b)) => (b - a).as_secs_f64().max(1e-3),
        _ => f64::NAN,
    };
    let per_s = count.accepted.saturating_sub(1) as f64 / seconds;
    lines.push(format!(
        "{name}: delivery drained {} of {events} queued events in {seconds:.2} s = {per_s:.0} events/s; ratio to the 2,000/s goal {:.2}{}",
        count.accepted,
        per_s / 2000.0,
        if drained { "" } else { " (NOT all within the limit)" }
    ));
    lines
}

/// PyPI scim2-server's own command (in-memory storage, threaded WSGI).
async fn start_scim2_server() -> Option<(Process, Target)> {
    let bin = std::env::var("SCIM2_SERVER_BIN").ok()?;
    let port = support::free_port();
    let token = "bench-token".to_string();
    let mut cmd = Command::new(&bin);
    cmd.args(["--port", &port.to_string(), "--bearer-token", &token]);
    let p = Process::spawn("scim2-server", cmd);
    let base = format!("http://127.0.0.1:{port}");
    support::wait_http(&support::http(), &format!("{base}/ServiceProviderConfig")).await;
    Some((
        p,
        Target {
            name: "scim2-server".into(),
            base,
            token,
            entra_group_schema: false,
            group_members: None,
        },
    ))
}

/// bench/peers/jackson: express around saml-jackson's directory sync.
async fn start_jackson() -> Option<(Process, Target)> {
    let dir = std::env::var("JACKSON_HARNESS").ok()?;
    let port = support::free_port();
    let mut cmd = Command::new("node");
    cmd.arg("server.js")
        .current_dir(&dir)
        .env("PORT", port.to_string());
    let p = Process::spawn("saml-jackson", cmd);
    let base = format!("http://127.0.0.1:{port}");
    let http = support::http();
    support::wait_http(&http, &format!("{base}/healthz")).await;
    let setup: Value = http
        .get(format!("{base}/bench/setup"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Some((
        p,
        Target {
            name: "saml-jackson".into(),
            base: setup["scim_base"].as_str().unwrap().to_string(),
            token: setup["scim_token"].as_str().unwrap().to_string(),
            entra_group_schema: true,
            group_members: Some(format!("{base}/bench/group-members")),
        },
    ))
}

#[tokio::main]
async fn main() {
    let shape = Shape {
        users: env_usize("USERS", 100_000, 30),
        groups: env_usize("GROUP_COUNT", 1_000, 3),
        batch: env_usize("BATCH", 10, 10),
        concurrency: env_usize("CONCURRENCY", 8, 8),
    };
    let seconds = env_usize("SECONDS", 10, 1) as u64;
    let peer_limit = Duration::from_secs(env_usize("PEER_SYNC_SECONDS", 300, 300) as u64);
    let only = std::env::var("SCIM_TARGETS")
        .unwrap_or_else(|_| "sqlite,postgres,scim2-server,jackson".into());
    let wants = |name: &str| only.split(',').any(|t| t.trim() == name);
    println!("machine: {}", support::machine());
    println!(
        "shape: {} users, {} groups, {} members per PATCH, concurrency {}",
        shape.users, shape.groups, shape.batch, shape.concurrency
    );
    let mut results: Vec<(String, SyncResult, Option<support::WrkResult>)> = Vec::new();
    let unlimited = Duration::from_secs(24 * 3600);

    let mut backends = Vec::new();
    if wants("sqlite") {
        backends.push(Backend::Sqlite);
    }
    if wants("postgres") {
        if support::postgres_admin_url().is_some() {
            backends.push(Backend::Postgres);
        } else {
            println!("sso-gateway (PostgreSQL): not run: no SSO_GATEWAY_BENCH_POSTGRES_URL");
        }
    }
    let mut webhook_lines = Vec::new();
    for backend in backends {
        let gw = Gateway::start(backend, &[]).await;
        let target = gateway_target(&gw).await;
        let r = entra_sync(&target, &shape, unlimited).await;
        check_group(&target, &shape).await;
        let name = format!("sso-gateway ({backend:?})");
        report(&name, &r);
        let gets = filter_gets(&target, shape.users, seconds).await;
        drop(gw);
        if std::env::var("WEBHOOK_BENCH").as_deref() != Ok("0") {
            webhook_lines.extend(with_webhooks(backend, &shape, &r).await);
        }
        results.push((name, r, gets));
    }
    if !webhook_lines.is_empty() {
        println!("\nwebhooks:");
        for line in &webhook_lines {
            println!("{line}");
        }
    }
    if smoke() {
        println!("smoke mode: peers and wrk skipped (cargo bench runs them)");
        return;
    }
    for (want, start) in [("scim2-server", 0), ("jackson", 1)] {
        if !wants(want) {
            continue;
        }
        let started = if start == 0 {
            start_scim2_server().await
        } else {
            start_jackson().await
        };
        let Some((_process, target)) = started else {
            println!(
                "{want}: not run: its environment variable is unset (scripts/bench.sh sets it)"
            );
            continue;
        };
        // A peer that fails is reported as failed; the run goes on.
        let (t2, s2) = (target.clone(), shape);
        let r = match tokio::spawn(async move {
            let r = entra_sync(&t2, &s2, peer_limit).await;
            if r.finished {
                check_group(&t2, &s2).await;
            }
            r
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                println!("{}: FAILED: {e}", target.name);
                continue;
            }
        };
        report(&target.name, &r);
        // Filter GETs over the users this peer actually holds.
        let gets = filter_gets(&target, r.users.max(1), seconds).await;
        results.push((target.name.clone(), r, gets));
    }

    println!("\nfilter GETs (wrk, 32 connections, {seconds} s, random userName eq over the synced users):");
    for (name, _, gets) in &results {
        if let Some(g) = gets {
            println!(
                "{name:<28} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  non-2xx {}",
                g.requests_per_s, g.p50_ms, g.p99_ms, g.non_2xx
            );
        }
    }
    let ours = results
        .iter()
        .find(|(n, _, _)| n.contains("Sqlite"))
        .cloned();
    if let Some((_, ours_sync, ours_gets)) = ours {
        for (name, r, gets) in results
            .iter()
            .filter(|(n, _, _)| !n.starts_with("sso-gateway"))
        {
            println!(
                "ratio sso-gateway (SQLite) / {name}: sync objects/s {}, filter GETs/s {}",
                ratio(ours_sync.objects_per_s(), Some(r.objects_per_s())),
                ratio(
                    ours_gets.map_or(0.0, |g| g.requests_per_s),
                    gets.map(|g| g.requests_per_s)
                )
            );
        }
    }
    let json: Vec<Value> = results
        .iter()
        .map(|(name, r, g)| json!({"target": name, "users": r.users, "groups": r.groups, "patches": r.patches, "user_seconds": r.user_seconds, "group_seconds": r.group_seconds, "finished": r.finished, "objects_per_s": r.objects_per_s(), "filter_gets_per_s": g.map(|g| g.requests_per_s), "filter_p99_ms": g.map(|g| g.p99_ms)}))
        .collect();
    println!("{}", Value::Array(json));
}
