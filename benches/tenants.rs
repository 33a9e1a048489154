//! Many organizations on one gateway (issue 16, goal 4): ORGS organizations
//! (default 10,000), each with a team and a SAML integration connected by
//! metadata URL to a loopback metadata server that counts the fetches per
//! second. Measures, release build, SQLite:
//!
//! * the figures a tenant sees — admin API list pages (its members; the
//!   platform's organizations), SCIM filter GETs, `/auth/verify` and SAML
//!   sign-ins — on a gateway with one tenant of MEMBERS (100) people, and on
//!   one with ORGS tenants and ORGS × MEMBERS people (1M), requests spread
//!   over PROBES (50) of its tenants; the two measured in turns; the ratio
//!   is the goal's "within 20%";
//! * start-up time (process start → `/healthz` answers) and RSS with that
//!   data set, against the empty gateway in the same run;
//! * the metadata refresh job after a restart with every integration
//!   overdue (as after downtime): fetches per second over WATCH_SECONDS,
//!   against the steady rate (ORGS per `saml.metadata_refresh_seconds`) and
//!   the old behaviour's bound (every overdue integration in the first pass).
//!
//! The members are written straight into the SQLite file (one statement per
//! table, as `verify_rss` does): through SCIM, 1M people would take the
//! length of ten initial syncs.
//!
//! Knobs: ORGS (10000), MEMBERS (100), PROBES (50), SECONDS (10) per wrk
//! run, SIGNINS (2000), ROUNDS (2) of both sides in turns, WATCH_SECONDS
//! (150), REFRESH_SECONDS (3600).
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{
    env_usize, free_port, http, machine, parallel, post_forms_to, request_mix_script, rss_kib,
    smoke, wait_http, wrk, Backend, Gateway, WrkResult,
};

const CERT_PEM: &str = include_str!("../fixtures/certs/idp-cert.pem");

/// Fetch times (since the server started), shared with the handler.
type Fetches = Arc<Mutex<Vec<Duration>>>;

fn metadata_xml(entity_id: &str, sso_url: &str) -> String {
    let cert: String = CERT_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso_url}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// The loopback metadata server: `/{n}/metadata` answers tenant n's IdP.
