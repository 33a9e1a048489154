//! SAML sign-in throughput, as numbers (not a pass/fail test).
//!
//! 1. In-process: how many responses per second the ACS validation pipeline
//!    (prefilter, xmlsec signature check, every protocol check) gets through
//!    on all cores.
//! 2. Full HTTP: a real gateway (release build, default SQLite store and
//!    in-process cache) receives distinct signed IdP-initiated responses
//!    from this separate process over loopback; each one is validated,
//!    replay-checked, JIT-admitted, audited and given a session.
//!
//! Run: `cargo bench --bench saml_signin` (env SIGNINS=…, CONCURRENCY=…).

#[allow(dead_code)]
#[path = "../tests/common/idp.rs"]
mod idp;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use sso_gateway::saml::validate::{validate, Expectations};

/// `cargo bench` passes `--bench`; under `cargo test --all-targets` the
/// program runs as a quick smoke check with small counts.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn env_usize(name: &str, default: usize) -> usize {
    let default = if smoke() { default.min(40) } else { default };
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `make(i)` for i in 0..n on every core.
fn parallel<T: Send + 'static>(
    n: usize,
    make: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let make = Arc::new(make);
    let threads = cores();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let make = make.clone();
            std::thread::spawn(move || (t..n).step_by(threads).map(|i| make(i)).collect::<Vec<T>>())
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

