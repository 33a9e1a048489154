//! End-to-end: an IdP signing certificate about to expire is announced
//! (event, audit, metric) once per warning, 30/7/1 days ahead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::idp::new_key_and_certificate_for_days;
use common::Gateway;
use serde_json::{json, Value};

async fn expiring_events(api: &common::Api<'_>) -> Vec<Value> {
    let (_, page) = api
        .get("/events?types=integration.certificate_expiring&limit=100")
        .await;
    page["events"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expiring_certificate_is_announced_once_with_its_metric() {
    let gw = Gateway::start_with(&[("SSO_GATEWAY__SAML__CERTIFICATE_CHECK_SECONDS", "1")]).await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let (_, soon) = new_key_and_certificate_for_days("soon.idp.test", 5);
    let (_, later) = new_key_and_certificate_for_days("later.idp.test", 400);
    let (status, soon_one) = api
        .post(
            "/integrations",
            json!({"kind": "saml", "name": "Soon", "sso_url": "https://idp.test/sso", "certificate_pem": soon}),
        )
        .await;
    assert_eq!(status, 201, "{soon_one}");
    let (status, _) = api
        .post(
            "/integrations",
            json!({"kind": "saml", "name": "Later", "sso_url": "https://idp.test/sso2", "certificate_pem": later}),
        )
        .await;
    assert_eq!(status, 201);

    let deadline = Instant::now() + Duration::from_secs(15);
    let events = loop {
        let events = expiring_events(&api).await;
        if !events.is_empty() {
            break events;
        }
        assert!(Instant::now() < deadline, "no warning came");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let data = &events[0]["data"];
    assert_eq!(data["id"], soon_one["id"]);
    assert_eq!(data["name"], "Soon");
    assert_eq!(
        data["certificate"]["threshold_days"], 7,
        "the tightest warning only"
    );
    assert!((4..=5).contains(&data["certificate"]["days_left"].as_i64().unwrap()));
    // Later passes add nothing: each warning goes out once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(expiring_events(&api).await.len(), 1);
    let (_, audit) = api
        .get("/audit?kind=integration.certificate_expiring")
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1);

    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = soon_one["id"].as_str().unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "sso_gateway_idp_certificate_expiry_seconds{{integration=\"{id}\"}}"
            ))
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    let seconds: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        (4.0 * 86_400.0..=5.0 * 86_400.0 + 60.0).contains(&seconds),
        "{line}"
    );
}