fn start_metadata_server(fetches: Fetches) -> String {
    let port = free_port();
    let started = Instant::now();
    let server = HttpServer::new(move || {
        let fetches = fetches.clone();
        App::new().route(
            "/{n}/metadata",
            web::get().to(move |n: web::Path<String>| {
                let fetches = fetches.clone();
                async move {
                    fetches.lock().unwrap().push(started.elapsed());
                    let entity = format!("http://www.okta.com/exk{n}");
                    HttpResponse::Ok()
                        .content_type("application/samlmetadata+xml")
                        .body(metadata_xml(&entity, "https://idp.example.com/sso"))
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// Start-up: spawn → first `/healthz` 200; then RSS after it settles.
async fn start_up(gw: &Gateway, extra: &[(&str, &str)]) -> (Child, Duration, u64) {
    let began = Instant::now();
    let child = gw.serve_again(extra);
    wait_http(&http(), &format!("{}/healthz", gw.base)).await;
    let took = began.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = rss_kib(child.id());
    (child, took, rss)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// One tenant as the platform API made it.
struct Tenant {
    n: usize,
    org_id: String,
    admin_token: String,
    integration_id: String,
    acs_url: String,
    team_id: String,
}

impl Tenant {
    fn issuer(&self) -> String {
        format!("http://www.okta.com/exk{}", self.n)
    }

    fn member_email(&self, i: usize) -> String {
        format!("u{i}@tenant{}.example", self.n)
    }
}

/// Tenants `range` through the platform API: an organization, a team whose
/// domain is the tenant's, and a SAML integration by metadata URL.
async fn create_tenants(
    gw: &Gateway,
    key: &str,
    idp: &str,
    range: std::ops::Range<usize>,
) -> Vec<Tenant> {
    let client = http();
    futures_util::stream::iter(range)
        .map(|n| {
            let (client, key, base, idp) = (client.clone(), key.to_string(), gw.base.clone(), idp.to_string());
            async move {
                let post = |path: String, token: String, body: Value| {
                    let client = client.clone();
                    async move {
                        let res = client.post(path).bearer_auth(token).json(&body).send().await.unwrap();
                        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
                        res.json::<Value>().await.unwrap()
                    }
                };
                let api = |path: &str| format!("{base}/api/v1{path}");
                let org = post(api("/organizations"), key, json!({"name": format!("Tenant {n}")})).await;
                let admin_token = org["admin_token"].as_str().expect("an admin token").to_string();
                let team = post(
                    api("/teams"),
                    admin_token.clone(),
                    json!({"name": "Everyone", "preapproved_domains": [format!("tenant{n}.example")]}),
                )
                .await;
                let integration = post(
                    api("/integrations"),
                    admin_token.clone(),
                    json!({"kind": "okta", "metadata_url": format!("{idp}/{n}/metadata")}),
                )
                .await;
                let text = |v: &Value, k: &str| v[k].as_str().unwrap().to_string();
                Tenant {
                    n,
                    org_id: text(&org, "id"),
                    admin_token,
                    integration_id: text(&integration, "id"),
                    acs_url: text(&integration, "acs_url"),
                    team_id: text(&team, "id"),
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// `members` people per tenant — users, memberships (SCIM-managed), the
/// team's members and their SCIM resources — one statement per table.
async fn fill_members(db_url: &str, tenants: &[Tenant], members: usize) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(db_url).await.unwrap();
    sqlx::query("PRAGMA busy_timeout = 30000")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("CREATE TEMP TABLE bench_tenants (n INTEGER, org_id TEXT, integration_id TEXT, team_id TEXT)")
        .execute(&mut *tx)
        .await
        .unwrap();
    for t in tenants {
        sqlx::query("INSERT INTO bench_tenants VALUES (?1, ?2, ?3, ?4)")
            .bind(t.n as i64)
            .bind(&t.org_id)
            .bind(&t.integration_id)
            .bind(&t.team_id)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // Every row of every statement: tenant t × member i, id `m{t}-{i}`.
    let each = "FROM bench_tenants t, (WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?1 - 1) SELECT i FROM c) c";
    let email = "'u' || c.i || '@tenant' || t.n || '.example'";
    for statement in [
        format!("INSERT INTO users (id, email, email_key, given_name, family_name, display_name, created_at, updated_at) \
                 SELECT 'm' || t.n || '-' || c.i, {email}, {email}, 'User', 'N' || c.i, NULL, 1, 1 {each}"),
        format!("INSERT INTO memberships (org_id, user_id, role, scim_managed, created_at, source) \
                 SELECT t.org_id, 'm' || t.n || '-' || c.i, 'member', 1, 1, 'scim' {each}"),
        format!("INSERT INTO team_members (team_id, user_id, source) SELECT t.team_id, 'm' || t.n || '-' || c.i, NULL {each}"),
        format!("INSERT INTO scim_users (id, integration_id, org_id, user_id, user_name, user_name_key, external_id, active, \
                 resource, password_hash, version, created_at, updated_at) \
                 SELECT 's' || t.n || '-' || c.i, t.integration_id, t.org_id, 'm' || t.n || '-' || c.i, {email}, {email}, \
                 'ext-' || t.n || '-' || c.i, 1, \
                 '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"' || {email} || \
                 '\",\"active\":true,\"name\":{{\"givenName\":\"User\",\"familyName\":\"N' || c.i || \
                 '\"}},\"emails\":[{{\"primary\":true,\"type\":\"work\",\"value\":\"' || {email} || '\"}}]}}', NULL, 1, 1, 1 {each}"),
    ] {
        sqlx::query(&statement)
            .bind(members as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// What a tenant's figures are read with: its SCIM token, a signed-in
/// member's session, its admin token.
struct Probe {
    scim_path: String,
    scim_token: String,
    cookie: String,
    admin_token: String,
}

/// SCIM on and one member signed in, for each of `tenants`.
async fn probes(gw: &Gateway, tenants: &[&Tenant]) -> Vec<Probe> {
    let client = http();
    let mut out = Vec::new();
    for t in tenants {
        let scim: Value = client
            .post(gw.api(&format!("/integrations/{}/provisioning", t.integration_id)))
            .bearer_auth(&t.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tenant_url = scim["tenant_url"].as_str().expect("a SCIM tenant URL");
        let xml = idp::signed_xml(&idp::Spec::ok(&t.issuer(), &t.acs_url, &t.member_email(0)));
        let res = client
            .post(&t.acs_url)
            .form(&[("SAMLResponse", idp::encode(&xml))])
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            303,
            "sign-in of tenant {}: {}",
            t.n,
            res.text().await.unwrap()
        );
        let cookie = support::session_cookie(&res);
        out.push(Probe {
            scim_path: url::Url::parse(tenant_url).unwrap().path().to_string(),
            scim_token: scim["token"].as_str().unwrap().to_string(),
            cookie,
            admin_token: t.admin_token.clone(),
        });
    }
    out
}

/// One set of the figures a tenant sees.
struct Figures {
    members_page: WrkResult,
    integrations_page: WrkResult,
    organizations_page: WrkResult,
    scim_gets: WrkResult,
    verify: WrkResult,
    /// (sign-ins/s, p50 ms, p99 ms)
    signins: (f64, f64, f64),
}

/// wrk over each kind of request, spread over the probes' tenants; SAML
/// sign-ins of random members of those tenants.
async fn measure(
    gw: &Gateway,
    key: &str,
    tenants: &[&Tenant],
    probes: &[Probe],
    members: usize,
) -> Figures {
    let seconds = env_usize("SECONDS", 10, 1) as u64;
    let run = |requests: Vec<(String, &'static str, String)>| {
        let script = request_mix_script(&requests, 7);
        wrk(&gw.base, &[], Some(&script), 32, seconds)
    };
    let members_page = run(probes
        .iter()
        .map(|p| {
            (
                "/api/v1/users".to_string(),
                "Authorization",
                format!("Bearer {}", p.admin_token),
            )
        })
        .collect());
    let integrations_page = run(probes
        .iter()
        .map(|p| {
            (
                "/api/v1/integrations".to_string(),
                "Authorization",
                format!("Bearer {}", p.admin_token),
            )
        })
        .collect());
    // The same page size at 2 organizations and at ORGS: does the list
    // query scale, not how long a longer page takes to write.
    let organizations_page = run(vec![(
        "/api/v1/organizations?limit=2".to_string(),
        "Authorization",
        format!("Bearer {key}"),
    )]);
    let scim_gets = run(probes
        .iter()
        .zip(tenants)
        .flat_map(|(p, t)| {
            (0..members).step_by((members / 20).max(1)).map(move |i| {
                let filter =
                    support::query_escape(&format!("userName eq \"{}\"", t.member_email(i)));
                (
                    format!("{}/Users?filter={filter}", p.scim_path),
                    "Authorization",
                    format!("Bearer {}", p.scim_token),
                )
            })
        })
        .collect());
    let verify = run(probes
        .iter()
        .map(|p| ("/auth/verify".to_string(), "Cookie", p.cookie.clone()))
        .collect());
    let n = env_usize("SIGNINS", 2000, 10);
    let targets: Vec<(String, String, String)> = (0..n)
        .map(|k| {
            let t = tenants[k % tenants.len()];
            (
                t.acs_url.clone(),
                t.issuer(),
                t.member_email((k * 7919) % members),
            )
        })
        .collect();
    let forms = parallel(n, move |k| {
        let (acs, issuer, email) = &targets[k];
        let xml = idp::signed_xml(&idp::Spec::ok(issuer, acs, email));
        (
            acs.clone(),
            serde_urlencoded::to_string([("SAMLResponse", idp::encode(&xml))]).unwrap(),
        )
    });
    let signins = post_forms_to(&http(), forms, 16, 303).await;
    Figures {
        members_page,
        integrations_page,
        organizations_page,
        scim_gets,
        verify,
        signins,
    }
}

fn compare(one: &Figures, many: &Figures, orgs: usize) {
    let row = |name: &str, a: f64, b: f64, a99: f64, b99: f64| {
        let within = if b >= 0.8 * a {
            "within 20%"
        } else {
            "NOT within 20%"
        };
        println!(
            "{name:<34} 1 tenant {a:>8.0}/s p99 {a99:>6.1} ms | {orgs} tenants {b:>8.0}/s p99 {b99:>6.1} ms | {:.2}× {within}",
            b / a
        );
    };
    let wrk_row = |name: &str, a: &WrkResult, b: &WrkResult| {
        assert_eq!(a.non_2xx + b.non_2xx, 0, "{name}: error answers");
        row(name, a.requests_per_s, b.requests_per_s, a.p99_ms, b.p99_ms)
    };
    wrk_row(
        "admin API: members page",
        &one.members_page,
        &many.members_page,
    );
    wrk_row(
        "admin API: integrations page",
        &one.integrations_page,
        &many.integrations_page,
    );
    wrk_row(
        "platform API: organizations, first 2",
        &one.organizations_page,
        &many.organizations_page,
    );
    wrk_row(
        "SCIM filter GETs (userName eq)",
        &one.scim_gets,
        &many.scim_gets,
    );
    wrk_row("/auth/verify", &one.verify, &many.verify);
    row(
        "SAML sign-ins (c=16)",
        one.signins.0,
        many.signins.0,
        one.signins.2,
        many.signins.2,
    );
}

#[tokio::main]
async fn main() {
    let orgs = env_usize("ORGS", 10_000, 20);
    let members = env_usize("MEMBERS", 100, 5);
    let probe_count = env_usize("PROBES", 50, 3).min(orgs);
    let watch = env_usize("WATCH_SECONDS", 150, 3) as u64;
    let refresh_seconds = env_usize("REFRESH_SECONDS", 3600, 3600) as u64;
    println!(
        "# tenants bench: {orgs} organizations × {members} members; {}",
        machine()
    );

    let fetches = Fetches::default();
    let idp = start_metadata_server(fetches.clone());
    let refresh = refresh_seconds.to_string();
    let env = [
        ("SSO_GATEWAY__OUTBOUND__ALLOW_PRIVATE_ADDRESSES", "true"),
        ("SSO_GATEWAY__OUTBOUND__ALLOW_HTTP", "true"),
        (
            "SSO_GATEWAY__SAML__METADATA_REFRESH_SECONDS",
            refresh.as_str(),
        ),
    ];
    let mut gw = Gateway::start(Backend::Sqlite, &env).await;
    let key = gw.api_key();

    // The empty gateway's figures, same run.
    gw.stop();
    let (child, empty_start, empty_rss) = start_up(&gw, &[]).await;

    // One tenant on a gateway of its own: the single-tenant side, kept
    // running so the two sides are measured in turns (this machine's load
    // drifts over minutes).
    let mut single_gw = Gateway::start(Backend::Sqlite, &env).await;
    let single_key = single_gw.api_key();
    let single_tenant = create_tenants(&single_gw, &single_key, &idp, 0..1).await;
    single_gw.stop();
    fill_members(&single_gw.db_url, &single_tenant, members).await;
    let (single_child, _, _) = start_up(&single_gw, &[]).await;
    let single_sample = [&single_tenant[0]];
    let single_probes = probes(&single_gw, &single_sample).await;

    let began = Instant::now();
    let tenants = create_tenants(&gw, &key, &idp, 0..orgs).await;
    let create_took = began.elapsed();
    println!(
        "created {} organizations (team + metadata-URL integration each) in {:.1} s ({:.0}/s)",
        tenants.len(),
        create_took.as_secs_f64(),
        tenants.len() as f64 / create_took.as_secs_f64()
    );
    stop(child);
    let began = Instant::now();
    fill_members(&gw.db_url, &tenants, members).await;
    println!(
        "wrote {} members ({members} per organization) in {:.1} s",
        tenants.len() * members,
        began.elapsed().as_secs_f64()
    );

    // Start-up with the whole data set, then the same figures over
    // tenants spread over the whole range (early and late rows alike; a
    // fixed scatter inside each stride so runs repeat), in turns with the
    // single tenant's.
    let (child, full_start, full_rss) = start_up(&gw, &[]).await;
    let stride = orgs / probe_count;
    let sample: Vec<&Tenant> = (0..probe_count)
        .map(|k| &tenants[k * stride + (k * 7919) % stride])
        .collect();
    let sample_probes = probes(&gw, &sample).await;
    // Smoke mode (under `cargo test`) checks the set-up, not the figures.
    let rounds = if smoke() {
        0
    } else {
        env_usize("ROUNDS", 2, 0)
    };
    for round in 1..=rounds {
        let single = measure(
            &single_gw,
            &single_key,
            &single_sample,
            &single_probes,
            members,
        )
        .await;
        let many = measure(&gw, &key, &sample, &sample_probes, members).await;
        println!("round {round} of {rounds}:");
        compare(&single, &many, orgs);
    }
    stop(single_child);
    drop(single_gw);
    stop(child);
    // Every integration overdue, as after a long downtime.
    let backdate = (refresh_seconds as i64 + 600) * 1000;
    let pool = sqlx::SqlitePool::connect(&gw.db_url).await.unwrap();
    sqlx::query(
        "UPDATE integrations SET updated_at = updated_at - ?1, \
         settings = json_set(settings, '$.metadata_fetched_at', json_extract(settings, '$.metadata_fetched_at') - ?1)",
    )
    .bind(backdate)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    fetches.lock().unwrap().clear();
    let (child, _, _) = start_up(&gw, &[]).await;
    tokio::time::sleep(Duration::from_secs(watch)).await;
    let times: Vec<f64> = fetches
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.as_secs_f64())
        .collect();
    let rss_after = rss_kib(child.id());
    stop(child);

    let first = times.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut per_second = std::collections::BTreeMap::<u64, usize>::new();
    for t in &times {
        *per_second.entry((t - first) as u64).or_default() += 1;
    }
    let busiest = per_second.values().max().copied().unwrap_or(0);
    let steady = orgs as f64 / refresh_seconds as f64;
    println!(
        "start-up, empty: {:.0} ms, RSS {:.1} MiB",
        empty_start.as_secs_f64() * 1000.0,
        empty_rss as f64 / 1024.0
    );
    println!(
        "start-up, {orgs} organizations, {} members: {:.0} ms, RSS {:.1} MiB ({:.1} MiB after {watch} s of refreshing)",
        orgs * members,
        full_start.as_secs_f64() * 1000.0,
        full_rss as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    println!(
        "metadata refresh, every integration overdue at start: {} fetches in {watch} s = {:.1}/s on average; busiest second {busiest}; steady rate {steady:.1}/s; the old pass fetched all {orgs} at once",
        times.len(),
        times.len() as f64 / watch as f64
    );
    let seconds: Vec<String> = per_second
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{s}s:{n}"))
        .collect();
    println!("fetches by second since the first: {}", seconds.join(" "));
}
