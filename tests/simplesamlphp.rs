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
async fn log_in_at_the_idp(b: &Browser, account: &Account<'_>) {
    // By its text first: a failure then shows what the page said instead.
    b.wait_for_text("Username").await;
    b.wait_for_element("input[name=username]").await;
    b.fill("input[name=username]", account.username).await;
    b.fill("input[name=password]", account.password).await;
    b.click("button[type=submit], input[type=submit]").await;
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
    log_in_at_the_idp(&b, &ALICE).await;
    b.wait_for_text("alice@example.com").await;
    b.screenshot("simplesamlphp-01-signed-in-sp-initiated")
        .await;
    let event = last_sign_in(&api).await;
    assert_eq!(event["outcome"], "success", "{event}\n{}", idp.log());

    // IdP-initiated, in a fresh browser that has an IdP session only.
    b.client.delete_all_cookies().await.unwrap();
    b.goto(&idp.idp_initiated_url(integration["sp_entity_id"].as_str().unwrap()))
        .await;
    log_in_at_the_idp(&b, &ALICE).await;
    b.wait_for_text("alice@example.com").await;
    let (_, users) = api.get("/users").await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");
}

/// The home page's "Sign out" button, then wait for where it leads.
async fn sign_out_from_home(b: &Browser, gw: &Gateway) {
    b.goto(&gw.url("/")).await;
    b.wait_for_text("You're signed in").await;
    b.click("form[action='/users/sign-out'] button").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_authn_requests_and_encrypted_assertions_through_simplesamlphp() {
    // The IdP itself demands signed AuthnRequests (its metadata then says
    // WantAuthnRequestsSigned), and encrypts every assertion to our SP
    // encryption key, with AES-256-GCM.
    let idp = SimpleSaml::start(&[ALICE], &[("validate.authnrequest", "true")]).await;
    let gw = Gateway::start().await;
    let (token, integration) = connected(
        &gw,
        &idp,
        json!({
            "validate.authnrequest": true,
            "assertion.encryption": true,
            "sharedkey_algorithm": "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        }),
    )
    .await;
    let api = gw.api(&token);
    let id = integration["id"].as_str().unwrap();
    let (status, updated) = api
        .patch(
            &format!("/integrations/{id}"),
            json!({"require_encrypted_assertions": true}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");

    let b = Browser::start().await;
    b.goto(integration["sign_in_url"].as_str().unwrap()).await;
    log_in_at_the_idp(&b, &ALICE).await;
    b.wait_for_text("alice@example.com").await;
    let event = last_sign_in(&api).await;
    assert_eq!(event["outcome"], "success", "{event}\n{}", idp.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn single_logout_both_ways_through_simplesamlphp() {
    let idp = SimpleSaml::start(&[ALICE], &[("sign.logout", "true")]).await;
    let gw = Gateway::start().await;
    let (token, integration) = connected(&gw, &idp, json!({"validate.logout": true})).await;
    let api = gw.api(&token);
    let sign_in_url = integration["sign_in_url"].as_str().unwrap();
    let b = Browser::start().await;

    // Ours first: sign out here → SimpleSAMLphp ends its session → back.
    b.goto(sign_in_url).await;
    log_in_at_the_idp(&b, &ALICE).await;
    b.wait_for_text("You're signed in").await;
    sign_out_from_home(&b, &gw).await;
    b.wait_for_text("You're not signed in").await;
    b.screenshot("simplesamlphp-02-signed-out-through-the-idp")
        .await;
    // The IdP's session is gone too: signing in asks for the password again.
    b.goto(sign_in_url).await;
    b.wait_for_element("input[name=password]").await;
    log_in_at_the_idp(&b, &ALICE).await;
    b.wait_for_text("You're signed in").await;

    // The IdP's: its logout page sends us a signed LogoutRequest; we end
    // the session and answer with a signed LogoutResponse it accepts.
    let done = gw.url("/?after=idp-logout");
    b.goto(&idp.logout_url(&done)).await;
    b.wait_for_path("after=idp-logout").await;
    b.wait_for_text("You're not signed in").await;
    let (_, audit) = api.get("/audit?kind=single_logout").await;
    let events = audit["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["outcome"] == "success"
            && e["details"]["direction"] == "idp"
            && e["details"]["sessions_ended"] == 1),
        "{audit}\n{}",
        idp.log()
    );
    assert!(
        events.iter().any(|e| e["details"]["direction"] == "sp"),
        "{audit}"
    );
    assert!(
        events.iter().all(|e| e["outcome"] == "success"),
        "{audit}\n{}",
        idp.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simplesamlphp_groups_put_people_in_teams_and_take_them_out() {
    let idp = SimpleSaml::start(&[ALICE], &[]).await;
    let gw = Gateway::start().await;
    let (token, integration) = connected(&gw, &idp, json!({})).await;
    let api = gw.api(&token);
    let (status, platform) = api
        .post(
            "/teams",
            json!({"name": "Platform", "idp_groups": ["engineering"]}),
        )
        .await;
    assert_eq!(status, 201, "{platform}");
    let sign_in_url = integration["sign_in_url"].as_str().unwrap();

    let b = Browser::start().await;
    b.goto(sign_in_url).await;
    log_in_at_the_idp(&b, &ALICE).await;
    let home = b.wait_for_text("You're signed in").await;
    assert!(home.contains("Platform"), "{home}");

    // Alice leaves "engineering" at the IdP; her next sign-in takes her
    // out of Platform and leaves the pre-approved team alone.
    idp.set_accounts(&[Account {
        groups: &["staff"],
        ..ALICE
    }]);
    b.client.delete_all_cookies().await.unwrap();
    b.goto(sign_in_url).await;
    log_in_at_the_idp(&b, &ALICE).await;
    let home = b.wait_for_text("You're signed in").await;
    assert!(
        !home.contains("Platform"),
        "{home}\n{}",
        last_sign_in(&api).await
    );
    assert!(home.contains("Engineering"), "{home}");
}