fn in_process(sp_url: &str, issuer: &str) -> f64 {
    let n = env_usize("VALIDATIONS", 4000);
    let xml = Arc::new(idp::signed_xml(&idp::Spec::ok(
        issuer,
        sp_url,
        "ada@example.com",
    )));
    let cert_b64: String = idp::CERT_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(cert_b64)
        .unwrap();
    let certificates = Arc::new(vec![base64::engine::general_purpose::STANDARD.encode(der)]);
    let (sp, iss) = (sp_url.to_string(), issuer.to_string());
    let started = Instant::now();
    let ok = parallel(n, move |_| {
        let ex = Expectations {
            sp_url: &sp,
            idp_entity_id: Some(&iss),
            certificates: &certificates,
            clock_skew: chrono::Duration::seconds(60),
            max_bytes: 262_144,
            now: chrono::Utc::now(),
        };
        validate(&xml, &ex).is_ok()
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert!(ok.iter().all(|v| *v), "every validation must pass");
    n as f64 / elapsed
}

struct Server {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway() -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("SSO_GATEWAY__SERVER__BIND", format!("127.0.0.1:{port}")),
        ("SSO_GATEWAY__SERVER__PUBLIC_URL", base.clone()),
        ("SSO_GATEWAY__SERVER__LOG_LEVEL", "warn".to_string()),
    ];
    let bin = env!("CARGO_BIN_EXE_sso-gateway");
    let out = Command::new(bin)
        .args(["org", "create", "--name", "Bench", "--json"])
        .current_dir(dir.path())
        .envs(env.clone())
        .output()
        .unwrap();
    let token = serde_json::from_slice::<Value>(&out.stdout).unwrap()["admin_token"]
        .as_str()
        .unwrap()
        .to_string();
    let child = Command::new(bin)
        .arg("serve")
        .current_dir(dir.path())
        .envs(env)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (
        Server {
            child,
            base,
            _dir: dir,
        },
        token,
    )
}

#[tokio::main]
async fn main() {
    let (server, token) = start_gateway();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    for _ in 0..200 {
        if http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let api = |path: &str| format!("{}/api/v1{path}", server.base);
    http.post(api("/teams"))
        .bearer_auth(&token)
        .json(&json!({"name": "Eng", "preapproved_domains": ["example.com"]}))
        .send()
        .await
        .unwrap();
    let issuer = "http://www.okta.com/exkbench";
    let integration: Value = http
        .post(api("/integrations"))
        .bearer_auth(&token)
        .json(&json!({"kind": "okta", "sso_url": "https://idp.example.com/sso", "certificate_pem": idp::CERT_PEM, "idp_entity_id": issuer}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let acs = integration["acs_url"].as_str().unwrap().to_string();

    let validations_per_second = in_process(&acs, issuer);

    let n = env_usize("SIGNINS", 4000);
    let concurrency = env_usize("CONCURRENCY", 64);
    let (acs_for_sign, issuer_owned) = (acs.clone(), issuer.to_string());
    let bodies: Vec<String> = parallel(n, move |i| {
        let email = format!("user{}@example.com", i % 500);
        let xml = idp::signed_xml(&idp::Spec::ok(&issuer_owned, &acs_for_sign, &email));
        serde_urlencoded::to_string([("SAMLResponse", idp::encode(&xml))]).unwrap()
    });
    let (signins_per_second, p50, p99) = post_all(&http, &acs, bodies, concurrency, 303).await;
    drop(server);

    // The peer in the same run: saml-jackson's ACS behind express
    // (bench/peers/jackson), the same responses signed for its ACS URL.
    let jackson = match std::env::var("JACKSON_HARNESS") {
        Ok(dir) if !smoke() => {
            // Fewer for the (much slower) peer: a rate needs no 4000.
            let jn = env_usize("JACKSON_SIGNINS", 1000).min(n);
            Some(jackson_signins(&http, &dir, issuer, jn, concurrency).await)
        }
        _ => None,
    };
    println!(
        "machine: {} cores; store: SQLite (default), cache: in-process",
        cores()
    );
    println!("saml in-process validations/s: {validations_per_second:.0}");
    println!("saml full HTTP sign-ins/s:     {signins_per_second:.0}  (n={n}, concurrency={concurrency}, p50={:.1} ms, p99={:.1} ms)", p50, p99);
    println!(
        "{}",
        json!({"saml_validations_per_s": validations_per_second.round(), "saml_signins_per_s": signins_per_second.round(), "p50_ms": p50, "p99_ms": p99, "jackson_signins_per_s": jackson.map(|j| j.0.round()), "jackson_p99_ms": jackson.map(|j| j.2)})
    );
    match jackson {
        Some((rate, jp50, jp99)) => println!(
            "saml-jackson full HTTP sign-ins/s: {rate:.0}  (p50={jp50:.1} ms, p99={jp99:.1} ms); sso-gateway / saml-jackson = {:.1}x",
            signins_per_second / rate
        ),
        None => println!("saml-jackson: not run (smoke mode or JACKSON_HARNESS unset; scripts/bench.sh sets it)"),
    }
}

/// POSTs every body to `url` from `concurrency` tasks; each answer must have
/// `expect` status. (rate/s, p50 ms, p99 ms)
async fn post_all(
    http: &reqwest::Client,
    url: &str,
    bodies: Vec<String>,
    concurrency: usize,
    expect: u16,
) -> (f64, f64, f64) {
    let n = bodies.len();
    let bodies = Arc::new(tokio::sync::Mutex::new(bodies));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, bodies) = (http.clone(), url.to_string(), bodies.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let Some(body) = bodies.lock().await.pop() else {
                        break;
                    };
                    let t = Instant::now();
                    let res = http
                        .post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = res.status().as_u16();
                    assert_eq!(status, expect, "{url}: {}", res.text().await.unwrap());
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    (n as f64 / elapsed, pct(0.5), pct(0.99))
}

async fn jackson_signins(
    http: &reqwest::Client,
    dir: &str,
    issuer: &str,
    n: usize,
    concurrency: usize,
) -> (f64, f64, f64) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("node")
        .arg("server.js")
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("JACKSON_IDP_ISSUER", issuer)
        .stdout(Stdio::null())
        .spawn()
        .expect("node");
    let _guard = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: tempfile::tempdir().unwrap(),
    };
    let base = format!("http://127.0.0.1:{port}");
    let mut setup = None;
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{base}/bench/setup")).send().await {
            setup = r.json::<Value>().await.ok();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let setup = setup.expect("saml-jackson harness did not start");
    let acs = setup["acs_url"].as_str().unwrap().to_string();
    let (acs_for_sign, issuer_owned) = (acs.clone(), issuer.to_string());
    let bodies: Vec<String> = parallel(n, move |i| {
        let email = format!("user{}@example.com", i % 500);
        let xml = idp::signed_xml(&idp::Spec::ok(&issuer_owned, &acs_for_sign, &email));
        serde_urlencoded::to_string([("SAMLResponse", idp::encode(&xml))]).unwrap()
    });
    post_all(http, &acs, bodies, concurrency, 302).await
}
