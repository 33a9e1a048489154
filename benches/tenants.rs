//! Many organizations on one gateway (issue 16, goal 4): ORGS organizations
//! (default 10,000), each with a team and a SAML integration connected by
//! metadata URL to a loopback metadata server that counts the fetches per
//! second. Measures, release build, SQLite:
//!
//! * start-up time (process start → `/healthz` answers) and RSS with that
//!   data set, against the empty gateway in the same run;
//! * the metadata refresh job after a restart with every integration
//!   overdue (as after downtime): fetches per second over WATCH_SECONDS,
//!   against the steady rate (ORGS per `saml.metadata_refresh_seconds`) and
//!   the old behaviour's bound (every overdue integration in the first pass).
//!
//! Knobs: ORGS (10000), WATCH_SECONDS (150), REFRESH_SECONDS (3600).
// Benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{env_usize, free_port, http, machine, rss_kib, wait_http, Backend, Gateway};

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

#[tokio::main]
async fn main() {
    let orgs = env_usize("ORGS", 10_000, 20);
    let watch = env_usize("WATCH_SECONDS", 150, 3) as u64;
    let refresh_seconds = env_usize("REFRESH_SECONDS", 3600, 3600) as u64;
    println!("# tenants bench: {orgs} organizations; {}", machine());

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
    let client = http();

    // The empty gateway's figures, same run.
    gw.stop();
    let (child, empty_start, empty_rss) = start_up(&gw, &[]).await;

    let began = Instant::now();
    let created: Vec<()> = futures_util::stream::iter(0..orgs)
        .map(|n| {
            let (client, key, base, idp) = (client.clone(), key.clone(), gw.base.clone(), idp.clone());
            async move {
                let org: Value = client
                    .post(format!("{base}/api/v1/organizations"))
                    .bearer_auth(&key)
                    .json(&json!({"name": format!("Tenant {n}")}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let token = org["admin_token"].as_str().expect("an admin token").to_string();
                for (path, body) in [
                    ("/teams", json!({"name": "Everyone", "preapproved_domains": [format!("tenant{n}.example")]})),
                    ("/integrations", json!({"kind": "okta", "metadata_url": format!("{idp}/{n}/metadata")})),
                ] {
                    let res = client
                        .post(format!("{base}/api/v1{path}"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert!(res.status().is_success(), "{path}: {}", res.text().await.unwrap());
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let create_took = began.elapsed();
    println!(
        "created {} organizations (team + metadata-URL integration each) in {:.1} s ({:.0}/s)",
        created.len(),
        create_took.as_secs_f64(),
        orgs as f64 / create_took.as_secs_f64()
    );
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
    let (child, full_start, full_rss) = start_up(&gw, &[]).await;
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
        "start-up, {orgs} organizations: {:.0} ms, RSS {:.1} MiB ({:.1} MiB after {watch} s of refreshing)",
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
