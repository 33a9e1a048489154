//! The admin UI (`/admin`): the whole admin journey in a real browser
//! (Debian's chromium through chromedriver), plus CSRF refusal, session
//! expiry and the wall between organizations over plain HTTP.
//!
//! Screenshots of each page go to `target/screenshots/NN-name.png`.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::idp::TestIdp;
use common::op::{TestOp, CLIENT_ID, CLIENT_SECRET, TENANT};
use common::Gateway;
use fantoccini::Locator;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_journey_in_a_real_browser() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let idp = TestIdp::start("ada@example.com").await;
    let b = Browser::start().await;

    // Sign-in: a wrong token is refused next to its field, the right one opens the UI.
    b.goto(&gw.url("/admin")).await;
    assert_eq!(b.path().await, "/admin/sign-in");
    b.screenshot("01-sign-in").await;
    b.fill("#token", "sgw_admin_not-the-token").await;
    b.click("form[action='/admin/sign-in'] button[type=submit]")
        .await;
    let page = b.wait_for_text("not valid").await;
    assert!(b.client.find(Locator::Css("#token-error")).await.is_ok());
    assert!(page.contains("Organization admin token"));
    b.screenshot("02-sign-in-error").await;
    b.fill("#token", &token).await;
    b.click("form[action='/admin/sign-in'] button[type=submit]")
        .await;
    b.wait_for_text("Connect an identity provider").await;
    assert_eq!(b.path().await, "/admin/sso");
    b.screenshot("03-sso-empty").await;

    // Connect Okta: the Integration ID to copy comes first, then the metadata link.
    b.click("a[href='/admin/sso/connect/okta']").await;
    let integration_id = b.value("#integration-id").await;
    assert_eq!(integration_id.len(), 36, "{integration_id}");
    let page = b.text().await;
    assert!(page.contains("View IdP Metadata"), "{page}");
    assert!(page.contains(&format!("/users/sign-in/sso/okta/{integration_id}")));
    b.screenshot("04-connect-okta").await;
    b.fill("#metadata_url", "okta metadata").await;
    b.click("form[action='/admin/sso/connect/okta'] input[value=url] ~ button[type=submit]")
        .await;
    b.wait_for_text("is not a URL").await;
    assert!(b
        .client
        .find(Locator::Css("#metadata_url-error"))
        .await
        .is_ok());
    assert_eq!(
        b.value("#integration-id").await,
        integration_id,
        "the ID stays"
    );
    b.screenshot("05-connect-okta-error").await;

    // Connect redirects to the IdP for a test sign-in. Nobody pre-approves
    // example.com yet, so Ada is not admitted — but the IdP's answer verified.
    b.fill("#metadata_url", &idp.metadata_url()).await;
    b.click("form[action='/admin/sso/connect/okta'] input[value=url] ~ button[type=submit]")
        .await;
    b.wait_for_text("don't have access").await;
    b.screenshot("06-test-sign-in-not-admitted").await;

    b.goto(&gw.url(&format!("/admin/sso/{integration_id}")))
        .await;
    let page = b.text().await;
    assert!(
        page.contains("no team pre-approves their email domain"),
        "{page}"
    );
    assert!(page.contains("ada@example.com"));
    assert!(
        page.contains("Connected (last person was not admitted)"),
        "{page}"
    );
    assert!(page.contains(&format!(
        "{}/users/sign-in/sso/okta/{integration_id}",
        gw.base
    )));
    b.screenshot("07-integration").await;
    b.scroll_to("#saml-security").await;
    b.screenshot("07b-integration-sp-keys-and-settings").await;

    // Teams: create one, then "three dots → Configure" to add a pre-approved domain.
    b.click("nav a[href='/admin/teams']").await;
    b.fill("#name", "Engineering").await;
    b.click("form[action='/admin/teams'] button[type=submit]")
        .await;
    b.wait_for_text("Team created.").await;
    b.click("details.menu summary").await;
    b.click("details.menu .menu-items a:first-child").await;
    b.wait_for_path("/admin/teams/").await;
    b.wait_for_text("Pre-approved domains").await;
    b.fill("#preapproved_domains", "Example.com").await;
    b.click("main form button.button[type=submit]").await;
    b.wait_for_text("Changes saved.").await;
    assert_eq!(b.value("#preapproved_domains").await, "example.com");
    b.screenshot("08-team-configure").await;
    let team_path = b.path().await;
    let team_id = team_path
        .trim_start_matches("/admin/teams/")
        .split('?')
        .next()
        .unwrap()
        .to_string();

    // Test sign-in again: Ada joins by JIT and the test page says so.
    b.goto(&gw.url(&format!("/admin/sso/{integration_id}")))
        .await;
    b.click(&format!("a[href='/admin/sso/{integration_id}/test']"))
        .await;
    let page = b.wait_for_text("Single sign-on works").await;
    assert!(page.contains("ada@example.com"), "{page}");
    b.screenshot("09-test-sign-in-ok").await;

    // Provisioning: the token is shown once, with the Tenant URL and ID.
    b.goto(&gw.url(&format!("/admin/sso/{integration_id}")))
        .await;
    b.click("#provisioning form button[type=submit]").await;
    b.wait_for_text("Copy the secret token now").await;
    let tenant_url = b.value("#tenant-url").await;
    let tenant_id = b.value("#tenant-id").await;
    let scim_token = b.value("#scim-token").await;
    assert_eq!(tenant_url, gw.url(&format!("/scim/v2/{integration_id}")));
    assert_eq!(tenant_id, integration_id);
    assert!(scim_token.starts_with("sgw_scim_"), "{scim_token}");
    b.screenshot("10-provisioning-token").await;
    b.client.refresh().await.unwrap();
    let page = b.wait_for_text("already shown").await;
    assert!(!page.contains(&scim_token), "the token is shown only once");

    // A real SCIM POST with the token read from the page.
    let created = reqwest::Client::new()
        .post(format!("{tenant_url}/Users"))
        .bearer_auth(&scim_token)
        .header("content-type", "application/scim+json")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "grace@example.com",
                "name": {"givenName": "Grace", "familyName": "Hopper"},
                "emails": [{"value": "grace@example.com", "type": "work", "primary": true}],
                "active": true
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());

    b.click("nav a[href='/admin/users']").await;
    let page = b.wait_for_text("grace@example.com").await;
    assert!(page.contains("SCIM-managed"), "{page}");
    assert!(page.contains("ada@example.com"));
    b.screenshot("11-users").await;

    // Delete the team (confirming), then restore it.
    b.click("nav a[href='/admin/teams']").await;
    b.click("details.menu summary").await;
    b.click(&format!("a[href='/admin/teams/{team_id}/delete']"))
        .await;
    b.wait_for_text("Delete Engineering?").await;
    b.screenshot("12-team-delete").await;
    b.click("form[action$='/delete'] button[type=submit]").await;
    let page = b.wait_for_text("Deleted teams").await;
    assert!(
        page.contains("in 29 days") || page.contains("in 30 days"),
        "{page}"
    );
    b.screenshot("13-teams-deleted").await;
    b.click(&format!(
        "form[action='/admin/teams/{team_id}/restore'] button"
    ))
    .await;
    let page = b.wait_for_text("Team restored.").await;
    assert!(!page.contains("Deleted teams"), "{page}");
    b.screenshot("14-teams").await;

    // The audit log, filtered to refused sign-ins, in plain words.
    b.click("nav a[href='/admin/audit']").await;
    b.client
        .find(Locator::Css("#kind"))
        .await
        .unwrap()
        .select_by_value("sign_in")
        .await
        .unwrap();
    b.client
        .find(Locator::Css("#outcome"))
        .await
        .unwrap()
        .select_by_value("failure")
        .await
        .unwrap();
    b.click("form.filters button[type=submit]").await;
    b.wait_for_path("outcome=failure").await;
    let page = b.wait_for_text("no team pre-approves").await;
    assert!(page.contains("not_preapproved"), "{page}");
    assert!(!page.contains("success"), "only failures: {page}");
    b.screenshot("15-audit-refusals").await;
    b.goto(&gw.url("/admin/audit")).await;
    let page = b.text().await;
    for what in [
        "Team restored",
        "Team deleted",
        "SCIM: user created",
        "Provisioning turned on",
        "Integration connected",
    ] {
        assert!(page.contains(what), "{what}: {page}");
    }
    b.screenshot("16-audit").await;

    // A phone-sized screen.
    b.client.set_window_size(390, 844).await.unwrap();
    b.goto(&gw.url("/admin/users")).await;
    b.screenshot("17-phone-users").await;
    b.goto(&gw.url(&format!("/admin/sso/{integration_id}")))
        .await;
    b.screenshot("18-phone-integration").await;
    b.client.set_window_size(1280, 1400).await.unwrap();

    // Ada becomes an admin; she signs in to the admin UI through Okta.
    b.goto(&gw.url("/admin/users")).await;
    let ada_select = b
        .client
        .find(Locator::XPath(
            "//tr[.//strong[text()='ada@example.com']]//select",
        ))
        .await
        .unwrap();
    ada_select.select_by_value("admin").await.unwrap();
    b.client
        .find(Locator::XPath(
            "//tr[.//strong[text()='ada@example.com']]//button",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text("Role changed.").await;
    b.click("form.signout button").await;
    b.wait_for_text("You have signed out.").await;
    b.client.delete_all_cookies().await.unwrap();
    b.goto(&gw.url("/admin/sso")).await;
    assert_eq!(b.path().await, "/admin/sign-in");
    b.fill("#integration_id", &integration_id).await;
    b.click("form[action='/admin/sign-in/sso'] button").await;
    let page = b.wait_for_text("Connect an identity provider").await;
    assert!(page.contains("ada@example.com"), "signed in as Ada: {page}");
    b.screenshot("19-signed-in-through-sso").await;

    let client = b.client.clone();
    drop(b);
    let _ = client.close().await;
}

/// The Entra guide in a browser: connect with tenant, client ID and secret
/// (the redirect URI shown to copy first), then the test sign-in goes to the
/// provider and back.
#[tokio::test(flavor = "multi_thread")]
async fn connect_entra_and_test_sign_in_in_a_real_browser() {
    let op = TestOp::start("grace@example.com").await;
    let gw = Gateway::start_with(&[("SSO_GATEWAY__ENTRA__AUTHORITY", &op.base)]).await;
    let (_, token) = gw.create_org("Contoso");
    gw.api(&token).add_team("Everyone", &["example.com"]).await;
    let b = Browser::start().await;
    b.goto(&gw.url("/admin/sign-in")).await;
    b.fill("#token", &token).await;
    b.click("form[action='/admin/sign-in'] button[type=submit]")
        .await;
    b.wait_for_text("Connect an identity provider").await;

    b.click("a[href='/admin/sso/connect/entra']").await;
    let redirect_uri = b.value("#redirect-uri").await;
    let integration_id = redirect_uri
        .trim_end_matches("/callback")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        redirect_uri,
        gw.url(&format!(
            "/users/sign-in/sso/entra/{integration_id}/callback"
        )),
        "the redirect URI to register"
    );
    b.fill("#tenant", "not a tenant").await;
    b.fill("#client_id", CLIENT_ID).await;
    b.fill("#client_secret", CLIENT_SECRET).await;
    b.click("form[action='/admin/sso/connect/entra'] button[type=submit]")
        .await;
    b.wait_for_element("#tenant-error").await;
    b.screenshot("20-connect-entra-error").await;
    b.fill("#tenant", TENANT).await;
    b.fill("#client_secret", CLIENT_SECRET).await;
    b.click("form[action='/admin/sso/connect/entra'] button[type=submit]")
        .await;
    let page = b.wait_for_text("Single sign-on works").await;
    assert!(page.contains("grace@example.com"), "{page}");
    b.screenshot("21-entra-test-sign-in-ok").await;
    b.goto(&gw.url(&format!("/admin/sso/{integration_id}")))
        .await;
    let page = b.text().await;
    assert!(!page.contains(CLIENT_SECRET), "the secret is never shown");
    b.screenshot("22-entra-integration").await;
    let client = b.client.clone();
    drop(b);
    let _ = client.close().await;
}

