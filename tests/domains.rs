//! End-to-end over HTTP: verified domains (DNS TXT against a loopback DNS
//! server), the sign-in page that routes by them, and the rule for
//! attaching an account that belongs to another organization through SAML.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::dns::TestDns;
use common::idp::{browser_sign_in, TestIdp};
use common::{Api, Gateway};
use serde_json::{json, Value};

/// A gateway whose look-ups go to `dns`, re-checking verified domains every
/// second with no grace period.
async fn gateway(dns: &TestDns, extra: &[(&str, &str)]) -> Gateway {
    let nameservers = dns.nameservers();
    let mut env = vec![
        ("SSO_GATEWAY__DNS__NAMESERVERS", nameservers.as_str()),
        ("SSO_GATEWAY__DNS__TIMEOUT_MS", "300"),
        ("SSO_GATEWAY__DNS__RECHECK_INTERVAL_SECONDS", "1"),
        ("SSO_GATEWAY__DNS__GRACE_HOURS", "0"),
    ];
    env.extend_from_slice(extra);
    Gateway::start_with(&env).await
}

/// Adds `domain`, publishes its record and verifies it.
async fn verify(api: &Api<'_>, dns: &TestDns, domain: &str) -> Value {
    let (status, added) = api.post("/domains", json!({ "domain": domain })).await;
    assert_eq!(status, 201, "{added}");
    let record = &added["txt_record"];
    dns.set_txt(
        record["name"].as_str().unwrap(),
        &[record["value"].as_str().unwrap()],
    );
    let (status, verified) = api
        .post(&format!("/domains/{domain}/verify"), json!({}))
        .await;
    assert_eq!(status, 200, "{verified}");
    verified
}

