//! SAML sign-in throughput, as numbers (not a pass/fail test).
//!
//! 1. In-process: how many responses per second the ACS validation pipeline
//!    (prefilter, xmlsec signature check, every protocol check) gets through
//!    on all cores — plain, and with the assertion encrypted (RSA-OAEP +
//!    AES-128-CBC, as Okta and ADFS send it by default), whose ratio shows
//!    what decryption costs next to validation.
//! 2. Full HTTP: a real gateway (release build, default SQLite store and
//!    in-process cache) receives distinct signed IdP-initiated responses
//!    from this separate process over loopback; each one is validated,
//!    replay-checked, JIT-admitted, audited and given a session. Then the
//!    same with assertions encrypted to the gateway's SP encryption
//!    certificate (read from its SP metadata).
//!
//! Run: `cargo bench --bench saml_signin` (env SIGNINS=…, CONCURRENCY=…).
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
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use sso_gateway::saml::validate::{validate, Expectations};
use support::{cores, env_usize, parallel, post_forms, smoke, Backend, Gateway, Process};

/// Validations per second of `xml` on every core (decrypting with `keys`).
fn in_process(
    sp_url: &str,
    issuer: &str,
    xml: String,
    keys: Vec<openssl::pkey::PKey<openssl::pkey::Private>>,
) -> f64 {
    let n = env_usize("VALIDATIONS", 4000, 40);
    let xml = Arc::new(xml);
    let keys = Arc::new(keys);
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
            decryption_keys: &keys,
            require_encrypted: false,
        };
        validate(&xml, &ex).is_ok()
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert!(ok.iter().all(|v| *v), "every validation must pass");
    n as f64 / elapsed
}