/// Signs in with the admin token over plain HTTP; returns the client (with
/// its cookies) and the CSRF token of its session.
async fn token_session(gw: &Gateway, token: &str) -> (reqwest::Client, String) {
    let http = gw.browser();
    let res = http
        .post(gw.url("/admin/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(res.headers()["location"], "/admin/sso");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = get_page(gw, &http, "/admin/teams").await;
    (http, csrf_of(&page))
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

async fn get_page(gw: &Gateway, http: &reqwest::Client, path: &str) -> String {
    let res = http.get(gw.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn forms_without_this_sessions_csrf_token_are_refused() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let (http, csrf) = token_session(&gw, &token).await;
    for form in [
        vec![("name", "Sales")],
        vec![("name", "Sales"), ("csrf", "forged")],
        vec![("name", "Sales"), ("csrf", "")],
    ] {
        let res = http
            .post(gw.url("/admin/teams"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let page = res.text().await.unwrap();
        assert!(page.contains("This form was refused"), "{page}");
        assert!(page.contains("Nothing was changed"), "{page}");
    }
    assert_eq!(gw.api(&token).get("/teams").await.1["teams"], json!([]));

    let res = http
        .post(gw.url("/admin/teams"))
        .form(&[("name", "Sales"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        gw.api(&token).get("/teams").await.1["teams"][0]["name"],
        "Sales"
    );

    // A sign-in form posted from another site is refused before any check.
    let res = gw
        .browser()
        .post(gw.url("/admin/sign-in"))
        .header("origin", "https://evil.example")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("set-cookie").is_none());

    // Bad input is a page that says so, never a 500.
    let res = http
        .post(gw.url("/admin/users/x/role"))
        .form(&[("csrf", csrf.as_str()), ("role", "emperor")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("owner, admin or member"));
    for path in [
        "/admin/sso/not-an-id",
        "/admin/teams/nope",
        "/admin/nowhere",
    ] {
        let res = http.get(gw.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert!(
            res.text().await.unwrap().contains("does not exist"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_or_revoked_admin_session_goes_back_to_sign_in() {
    let gw = Gateway::start_with(&[("SSO_GATEWAY__SESSION__ADMIN_LIFETIME_SECONDS", "2")]).await;
    let (_, token) = gw.create_org("Acme");
    let (http, csrf) = token_session(&gw, &token).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let res = http.get(gw.url("/admin/teams")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/sign-in?reason=expired");
    let page = get_page(&gw, &http, "/admin/sign-in?reason=expired").await;
    assert!(page.contains("Your admin session has expired"), "{page}");
    let res = http
        .post(gw.url("/admin/teams"))
        .form(&[("name", "Late"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "an expired session changes nothing");
    assert_eq!(gw.api(&token).get("/teams").await.1["teams"], json!([]));

    // Rotating the admin token ends the sessions it opened.
    let (http, _) = token_session(&gw, &token).await;
    let (status, rotated) = gw.api(&token).post("/admin-token/rotate", json!({})).await;
    assert_eq!(status, 201, "{rotated}");
    let res = http.get(gw.url("/admin/sso")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/sign-in?reason=revoked");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_organizations_admin_never_sees_anothers_data() {
    let gw = Gateway::start().await;
    let idp = TestIdp::start("ada@a.example").await;
    let (_, token_a) = gw.create_org("Alpha Corp");
    let (_, token_b) = gw.create_org("Beta Inc");
    let api_a = gw.api(&token_a);
    let team = api_a.add_team("Alpha Secret Team", &["a.example"]).await;
    let team_id = team["id"].as_str().unwrap();
    let integration = api_a.connect_okta(&idp).await;
    let integration_id = integration["id"].as_str().unwrap();
    api_a
        .post(
            &format!("/integrations/{integration_id}/provisioning"),
            json!({}),
        )
        .await;

    let (http, csrf_b) = token_session(&gw, &token_b).await;
    for path in ["/admin/sso", "/admin/teams", "/admin/users", "/admin/audit"] {
        let page = get_page(&gw, &http, path).await;
        assert!(page.contains("Beta Inc"), "{path}");
        for secret in ["Alpha", integration_id, team_id] {
            assert!(!page.contains(secret), "{path} shows {secret}");
        }
    }
    for path in [
        format!("/admin/teams/{team_id}"),
        format!("/admin/teams/{team_id}/delete"),
        format!("/admin/sso/{integration_id}"),
        format!("/admin/sso/{integration_id}/delete"),
        format!("/admin/sso/{integration_id}/provisioning"),
    ] {
        let res = http.get(gw.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    for path in [
        format!("/admin/teams/{team_id}"),
        format!("/admin/teams/{team_id}/delete"),
        format!("/admin/sso/{integration_id}/delete"),
        format!("/admin/sso/{integration_id}/provisioning"),
        format!("/admin/sso/{integration_id}/provisioning/off"),
    ] {
        let res = http
            .post(gw.url(&path))
            .form(&[("csrf", csrf_b.as_str()), ("name", "Hijacked")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let (_, team_now) = api_a.get(&format!("/teams/{team_id}")).await;
    assert_eq!(team_now["name"], "Alpha Secret Team");
    let (_, integration_now) = api_a.get(&format!("/integrations/{integration_id}")).await;
    assert_eq!(integration_now["provisioning"]["enabled"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn domains_are_verified_and_people_invited_in_the_admin_pages() {
    let dns = common::dns::TestDns::start().await;
    let nameservers = dns.nameservers();
    let gw = Gateway::start_with(&[("SSO_GATEWAY__DNS__NAMESERVERS", &nameservers)]).await;
    let (_, token) = gw.create_org("Acme");
    gw.api(&token).add_team("Engineering", &["acme.test"]).await;
    let (http, csrf) = token_session(&gw, &token).await;
    let post = |path: &str, form: Vec<(&str, &str)>| http.post(gw.url(path)).form(&form).send();

    let res = post(
        "/admin/domains",
        vec![("csrf", &csrf), ("domain", "gmail.com")],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("public email provider"));
    let res = post(
        "/admin/domains",
        vec![("csrf", &csrf), ("domain", "Acme.test")],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    let page = get_page(&gw, &http, "/admin/domains").await;
    assert!(
        page.contains("_sso-gateway-challenge.acme.test"),
        "the record to copy"
    );
    assert!(page.contains("Not verified") && page.contains(">Verify</button>"));
    let value_at = page.find("sso-gateway-domain-verification=").unwrap();
    let value = &page[value_at..value_at + page[value_at..].find('"').unwrap()];

    let res = post("/admin/domains/acme.test/verify", vec![("csrf", &csrf)])
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("no TXT record"));
    dns.set_txt("_sso-gateway-challenge.acme.test", &[value]);
    let res = post("/admin/domains/acme.test/verify", vec![("csrf", &csrf)])
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(get_page(&gw, &http, "/admin/domains?done=domain_verified")
        .await
        .contains("Domain verified."));
    let teams = get_page(&gw, &http, "/admin/teams").await;
    assert!(
        teams.contains("<code>acme.test</code> <span class=\"badge ok\""),
        "{teams}"
    );
    // Forged forms change nothing.
    let res = post("/admin/domains/acme.test/remove", vec![("csrf", "forged")])
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let res = post(
        "/admin/users",
        vec![("csrf", &csrf), ("email", "not-an-email")],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let res = post(
        "/admin/users",
        vec![
            ("csrf", &csrf),
            ("email", "grace@acme.test"),
            ("role", "admin"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    let (_, users) = gw.api(&token).get("/users").await;
    assert_eq!(users["users"][0]["email"], "grace@acme.test");
    assert_eq!(users["users"][0]["role"], "admin");
}

/// The platform operator's pages: signed in with the API key, the webhook
/// endpoints, one's deliveries log and its Redeliver button; nothing of
/// them for an organization's admin; gone with the key.
#[tokio::test(flavor = "multi_thread")]
async fn the_platform_key_opens_the_webhook_deliveries_pages() {
    let gw = Gateway::start_with(&[("SSO_GATEWAY__WEBHOOKS__POLL_INTERVAL_MS", "100")]).await;
    let (key_id, key) = gw.create_api_key("Product");
    let (_, token) = gw.create_org("Acme");
    // Nothing listens on port 9: every attempt is a refused connection.
    let res = gw
        .http
        .post(gw.url("/api/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": "http://127.0.0.1:9/hook"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let hook: serde_json::Value = res.json().await.unwrap();
    let hook_id = hook["id"].as_str().unwrap().to_string();
    gw.api(&token).add_team("Engineering", &[]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let log: serde_json::Value = gw
            .http
            .get(gw.url(&format!("/api/v1/webhooks/{hook_id}/deliveries")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !log["deliveries"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no attempt was logged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // An organization's admin session does not reach the platform pages.
    let (admin_http, _) = token_session(&gw, &token).await;
    let res = admin_http
        .get(gw.url("/admin/platform/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    let http = gw.browser();
    let res = http
        .post(gw.url("/admin/sign-in"))
        .form(&[("token", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/platform/webhooks");
    let list = get_page(&gw, &http, "/admin/platform/webhooks").await;
    assert!(
        list.contains("http://127.0.0.1:9/hook") && list.contains("every type"),
        "{list}"
    );
    let log = get_page(&gw, &http, &format!("/admin/platform/webhooks/{hook_id}")).await;
    assert!(
        log.contains("evt_") && log.contains(">Redeliver</button>"),
        "{log}"
    );
    assert!(
        log.contains("retrying"),
        "a refused connection is retried: {log}"
    );
    // The organization's admin pages stay closed to the platform session.
    let res = http.get(gw.url("/admin/sso")).send().await.unwrap();
    assert_eq!(res.status(), 303);

    let csrf = csrf_of(&log);
    let at = log.find("/deliveries/").unwrap() + "/deliveries/".len();
    let delivery_id = &log[at..at + 36];
    let redeliver =
        format!("/admin/platform/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver");
    let res = http
        .post(gw.url(&redeliver))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = http
        .post(gw.url(&redeliver))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let done = res.headers()["location"].to_str().unwrap().to_string();
    assert!(get_page(&gw, &http, &done).await.contains("Queued"));

    // Revoking the key ends the session.
    assert!(gw.cli(&["api-key", "revoke", &key_id]).status.success());
    let res = http
        .get(gw.url("/admin/platform/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/sign-in?reason=revoked");
}

/// Team IdP groups and an integration's group settings in the admin pages,
/// with the last sign-in's asserted groups shown to copy.
#[tokio::test(flavor = "multi_thread")]
async fn idp_groups_and_role_mapping_are_set_in_the_admin_pages() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let idp = TestIdp::start("ada@example.com").await;
    api.add_team("Engineering", &["example.com"]).await;
    let team = api.add_team("Developers", &[]).await;
    let team_id = team["id"].as_str().unwrap();
    let integration = api
        .connect(
            json!({"kind": "saml", "sso_url": format!("{}/sso", idp.base),
            "certificate_pem": common::idp::CERT_PEM, "idp_entity_id": idp.entity_id}),
        )
        .await;
    let id = integration["id"].as_str().unwrap();
    let acs = integration["acs_url"].as_str().unwrap();
    let (http, csrf) = token_session(&gw, &token).await;
    let post =
        |path: String, form: Vec<(&str, String)>| http.post(gw.url(&path)).form(&form).send();

    // The team form: one group per line; a bad one is shown at its field.
    let too_long = "g".repeat(600);
    let res = post(
        format!("/admin/teams/{team_id}"),
        vec![
            ("csrf", csrf.clone()),
            ("idp_groups", format!("Devs\n{too_long}")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"idp_groups-error\""), "{page}");
    assert!(page.contains("at most 512 characters"));
    let res = post(
        format!("/admin/teams/{team_id}"),
        vec![
            ("csrf", csrf.clone()),
            ("idp_groups", "Devs\r\nPlatform, Berlin\n".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    let (_, team) = api.get(&format!("/teams/{team_id}")).await;
    assert_eq!(team["idp_groups"], json!(["Devs", "Platform, Berlin"]));
    let page = get_page(&gw, &http, &format!("/admin/teams/{team_id}")).await;
    assert!(page.contains("Devs\nPlatform, Berlin</textarea>"), "{page}");

    // The integration's group settings.
    let page = get_page(&gw, &http, &format!("/admin/sso/{id}")).await;
    assert!(
        page.contains("No sign-in has asserted groups yet"),
        "{page}"
    );
    let res = post(
        format!("/admin/sso/{id}"),
        vec![
            ("csrf", csrf.clone()),
            ("groups_attribute", "memberOf".into()),
            ("role_owner", String::new()),
            ("role_admin", format!("Admins\n{too_long}")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"role_mapping.admin-error\""), "{page}");
    let res = post(
        format!("/admin/sso/{id}"),
        vec![
            ("csrf", csrf.clone()),
            ("groups_attribute", "memberOf".into()),
            ("role_owner", String::new()),
            ("role_admin", "Admins\n".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    let (_, view) = api.get(&format!("/integrations/{id}")).await;
    assert_eq!(view["groups_attribute"], "memberOf");
    assert_eq!(view["role_mapping"], json!({"admin": ["Admins"]}));
    assert_eq!(
        view["saml"]["sso_url"],
        format!("{}/sso", idp.base).as_str()
    );

    // A sign-in asserting groups: they show on the integration page.
    let xml = common::idp::signed_xml_with(&idp.spec(acs, "ada@example.com"), |unsigned| {
        let at = unsigned.find("</saml2:AttributeStatement>").unwrap();
        let mut changed = unsigned.clone();
        changed.insert_str(at, r#"<saml2:Attribute Name="memberOf"><saml2:AttributeValue>Devs</saml2:AttributeValue><saml2:AttributeValue>Admins</saml2:AttributeValue></saml2:Attribute>"#);
        changed
    });
    let res = gw
        .browser()
        .post(acs)
        .form(&[("SAMLResponse", common::idp::encode(&xml))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = get_page(&gw, &http, &format!("/admin/sso/{id}")).await;
    assert!(
        page.contains("<li><code>Devs</code></li><li><code>Admins</code></li>"),
        "{page}"
    );
    assert!(page.contains("value=\"memberOf\""));
    let (_, users) = api.get("/users").await;
    assert_eq!(users["users"][0]["role"], "admin");
    assert_eq!(
        users["users"][0]["teams"].as_array().unwrap().len(),
        2,
        "{users}"
    );

    // The two changed pages, as an admin sees them.
    let b = Browser::start().await;
    b.goto(&gw.url("/admin")).await;
    b.fill("#token", &token).await;
    b.click("form[action='/admin/sign-in'] button[type=submit]")
        .await;
    b.wait_for_path("/admin/sso").await;
    b.goto(&gw.url(&format!("/admin/teams/{team_id}"))).await;
    b.wait_for_element("#idp_groups").await;
    b.screenshot("groups-1-team-idp-groups").await;
    b.goto(&gw.url(&format!("/admin/sso/{id}#groups"))).await;
    b.wait_for_element("#seen-groups").await;
    b.screenshot("groups-2-integration-groups").await;
}
