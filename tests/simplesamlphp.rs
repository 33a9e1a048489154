//! SAML against an IdP nobody here wrote: SimpleSAMLphp (Debian), driven
//! by headless Chromium through its own login form.
// Tests stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::Browser;
use common::simplesaml::{Account, SimpleSaml};
use common::{Api, Gateway};
use serde_json::{json, Value};

const ALICE: Account<'static> = Account {
    username: "alice",
    password: "wonderland",
    email: "alice@example.com",
    groups: &["engineering", "staff"],
};

/// An organization whose team pre-approves example.com, with a SAML
/// integration connected by SimpleSAMLphp's metadata URL, which in turn
/// trusts the gateway's SP metadata (with `sp_options` on top).
async fn connected(gw: &Gateway, idp: &SimpleSaml, sp_options: Value) -> (String, Value) {
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    api.add_team("Engineering", &["example.com"]).await;
    let integration = api
        .connect(
            json!({"kind": "saml", "name": "SimpleSAMLphp", "metadata_url": idp.metadata_url()}),
        )
        .await;
    let metadata = reqwest::get(integration["sp_metadata_url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    idp.trust_sp("gateway", &metadata, sp_options);
    (token, integration)
}

/// Signs in on SimpleSAMLphp's login form (the browser is on it).
async fn log_in_at_the_idp(b: &Browser, idp: &SimpleSaml, account: &Account<'_>) {
    b.wait_for_element("input[name=username]").await;
    b.fill("input[name=username]", account.username).await;
    b.fill("input[name=password]", account.password).await;
    b.click("button[type=submit], input[type=submit]").await;
    let _ = idp;
}

async fn last_sign_in(api: &Api<'_>) -> Value {
    api.get("/audit?kind=sign_in&limit=1").await.1["events"][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn sp_initiated_and_idp_initiated_sign_in_through_simplesamlphp() {
    let idp = SimpleSaml::start(&[ALICE], &[]).await;
    let gw = Gateway::start().await;
    let (token, integration) = connected(&gw, &idp, json!({})).await;
    let api = gw.api(&token);
    let b = Browser::start().await;

    // SP-initiated: our sign-in URL → SimpleSAMLphp's form → back to us.
    b.goto(integration["sign_in_url"].as_str().unwrap()).await;
    log_in_at_the_idp(&b, &idp, &ALICE).await;
    b.wait_for_text("alice@example.com").await;
    b.screenshot("simplesamlphp-01-signed-in-sp-initiated")
        .await;
    let event = last_sign_in(&api).await;
    assert_eq!(event["outcome"], "success", "{event}\n{}", idp.log());

    // IdP-initiated, in a fresh browser that has an IdP session only.
    b.client.delete_all_cookies().await.unwrap();
    b.goto(&idp.idp_initiated_url(integration["sp_entity_id"].as_str().unwrap()))
        .await;
    log_in_at_the_idp(&b, &idp, &ALICE).await;
    b.wait_for_text("alice@example.com").await;
    let (_, users) = api.get("/users").await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");
}