fn der_b64(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// Distinct IdP-initiated responses for `acs`, encrypted to `encrypt_to`
/// (base64 DER) when given, as form bodies.
fn bodies(n: usize, issuer: &str, acs: &str, encrypt_to: Option<String>) -> Vec<String> {
    let (acs, issuer) = (acs.to_string(), issuer.to_string());
    parallel(n, move |i| {
        let email = format!("user{}@example.com", i % 500);
        let spec = idp::Spec::ok(&issuer, &acs, &email);
        let xml = match &encrypt_to {
            Some(cert) => idp::encrypted_xml(&spec, cert, &xmlenc::CBC128),
            None => idp::signed_xml(&spec),
        };
        serde_urlencoded::to_string([("SAMLResponse", idp::encode(&xml))]).unwrap()
    })
}

#[tokio::main]
async fn main() {
    let gw = Gateway::start(Backend::Sqlite, &[]).await;
    let http = support::http();
    gw.add_team(&http, "Eng", &["example.com"]).await;
    let issuer = "http://www.okta.com/exkbench";
    let integration = gw.okta_integration(&http, idp::CERT_PEM, issuer).await;
    let acs = integration["acs_url"].as_str().unwrap().to_string();

    let mut spec = idp::Spec::ok(issuer, &acs, "ada@example.com");
    let validations_per_second = in_process(&acs, issuer, idp::signed_xml(&spec), Vec::new());
    let (sp_key, sp_pem) = idp::new_key_and_certificate("bench SP encryption");
    let encrypted = idp::encrypted_xml(&spec, &der_b64(&sp_pem), &xmlenc::CBC128);
    let encrypted_validations_per_second =
        in_process(&acs, issuer, encrypted, vec![sp_key.clone()]);
    // Both signed, the Response signature covers the ciphertext: one
    // signature check and a decryption, against two checks for plain.
    // Assertion-only signing isolates what decryption adds: the same one
    // signature check, plus a decryption and a second pass of the gate.
    spec.signing = idp::Signing::Assertion;
    let assertion_signed = in_process(&acs, issuer, idp::signed_xml(&spec), Vec::new());
    let encrypted = idp::encrypted_xml(&spec, &der_b64(&sp_pem), &xmlenc::CBC128);
    let assertion_signed_encrypted = in_process(&acs, issuer, encrypted, vec![sp_key]);

    let n = env_usize("SIGNINS", 4000, 40);
    let concurrency = env_usize("CONCURRENCY", 64, 40);
    let plain = bodies(n, issuer, &acs, None);
    let (signins_per_second, p50, p99) = post_forms(&http, &acs, plain, concurrency, 303).await;
    let metadata = http
        .get(format!("{acs}/metadata"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ours = idp::sp_certificate(&metadata, "encryption");
    let encrypted = bodies(n, issuer, &acs, Some(ours));
    let (encrypted_signins_per_second, ep50, ep99) =
        post_forms(&http, &acs, encrypted, concurrency, 303).await;
    drop(gw);

    // The peer in the same run: saml-jackson's ACS behind express
    // (bench/peers/jackson), the same responses signed for its ACS URL.
    let jackson = match std::env::var("JACKSON_HARNESS") {
        Ok(dir) if !smoke() => {
            // Fewer for the (much slower) peer: a rate needs no 4000.
            let jn = env_usize("JACKSON_SIGNINS", 1000, 40).min(n);
            Some(jackson_signins(&http, &dir, issuer, jn, concurrency).await)
        }
        _ => None,
    };
    println!(
        "machine: {} cores; store: SQLite (default), cache: in-process",
        cores()
    );
    let validation_ratio = encrypted_validations_per_second / validations_per_second;
    let assertion_ratio = assertion_signed_encrypted / assertion_signed;
    let signin_ratio = encrypted_signins_per_second / signins_per_second;
    println!("saml in-process validations/s: {validations_per_second:.0}");
    println!(
        "saml in-process validations/s, encrypted assertion: {encrypted_validations_per_second:.0}  (encrypted/plain = {validation_ratio:.2})"
    );
    println!(
        "saml in-process validations/s, assertion-only signed: plain {assertion_signed:.0}, encrypted {assertion_signed_encrypted:.0}  (encrypted/plain = {assertion_ratio:.2}; above 0.5: decryption costs less than a validation)"
    );
    println!("saml full HTTP sign-ins/s:     {signins_per_second:.0}  (n={n}, concurrency={concurrency}, p50={:.1} ms, p99={:.1} ms)", p50, p99);
    println!(
        "saml full HTTP sign-ins/s, encrypted assertion: {encrypted_signins_per_second:.0}  (p50={ep50:.1} ms, p99={ep99:.1} ms; encrypted/plain = {signin_ratio:.2})"
    );
    println!(
        "{}",
        json!({"saml_validations_per_s": validations_per_second.round(), "saml_encrypted_validations_per_s": encrypted_validations_per_second.round(), "encrypted_validation_ratio": validation_ratio, "saml_assertion_signed_validations_per_s": assertion_signed.round(), "saml_assertion_signed_encrypted_validations_per_s": assertion_signed_encrypted.round(), "encrypted_assertion_signed_ratio": assertion_ratio, "saml_signins_per_s": signins_per_second.round(), "saml_encrypted_signins_per_s": encrypted_signins_per_second.round(), "encrypted_signin_ratio": signin_ratio, "p50_ms": p50, "p99_ms": p99, "jackson_signins_per_s": jackson.map(|j| j.0.round()), "jackson_p99_ms": jackson.map(|j| j.2)})
    );
    match jackson {
        Some((rate, jp50, jp99)) => println!(
            "saml-jackson full HTTP sign-ins/s: {rate:.0}  (p50={jp50:.1} ms, p99={jp99:.1} ms); sso-gateway / saml-jackson = {:.1}x",
            signins_per_second / rate
        ),
        None => println!("saml-jackson: not run (smoke mode or JACKSON_HARNESS unset; scripts/bench.sh sets it)"),
    }
}

async fn jackson_signins(
    http: &reqwest::Client,
    dir: &str,
    issuer: &str,
    n: usize,
    concurrency: usize,
) -> (f64, f64, f64) {
    let port = support::free_port();
    let mut node = Command::new("node");
    node.arg("server.js")
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("JACKSON_IDP_ISSUER", issuer);
    let _jackson = Process::spawn("saml-jackson harness", node);
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
    post_forms(http, &acs, bodies(n, issuer, &acs, None), concurrency, 302).await
}