async fn event_types(api: &Api<'_>) -> Vec<String> {
    let (_, page) = api.get("/events?limit=1000").await;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_is_verified_by_its_txt_record_and_held_by_one_organization() {
    let dns = TestDns::start().await;
    let gw = gateway(&dns, &[]).await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);

    let (status, added) = api.post("/domains", json!({"domain": " Acme.TEST "})).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["domain"], "acme.test");
    assert_eq!(added["verified"], false);
    let name = added["txt_record"]["name"].as_str().unwrap().to_string();
    let value = added["txt_record"]["value"].as_str().unwrap().to_string();
    assert_eq!(name, "_sso-gateway-challenge.acme.test");
    assert!(value.starts_with("sso-gateway-domain-verification="));

    // No record yet, then the wrong one: 422s saying what was found.
    let (status, err) = api.post("/domains/acme.test/verify", json!({})).await;
    assert_eq!(status, 422, "{err}");
    assert!(err.to_string().contains("no TXT record"), "{err}");
    dns.set_txt(
        &name,
        &["v=spf1 -all", "sso-gateway-domain-verification=wrong"],
    );
    let (status, err) = api.post("/domains/acme.test/verify", json!({})).await;
    assert_eq!(status, 422);
    assert!(err.to_string().contains("v=spf1 -all"), "{err}");
    assert!(!event_types(&api).await.contains(&"domain.verified".into()));

    dns.set_txt(&name, &["v=spf1 -all", &value]);
    let (status, ok) = api.post("/domains/acme.test/verify", json!({})).await;
    assert_eq!((status, &ok["verified"]), (200, &json!(true)), "{ok}");
    assert!(event_types(&api).await.contains(&"domain.verified".into()));
    let (_, list) = api.get("/domains").await;
    assert_eq!(list["domains"][0]["verified"], true);

    // Another organization cannot hold it too.
    let (_, other) = gw.create_org("Other");
    let other = gw.api(&other);
    let (status, err) = other.post("/domains", json!({"domain": "acme.test"})).await;
    assert_eq!(status, 409, "{err}");

    // Bad input: clear 4xx, nothing written.
    for (domain, says) in [
        ("gmail.com", "public email provider"),
        ("not a domain", "valid"),
        ("https://acme.test", "URL"),
    ] {
        let (status, err) = api.post("/domains", json!({ "domain": domain })).await;
        assert_eq!(status, 422, "{domain}: {err}");
        assert!(err.to_string().contains(says), "{domain}: {err}");
    }
    assert_eq!(
        api.post("/domains", json!({"domain": "acme.test"})).await.0,
        409
    );
    assert_eq!(
        api.post("/domains/nope.test/verify", json!({})).await.0,
        404
    );
    assert_eq!(api.post("/domains", json!({})).await.0, 422);
    assert_eq!(api.delete("/domains/acme.test").await.0, 204);
    assert_eq!(api.delete("/domains/acme.test").await.0, 404);
    // Released: now the other organization may claim it.
    assert_eq!(
        other
            .post("/domains", json!({"domain": "acme.test"}))
            .await
            .0,
        201
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_failures_are_clear_422s_and_never_hang() {
    let dns = TestDns::start().await;
    let gw = gateway(&dns, &[]).await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    api.post("/domains", json!({"domain": "broken.test"})).await;
    api.post("/domains", json!({"domain": "slow.test"})).await;
    dns.servfail("_sso-gateway-challenge.broken.test");
    dns.silent("_sso-gateway-challenge.slow.test");

    let (status, err) = api.post("/domains/broken.test/verify", json!({})).await;
    assert_eq!(status, 422, "{err}");
    assert!(err.to_string().contains("failed"), "{err}");
    let started = Instant::now();
    let (status, err) = api.post("/domains/slow.test/verify", json!({})).await;
    assert_eq!(status, 422, "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sign_in_page_routes_only_by_verified_domains() {
    let dns = TestDns::start().await;
    let idp = TestIdp::start("ada@acme.test").await;
    let gw = gateway(
        &dns,
        &[(
            "SSO_GATEWAY__SESSION__SIGN_IN_PAGE_RATE_LIMIT_PER_MINUTE",
            "12",
        )],
    )
    .await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let okta = api.connect_okta(&idp).await;
    let okta_id = okta["id"].as_str().unwrap().to_string();
    let submit = |email: &str, return_to: &str| {
        gw.http
            .post(gw.url("/users/sign-in"))
            .form(&[("email", email), ("return_to", return_to)])
            .send()
    };

    let (status, form) = {
        let res = gw
            .http
            .get(gw.url("/users/sign-in?return_to=/app"))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(form.contains(r#"<label for="email">"#) && form.contains(r#"value="/app""#));

    // Claimed but not verified: it does not route (nor say more).
    api.post("/domains", json!({"domain": "acme.test"})).await;
    let res = submit("ada@acme.test", "/app").await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert!(
        res.headers().get("set-cookie").is_none(),
        "remembers nothing"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("not set up for acme.test"), "{page}");

    api.delete("/domains/acme.test").await;
    verify(&api, &dns, "acme.test").await;
    let res = submit("Ada@ACME.test", "/app").await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/users/sign-in/sso/okta/{okta_id}?return_to=%2Fapp").as_str()
    );
    // login_hint skips the form; an off-site return_to is dropped.
    let res = gw
        .http
        .get(gw.url("/users/sign-in?login_hint=bob%40acme.test&return_to=https://evil.example/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/users/sign-in/sso/okta/{okta_id}").as_str()
    );

    // Two integrations: a choice, each keeping return_to.
    let second = api
        .connect(json!({"kind": "saml", "name": "Backup IdP", "metadata_url": idp.metadata_url()}))
        .await;
    let res = submit("ada@acme.test", "/app").await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Backup IdP"), "{page}");
    assert!(page.contains(&format!(
        "/users/sign-in/sso/saml/{}?return_to=%2Fapp",
        second["id"].as_str().unwrap()
    )));

    // Not an email, an unknown domain, too long: a page that says so.
    let res = submit("ada", "").await.unwrap();
    assert_eq!(res.status().as_u16(), 422);
    assert!(res.text().await.unwrap().contains("work email address"));
    assert_eq!(
        submit("x@unknown.test", "")
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let long = format!("{}@acme.test", "a".repeat(400));
    assert_eq!(submit(&long, "").await.unwrap().status().as_u16(), 422);

    // Per-address budget: the page cannot be used to list domains.
    let mut last = 0;
    for _ in 0..12 {
        last = submit("x@unknown.test", "")
            .await
            .unwrap()
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disappearing_record_stops_routing_and_attaching() {
    let dns = TestDns::start().await;
    let gw = gateway(&dns, &[]).await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let idp = TestIdp::start("ada@acme.test").await;
    api.connect_okta(&idp).await;
    let verified = verify(&api, &dns, "acme.test").await;
    let record = verified["txt_record"]["name"].as_str().unwrap().to_string();

    // Still there at the re-checks: stays verified.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(api.get("/domains").await.1["domains"][0]["verified"], true);

    dns.remove(&record);
    let deadline = Instant::now() + Duration::from_secs(15);
    while api.get("/domains").await.1["domains"][0]["verified"] == true {
        assert!(Instant::now() < deadline, "the re-check never noticed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let res = gw
        .http
        .post(gw.url("/users/sign-in"))
        .form(&[("email", "ada@acme.test")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404, "no longer routes");
    assert!(event_types(&api)
        .await
        .contains(&"domain.unverified".into()));
    let (_, audit) = api.get("/audit?kind=domain.*").await;
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"domain.record_missing") && kinds.contains(&"domain.unverified"),
        "{kinds:?}"
    );
}

/// The nOAuth hole, through SAML: another organization's IdP asserting an
/// email of an account that belongs elsewhere is refused until that
/// organization verifies the domain (or invites the person).
#[tokio::test(flavor = "multi_thread")]
async fn saml_cannot_attach_another_organizations_account_without_proof() {
    let dns = TestDns::start().await;
    let gw = gateway(&dns, &[]).await;
    let idp = TestIdp::start("ceo@bigcorp.test").await;
    let (_, home_token) = gw.create_org("BigCorp");
    let home = gw.api(&home_token);
    home.add_team("All", &["bigcorp.test"]).await;
    let home_sso = home.connect_okta(&idp).await;
    let browser = gw.browser();
    let start = gw.url(&format!(
        "/users/sign-in/sso/okta/{}",
        home_sso["id"].as_str().unwrap()
    ));
    assert_eq!(browser_sign_in(&gw, &browser, &start).await.status(), 303);
    let (_, home_users) = home.get("/users").await;
    let ceo_id = home_users["users"][0]["id"].as_str().unwrap().to_string();

    let (_, evil_token) = gw.create_org("Evil");
    let evil = gw.api(&evil_token);
    evil.add_team("Everyone", &["bigcorp.test"]).await;
    let evil_sso = evil.connect_okta(&idp).await;
    let evil_start = gw.url(&format!(
        "/users/sign-in/sso/okta/{}",
        evil_sso["id"].as_str().unwrap()
    ));
    let browser = gw.browser();
    let refused = browser_sign_in(&gw, &browser, &evil_start).await;
    assert_eq!(refused.status().as_u16(), 403);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("already used by another organization"),
        "{page}"
    );
    assert!(evil.get("/users").await.1["users"]
        .as_array()
        .unwrap()
        .is_empty());
    let (_, audit) = evil.get("/audit?kind=sign_in&limit=1").await;
    assert!(audit["events"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("account_elsewhere"));
    // Nothing of BigCorp's member changed.
    let (_, ceo) = home.get(&format!("/users/{ceo_id}")).await;
    assert_eq!(ceo["email"], "ceo@bigcorp.test");
    assert_eq!(ceo["teams"][0]["name"], "All");

    // Evil can verify only a domain it controls; BigCorp verifies its own
    // first, and then Evil cannot.
    verify(&home, &dns, "bigcorp.test").await;
    let (status, _) = evil
        .post("/domains", json!({"domain": "bigcorp.test"}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        browser_sign_in(&gw, &browser, &evil_start)
            .await
            .status()
            .as_u16(),
        403
    );
}
