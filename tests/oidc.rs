//! End-to-end OpenID Connect sign-in (Entra-shaped and generic) against a
//! real provider on loopback, and every attack on the callback we know of.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::op::{Forgery, Person, TestOp, CLIENT_ID, CLIENT_SECRET, TENANT};
use common::{Api, Gateway};
use serde_json::{json, Value};

async fn gateway(op: &TestOp) -> Gateway {
    Gateway::start_with(&[("SSO_GATEWAY__ENTRA__AUTHORITY", &op.base)]).await
}

/// An organization with a team pre-approving `example.com` and an Entra
/// integration for `tenant`; returns (admin token, integration id).
async fn entra_setup(gw: &Gateway, tenant: &str) -> (String, String) {
    let (_, token) = gw.create_org("Contoso");
    let api = gw.api(&token);
    api.add_team("Engineering", &["example.com"]).await;
    let integration = api
        .connect(json!({"kind": "entra", "tenant": tenant, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
        .await;
    (token, integration["id"].as_str().unwrap().to_string())
}

/// What a browser sees going through a sign-in: the provider's
/// authorization URL, the callback URL it was sent back to, and the
/// gateway's answer there.
struct RoundTrip {
    authorize_url: String,
    callback_url: String,
    answer: reqwest::Response,
}

async fn round_trip(browser: &reqwest::Client, start: &str) -> RoundTrip {
    let to_op = browser.get(start).send().await.unwrap();
    assert_eq!(to_op.status(), 302, "{}", to_op.text().await.unwrap());
    let authorize_url = to_op.headers()["location"].to_str().unwrap().to_string();
    let back = browser.get(&authorize_url).send().await.unwrap();
    assert_eq!(back.status(), 302, "{}", back.text().await.unwrap());
    let callback_url = back.headers()["location"].to_str().unwrap().to_string();
    let answer = browser.get(&callback_url).send().await.unwrap();
    RoundTrip {
        authorize_url,
        callback_url,
        answer,
    }
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn me(gw: &Gateway, browser: &reqwest::Client) -> (u16, Value) {
    let r = browser.get(gw.url("/users/me")).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn last_sign_in(api: &Api<'_>) -> Value {
    api.get("/audit?kind=sign_in&limit=1").await.1["events"][0].clone()
}

/// The answer is a refusal page with this audited code, and no session.
async fn assert_refused(
    gw: &Gateway,
    api: &Api<'_>,
    browser: &reqwest::Client,
    answer: reqwest::Response,
    code: &str,
) {
    let status = answer.status().as_u16();
    assert!((400..500).contains(&status) || status == 502, "{status}");
    assert!(answer
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap().starts_with("sso_gateway_session=")));
    let page = answer.text().await.unwrap();
    assert!(page.contains("<html"), "a page for a person: {page}");
    assert_eq!(
        me(gw, browser).await.0,
        401,
        "no session after a refusal ({code})"
    );
    let event = last_sign_in(api).await;
    assert_eq!(event["outcome"], "failure", "{event}");
    assert!(
        event["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{code}:")),
        "expected {code}: {event}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_sign_in_with_pkce_state_and_nonce() {
    let op = TestOp::start("grace@example.com").await;
    let gw = gateway(&op).await;
    let (token, id) = entra_setup(&gw, TENANT).await;
    let api = gw.api(&token);
    let browser = gw.browser();
    let start = gw.url(&format!(
        "/users/sign-in/sso/entra/{id}?return_to=/projects/7"
    ));
    let trip = round_trip(&browser, &start).await;

    // What we asked the provider for.
    let auth = &trip.authorize_url;
    assert!(
        auth.starts_with(&format!("{}/{TENANT}/v2.0/authorize?", op.base)),
        "{auth}"
    );
    assert_eq!(query_param(auth, "code_challenge_method"), "S256");
    assert_eq!(query_param(auth, "client_id"), CLIENT_ID);
    assert_eq!(
        query_param(auth, "redirect_uri"),
        gw.url(&format!("/users/sign-in/sso/entra/{id}/callback"))
    );
    assert!(query_param(auth, "scope").split(' ').any(|s| s == "openid"));
    assert!(query_param(auth, "state").len() >= 43 && query_param(auth, "nonce").len() >= 43);

    assert_eq!(trip.answer.status(), 303);
    assert_eq!(trip.answer.headers()["location"], "/projects/7");
    let (status, user) = me(&gw, &browser).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email"], "grace@example.com");
    assert_eq!(user["organization"]["name"], "Contoso");
    let event = last_sign_in(&api).await;
    assert_eq!(event["outcome"], "success", "{event}");
    assert_eq!(
        event["details"]["idp_subject"],
        format!("entra:{TENANT}:{}", op.person().oid).as_str()
    );

    // The callback URL cannot be used twice: the state is consumed.
    let replay = browser.get(&trip.callback_url).send().await.unwrap();
    let other = gw.browser();
    let replay_elsewhere = other.get(&trip.callback_url).send().await.unwrap();
    assert_eq!(replay.status(), 403);
    assert_refused(&gw, &api, &other, replay_elsewhere, "state_unknown").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_tenant_by_domain_and_email_from_preferred_username() {
    let op = TestOp::start("x@example.com").await;
    let gw = gateway(&op).await;
    let (token, id) = entra_setup(&gw, "contoso.onmicrosoft.com").await;
    // No `email` claim (Entra sends it only when set): the sign-in name is used.
    let mut person = Person::new("unused@example.com");
    person.email = None;
    person.preferred_username = "Linus@Example.com".into();
    op.set_person(person);
    let browser = gw.browser();
    let trip = round_trip(&browser, &gw.url(&format!("/users/sign-in/sso/entra/{id}"))).await;
    assert_eq!(trip.answer.status(), 303);
    assert_eq!(trip.answer.headers()["location"], "/");
    let (_, user) = me(&gw, &browser).await;
    assert!(
        user["email"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("linus@example.com"),
        "{user}"
    );
    let (_, members) = gw.api(&token).get("/users").await;
    assert_eq!(
        members["users"][0]["teams"][0]["name"], "Engineering",
        "{members}"
    );
    // Where the sign-in landed (`/`, nothing configured behind it) names the
    // person and their organization, and its button signs them out.
    let home = browser.get(gw.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let page = home.text().await.unwrap();
    assert!(
        page.contains("You're signed in") && page.contains("Contoso"),
        "{page}"
    );
    assert!(
        page.to_ascii_lowercase().contains("linus@example.com"),
        "{page}"
    );
    let out = browser
        .post(gw.url("/users/sign-out"))
        .form(&[("", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    // On to Entra's end-session endpoint, so its session ends too.
    let location = out.headers()["location"].to_str().unwrap();
    assert!(
        location.ends_with(
            "/contoso.onmicrosoft.com/v2.0/logout?client_id=6731de76-14a6-49ae-97bc-6eba6914391e"
        ),
        "{location}"
    );
    let page = browser
        .get(gw.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("You're not signed in"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_product_url_is_where_sign_ins_land() {
    let op = TestOp::start("ada@example.com").await;
    let gw = Gateway::start_with(&[
        ("SSO_GATEWAY__ENTRA__AUTHORITY", &op.base),
        (
            "SSO_GATEWAY__SERVER__AFTER_SIGN_IN_URL",
            "https://app.example.com/home",
        ),
    ])
    .await;
    let (_, id) = entra_setup(&gw, TENANT).await;
    let browser = gw.browser();
    let start = gw.url(&format!("/users/sign-in/sso/entra/{id}"));
    let trip = round_trip(&browser, &start).await;
    assert_eq!(trip.answer.status(), 303);
    assert_eq!(
        trip.answer.headers()["location"],
        "https://app.example.com/home"
    );
    // A return_to still wins over the default.
    let trip = round_trip(&browser, &format!("{start}?return_to=/reports")).await;
    assert_eq!(trip.answer.headers()["location"], "/reports");
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_oidc_sign_in_and_key_rotation() {
    let op = TestOp::start("ada@example.com").await;
    let gw = gateway(&op).await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    api.add_team("Everyone", &["example.com"]).await;
    let integration = api
        .connect(json!({"kind": "oidc", "issuer": op.generic_issuer(), "client_id": "acme-app", "client_secret": CLIENT_SECRET}))
        .await;
    let id = integration["id"].as_str().unwrap();
    assert_eq!(
        integration["redirect_uri"],
        gw.url(&format!("/users/sign-in/sso/oidc/{id}/callback"))
            .as_str()
    );
    let start = gw.url(&format!("/users/sign-in/sso/oidc/{id}"));
    let browser = gw.browser();
    let trip = round_trip(&browser, &start).await;
    assert_eq!(trip.answer.status(), 303);
    let event = last_sign_in(&api).await;
    assert_eq!(
        event["details"]["idp_subject"],
        format!("{} {}", op.generic_issuer(), op.person().sub).as_str()
    );
    let (_, user) = me(&gw, &browser).await;
    assert_eq!(user["given_name"], "Grace", "{user}");

    // The provider rolls its signing key: after the short refresh floor the
    // gateway fetches the new key set instead of refusing everyone.
    op.rotate_keys();
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let trip = round_trip(&gw.browser(), &start).await;
    assert_eq!(
        trip.answer.status(),
        303,
        "{}",
        trip.answer.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_wrong_id_tokens_are_refused() {
    let op = TestOp::start("grace@example.com").await;
    let gw = gateway(&op).await;
    let (token, id) = entra_setup(&gw, TENANT).await;
    let api = gw.api(&token);
    let start = gw.url(&format!("/users/sign-in/sso/entra/{id}"));
    let claims = |f: fn(&mut Value)| Forgery::Claims(Box::new(f));
    let cases: Vec<(Forgery, &str)> = vec![
        (Forgery::AlgNone, "bad_signature"),
        (Forgery::Hs256WithPublicKey, "bad_signature"),
        (Forgery::ForeignKey, "bad_signature"),
        (Forgery::UnknownKid, "bad_signature"),
        (
            claims(|c| c["aud"] = json!("another-app")),
            "wrong_audience",
        ),
        (
            claims(|c| {
                c["iss"] = json!(
                    "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"
                )
            }),
            "wrong_issuer",
        ),
        (
            claims(|c| c["tid"] = json!("11111111-2222-3333-4444-555555555555")),
            "wrong_tenant",
        ),
        (
            claims(|c| {
                c.as_object_mut().unwrap().remove("tid");
            }),
            "wrong_tenant",
        ),
        (
            claims(|c| c["nonce"] = json!("not-the-nonce-we-sent")),
            "nonce_mismatch",
        ),
        (
            claims(|c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
            "nonce_mismatch",
        ),
        (
            claims(|c| {
                let now = chrono::Utc::now().timestamp();
                c["exp"] = json!(now - 120);
                c["iat"] = json!(now - 300);
            }),
            "expired",
        ),
        (
            claims(|c| c["iat"] = json!(chrono::Utc::now().timestamp() + 3600)),
            "expired",
        ),
        (
            claims(|c| c["nbf"] = json!(chrono::Utc::now().timestamp() + 3600)),
            "not_yet_valid",
        ),
        (
            claims(|c| {
                c.as_object_mut().unwrap().remove("oid");
            }),
            "no_subject",
        ),
        (
            claims(|c| c["email"] = json!("mallory@evil.example")),
            "not_preapproved",
        ),
    ];
    for (forgery, code) in cases {
        op.forge_next(forgery);
        let browser = gw.browser();
        let trip = round_trip(&browser, &start).await;
        assert_refused(&gw, &api, &browser, trip.answer, code).await;
    }
    // The same provider still signs people in afterwards.
    let trip = round_trip(&gw.browser(), &start).await;
    assert_eq!(trip.answer.status(), 303);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_code_and_nonce_replays_are_refused() {
    let op = TestOp::start("grace@example.com").await;
    let gw = gateway(&op).await;
    let (token, id) = entra_setup(&gw, TENANT).await;
    let api = gw.api(&token);
    let start = gw.url(&format!("/users/sign-in/sso/entra/{id}"));
    let callback = gw.url(&format!("/users/sign-in/sso/entra/{id}/callback"));

    // No state, a made-up state.
    let browser = gw.browser();
    let answer = browser
        .get(format!("{callback}?code=abc"))
        .send()
        .await
        .unwrap();
    assert_refused(&gw, &api, &browser, answer, "state_missing").await;
    let answer = browser
        .get(format!("{callback}?code=abc&state=forged"))
        .send()
        .await
        .unwrap();
    assert_refused(&gw, &api, &browser, answer, "state_unknown").await;

    // A callback for a sign-in started in another browser (login CSRF).
    let victim = gw.browser();
    let attacker = gw.browser();
    let to_op = attacker.get(&start).send().await.unwrap();
    let authorize = to_op.headers()["location"].to_str().unwrap().to_string();
    let back = attacker.get(&authorize).send().await.unwrap();
    let attacker_callback = back.headers()["location"].to_str().unwrap().to_string();
    let answer = victim.get(&attacker_callback).send().await.unwrap();
    assert_refused(&gw, &api, &victim, answer, "browser_mismatch").await;

    // An authorization code already redeemed, under a fresh state of our own.
    let first = round_trip(&gw.browser(), &start).await;
    assert_eq!(first.answer.status(), 303);
    let used_code = query_param(&first.callback_url, "code");
    let browser = gw.browser();
    let to_op = browser.get(&start).send().await.unwrap();
    let fresh_state = query_param(to_op.headers()["location"].to_str().unwrap(), "state");
    let answer = browser
        .get(format!("{callback}?code={used_code}&state={fresh_state}"))
        .send()
        .await
        .unwrap();
    assert_refused(&gw, &api, &browser, answer, "code_refused").await;

    // An ID token carrying the nonce of an earlier sign-in.
    let earlier_nonce = query_param(&first.authorize_url, "nonce");
    op.forge_next(Forgery::Claims(Box::new(move |c| {
        c["nonce"] = json!(earlier_nonce)
    })));
    let browser = gw.browser();
    let trip = round_trip(&browser, &start).await;
    assert_refused(&gw, &api, &browser, trip.answer, "nonce_mismatch").await;

    // The provider says no (the person cancelled): a page, with its reason.
    let browser = gw.browser();
    let to_op = browser.get(&start).send().await.unwrap();
    let state = query_param(to_op.headers()["location"].to_str().unwrap(), "state");
    let answer = browser
        .get(format!("{callback}?error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent&state={state}"))
        .send()
        .await
        .unwrap();
    let event_page = answer.text().await.unwrap();
    assert!(
        event_page.contains("User declined to consent"),
        "{event_page}"
    );
    let event = last_sign_in(&api).await;
    assert!(
        event["reason"]
            .as_str()
            .unwrap()
            .starts_with("provider_error:"),
        "{event}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_vouches_only_inside_its_own_organization() {
    let op = TestOp::start("grace@example.com").await;
    let gw = gateway(&op).await;
    // Grace is a member of Contoso through Contoso's Entra.
    let (contoso_token, contoso_id) = entra_setup(&gw, TENANT).await;
    let trip = round_trip(
        &gw.browser(),
        &gw.url(&format!("/users/sign-in/sso/entra/{contoso_id}")),
    )
    .await;
    assert_eq!(trip.answer.status(), 303);

    // Fabrikam's own provider (same people, same emails) cannot get her into Contoso.
    let (_, fabrikam_token) = gw.create_org("Fabrikam");
    let fabrikam = gw.api(&fabrikam_token);
    let integration = fabrikam
        .connect(json!({"kind": "oidc", "issuer": op.generic_issuer(), "client_id": "fabrikam", "client_secret": CLIENT_SECRET}))
        .await;
    let start = gw.url(&format!(
        "/users/sign-in/sso/oidc/{}",
        integration["id"].as_str().unwrap()
    ));
    let browser = gw.browser();
    let trip = round_trip(&browser, &start).await;
    assert_refused(&gw, &fabrikam, &browser, trip.answer, "not_preapproved").await;

    // Pre-approving example.com is not owning it: her account belongs to
    // Contoso, so Fabrikam's IdP cannot attach it (the nOAuth rule).
    fabrikam.add_team("Guests", &["example.com"]).await;
    let trip = round_trip(&browser, &start).await;
    assert_refused(&gw, &fabrikam, &browser, trip.answer, "account_elsewhere").await;

    // Once Fabrikam's admin invites her, her session is Fabrikam's only.
    let (status, _) = fabrikam
        .post("/users", json!({"email": "grace@example.com"}))
        .await;
    assert_eq!(status, 201);
    let trip = round_trip(&browser, &start).await;
    assert_eq!(trip.answer.status(), 303);
    let (_, user) = me(&gw, &browser).await;
    assert_eq!(user["organization"]["name"], "Fabrikam");
    let verify = browser.get(gw.url("/auth/verify")).send().await.unwrap();
    assert_eq!(verify.status(), 200);
    let contoso_org = gw.api(&contoso_token).get("/organization").await.1["id"].clone();
    assert_ne!(
        verify.headers()["x-auth-org"].to_str().unwrap(),
        contoso_org.as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_problems_are_clear_errors_at_connect_time() {
    let op = TestOp::start("x@example.com").await;
    let gw = gateway(&op).await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let connect = |issuer: String| {
        let api = &api;
        async move {
            api.post(
                "/integrations",
                json!({"kind": "oidc", "issuer": issuer, "client_id": "c", "client_secret": "s"}),
            )
            .await
        }
    };

    let closed = format!("http://127.0.0.1:{}/issuer", common::free_port());
    let (status, err) = connect(closed).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "issuer");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{err}"
    );

    op.break_discovery(Some((200, "<html>Welcome to nginx</html>")));
    let (status, err) = connect(op.generic_issuer()).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an OpenID Connect discovery document"),
        "{err}"
    );

    op.break_discovery(Some((404, "{}")));
    let (status, err) = connect(op.generic_issuer()).await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 404"),
        "{status} {err}"
    );
    op.break_discovery(None);

    // A document that names another issuer is someone else's.
    let impostor = json!({"issuer": "https://login.example.net", "authorization_endpoint": "https://login.example.net/a",
        "token_endpoint": "https://login.example.net/t", "jwks_uri": "https://login.example.net/k",
        "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"]});
    op.break_discovery(Some((200, &impostor.to_string())));
    let (status, err) = connect(op.generic_issuer()).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("names issuer https://login.example.net"),
        "{err}"
    );
    let (status, err) = api
        .post("/integrations", json!({"kind": "entra", "tenant": TENANT, "client_id": CLIENT_ID, "client_secret": "s"}))
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("tenant")),
        "{err}"
    );
    op.break_discovery(None);

    // Under the default policy, private addresses are refused outright.
    let strict = Gateway::start_with(&[
        ("SSO_GATEWAY__OUTBOUND__ALLOW_PRIVATE_ADDRESSES", "false"),
        ("SSO_GATEWAY__ENTRA__AUTHORITY", &op.base),
    ])
    .await;
    let (_, token) = strict.create_org("Strict");
    let (status, err) = strict
        .api(&token)
        .post("/integrations", json!({"kind": "oidc", "issuer": op.generic_issuer(), "client_id": "c", "client_secret": "s"}))
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("private"),
        "{err}"
    );

    // A provider that breaks after connecting gives people a page, not a 500.
    let integration = api
        .connect(json!({"kind": "oidc", "issuer": op.generic_issuer(), "client_id": "c", "client_secret": "s"}))
        .await;
    op.break_discovery(Some((500, "down")));
    let answer = gw
        .browser()
        .get(gw.url(&format!(
            "/users/sign-in/sso/oidc/{}",
            integration["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    // Connect-time checks do not fill the sign-in cache: this is the first fetch.
    assert_eq!(answer.status(), 502);
    assert!(answer.text().await.unwrap().contains("HTTP 500"));
}

/// Signs the provider's person in through `start` with the ID token's claims
/// edited by `edit`; returns /users/me.
async fn sign_in_editing(
    gw: &Gateway,
    op: &TestOp,
    start: &str,
    edit: impl Fn(&mut Value) + Send + 'static,
) -> Value {
    op.forge_next(Forgery::Claims(Box::new(edit)));
    let browser = gw.browser();
    let trip = round_trip(&browser, start).await;
    assert_eq!(trip.answer.status(), 303);
    let (status, user) = me(gw, &browser).await;
    assert_eq!(status, 200, "{user}");
    user
}

fn team_names(me: &Value) -> Vec<String> {
    let mut names: Vec<String> = me["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_group_object_ids_map_to_teams_and_roles_and_overage_changes_nothing() {
    const DEVS: &str = "0b9c5a4e-1f2d-4c3b-8a7e-6d5c4b3a2f10";
    const PLATFORM: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
    const OWNERS: &str = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f60";
    let op = TestOp::start("grace@example.com").await;
    let gw = gateway(&op).await;
    let (token, id) = entra_setup(&gw, TENANT).await;
    let api = gw.api(&token);
    // Entra's group ids, uppercase as some admins paste them.
    let (status, _) = api
        .post(
            "/teams",
            json!({"name": "Devs", "idp_groups": [DEVS.to_uppercase()]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, view) = api
        .patch(
            &format!("/integrations/{id}"),
            json!({"role_mapping": {"owner": [OWNERS]}}),
        )
        .await;
    assert_eq!(status, 200, "{view}");

    // SCIM provisions Grace and pushes the Platform group with her in it.
    let (status, creds) = api
        .post(&format!("/integrations/{id}/provisioning"), json!({}))
        .await;
    assert_eq!(status, 201);
    let scim = common::scim::Scim {
        http: gw.http.clone(),
        base: creds["tenant_url"].as_str().unwrap().to_string(),
        token: creds["token"].as_str().unwrap().to_string(),
    };
    let (status, user) = scim
        .post(
            "/Users",
            json!({"schemas": [common::scim::USER], "userName": "grace@example.com",
                "active": true, "emails": [{"value": "grace@example.com", "type": "work", "primary": true}]}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (status, group) = scim
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Platform",
                "members": [{"value": user["id"]}]}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let platform = group["id"].as_str().unwrap();
    let (status, team) = api
        .patch(
            &format!("/teams/{platform}"),
            json!({"idp_groups": [PLATFORM]}),
        )
        .await;
    assert_eq!(status, 200, "{team}");

    let start = gw.url(&format!("/users/sign-in/sso/entra/{id}"));
    let all = [DEVS, PLATFORM, OWNERS];
    let me = sign_in_editing(&gw, &op, &start, move |c| c["groups"] = json!(all)).await;
    assert_eq!(team_names(&me), ["Devs", "Platform"]);
    let grace = me["id"].as_str().unwrap().to_string();
    assert_eq!(api.get(&format!("/users/{grace}")).await.1["role"], "owner");

    // Group overage: no `groups`, a distributed claim instead. Nothing
    // changes, and the audit says why.
    let me = sign_in_editing(&gw, &op, &start, |c| {
        c["_claim_names"] = json!({"groups": "src1"});
        c["_claim_sources"] = json!({"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}});
    })
    .await;
    assert_eq!(team_names(&me), ["Devs", "Platform"]);
    assert_eq!(api.get(&format!("/users/{grace}")).await.1["role"], "owner");
    let event = last_sign_in(&api).await;
    assert_eq!(
        event["details"]["groups"]["note"],
        "the IdP reported group overage; team and role mapping skipped for this sign-in"
    );

    // In no group any more: out of Devs, the SCIM-pushed Platform stays,
    // and the mapped role falls back.
    let me = sign_in_editing(&gw, &op, &start, |c| c["groups"] = json!([])).await;
    assert_eq!(team_names(&me), ["Platform"]);
    assert_eq!(
        api.get(&format!("/users/{grace}")).await.1["role"],
        "member"
    );

    // SCIM takes Grace out of Platform; the mapping puts her back; then SCIM
    // lists her again: the membership is SCIM's now, and stays without the group.
    let scim_user = user["id"].as_str().unwrap();
    let remove = format!(r#"members[value eq "{scim_user}"]"#);
    let (status, _) = scim
        .patch(
            &format!("/Groups/{platform}"),
            json!([{"op": "remove", "path": remove}]),
        )
        .await;
    assert!(status == 200 || status == 204, "{status}");
    let me = sign_in_editing(&gw, &op, &start, |c| c["groups"] = json!([])).await;
    assert!(team_names(&me).is_empty());
    let me = sign_in_editing(&gw, &op, &start, move |c| c["groups"] = json!([PLATFORM])).await;
    assert_eq!(team_names(&me), ["Platform"]);
    let (status, _) = scim
        .patch(
            &format!("/Groups/{platform}"),
            json!([{"op": "add", "path": "members", "value": [{"value": scim_user}]}]),
        )
        .await;
    assert!(status == 200 || status == 204, "{status}");
    let me = sign_in_editing(&gw, &op, &start, |c| c["groups"] = json!([])).await;
    assert_eq!(team_names(&me), ["Platform"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_group_settings_are_refused_naming_the_field() {
    let op = TestOp::start("grace@example.com").await;
    let gw = gateway(&op).await;
    let (token, id) = entra_setup(&gw, TENANT).await;
    let api = gw.api(&token);
    let path = format!("/integrations/{id}");
    for (body, field) in [
        (
            json!({"role_mapping": {"superuser": ["x"]}}),
            "role_mapping",
        ),
        (json!({"role_mapping": ["x"]}), "role_mapping"),
        (
            json!({"role_mapping": {"admin": "x"}}),
            "role_mapping.admin",
        ),
        (
            json!({"role_mapping": {"owner": [""]}}),
            "role_mapping.owner",
        ),
        (
            json!({"role_mapping": {"owner": [7]}}),
            "role_mapping.owner",
        ),
        (
            json!({"groups_attribute": "g".repeat(3000)}),
            "groups_attribute",
        ),
    ] {
        let (status, err) = api.patch(&path, body.clone()).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    let (status, err) = api.patch(&path, json!({"groups_attribute": 7})).await;
    assert!((400..500).contains(&status), "{err}");
    // Nothing was stored by the refusals.
    let (_, view) = api.get(&path).await;
    assert_eq!(view["role_mapping"], json!({}));
    assert_eq!(view["groups_attribute"], Value::Null);
}
