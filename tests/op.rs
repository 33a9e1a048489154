//! The gateway as an OpenID Provider, end to end: a relying party built on
//! the certified npm `openid-client` (panva; `tests/op-client/rp.mjs`) does
//! discovery, builds the authorization request (PKCE S256, state, nonce),
//! exchanges the code, validates the ID token and calls userinfo; the
//! browser in between (cookies, redirects, the IdP's auto-post form) is a
//! reqwest client signing in at the loopback SAML IdP. Then every misuse
//! the SPEC names is tried and refused.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::idp::{self, TestIdp};
use common::Gateway;
use serde_json::{json, Value};

const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const LOGOUT_URI: &str = "http://127.0.0.1:9/signed-out";

fn rp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/op-client")
}

/// `npm ci` once, if a fresh clone has no `node_modules` yet.
fn ensure_installed() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = rp_dir();
    if dir.join("node_modules/openid-client/package.json").exists() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&dir)
        .output()
        .expect("npm (Node.js) is needed to run openid-client");
    assert!(
        out.status.success(),
        "npm ci --prefix {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A registered client as the relying party knows it.
#[derive(Clone)]
struct Client {
    id: String,
    secret: Option<String>,
}

/// One run of `node rp.mjs <step>`: its JSON answer.
fn rp(gw: &Gateway, client: &Client, step: &str, env: &[(&str, &str)]) -> Value {
    ensure_installed();
    let mut command = Command::new("node");
    command
        .arg(rp_dir().join("rp.mjs"))
        .arg(step)
        .env("ISSUER", &gw.base)
        .env("CLIENT_ID", &client.id)
        .env("REDIRECT_URI", REDIRECT_URI)
        .env_remove("CLIENT_SECRET");
    if let Some(secret) = &client.secret {
        command.env("CLIENT_SECRET", secret);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command
        .output()
        .expect("node is needed to run openid-client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "rp.mjs {step} answered {stdout:?} ({})",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// What `rp.mjs start` made: the URL and the checks to finish with.
struct Started {
    url: String,
    verifier: String,
    state: String,
    nonce: String,
}

fn start(gw: &Gateway, client: &Client, extra: Value) -> Started {
    let started = rp(gw, client, "start", &[("EXTRA", &extra.to_string())]);
    let field = |k: &str| {
        started[k]
            .as_str()
            .unwrap_or_else(|| panic!("{started}"))
            .to_string()
    };
    Started {
        url: field("url"),
        verifier: field("code_verifier"),
        state: field("state"),
        nonce: field("nonce"),
    }
}

fn finish(gw: &Gateway, client: &Client, started: &Started, callback: &str, auth: &str) -> Value {
    rp(
        gw,
        client,
        "finish",
        &[
            ("CALLBACK_URL", callback),
            ("CODE_VERIFIER", &started.verifier),
            ("STATE", &started.state),
            ("NONCE", &started.nonce),
            ("AUTH", auth),
        ],
    )
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in a {} answer", res.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn absolute(gw: &Gateway, to: &str) -> String {
    if to.starts_with('/') {
        gw.url(to)
    } else {
        to.to_string()
    }
}

/// Follows the browser through the gateway (and the IdP and its auto-post
/// form) until it is sent to the client's redirect URI; returns that URL.
async fn browse_to_client(gw: &Gateway, browser: &reqwest::Client, url: &str) -> String {
    let mut next = url.to_string();
    for _ in 0..10 {
        if next.starts_with(REDIRECT_URI) || next.starts_with(LOGOUT_URI) {
            return next;
        }
        let res = browser.get(&next).send().await.unwrap();
        if res.status().is_redirection() {
            next = absolute(gw, &location(&res));
            continue;
        }
        // The IdP's page: a form that posts the SAMLResponse to our ACS.
        assert_eq!(res.status(), 200, "{next}");
        let (action, fields) = idp::parse_form(&res.text().await.unwrap());
        let posted = browser.post(&action).form(&fields).send().await.unwrap();
        assert_eq!(
            posted.status(),
            303,
            "ACS: {}",
            posted.text().await.unwrap()
        );
        next = absolute(gw, &location(&posted));
    }
    panic!("no way to the client from {url}");
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// An organization whose one integration is the test IdP, and whose team
/// pre-approves the IdP's domain (so JIT admits); a confidential client.
struct Setup {
    org_id: String,
    admin_token: String,
    client: Client,
}

fn create_client(gw: &Gateway, extra: &[&str]) -> Client {
    let mut args = vec![
        "client",
        "create",
        "--name",
        "Product",
        "--redirect-uri",
        REDIRECT_URI,
        "--post-logout-redirect-uri",
        LOGOUT_URI,
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = gw.cli(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    Client {
        id: line["client_id"].as_str().unwrap().to_string(),
        secret: line["client_secret"].as_str().map(str::to_string),
    }
}

async fn setup(gw: &Gateway, idp: &TestIdp) -> Setup {
    let (org_id, admin_token) = gw.create_org("Acme");
    let api = gw.api(&admin_token);
    api.add_team("Engineering", &["example.com"]).await;
    api.connect_okta(idp).await;
    Setup {
        org_id,
        admin_token,
        client: create_client(gw, &[]),
    }
}

/// A signed-in browser: one full OpenID sign-in through the IdP, whose
/// callback URL (with a code) is returned unused.
async fn signed_in_browser(gw: &Gateway, s: &Setup) -> (reqwest::Client, Started, String) {
    let browser = gw.browser();
    let started = start(gw, &s.client, json!({"organization": s.org_id}));
    let callback = browse_to_client(gw, &browser, &started.url).await;
    (browser, started, callback)
}

/// With a session, authorize answers at once with a code for `client`.
async fn code_for(gw: &Gateway, browser: &reqwest::Client, client: &Client) -> (Started, String) {
    let started = start(gw, client, json!({}));
    let res = browser.get(&started.url).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let callback = location(&res);
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");
    (started, callback)
}

async fn token_request(
    gw: &Gateway,
    form: &[(&str, &str)],
    basic: Option<&Client>,
) -> (u16, Value) {
    let mut req = gw.http.post(gw.url("/oauth2/token")).form(form);
    if let Some(c) = basic {
        req = req.basic_auth(&c.id, c.secret.as_deref());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn userinfo_status(gw: &Gateway, access_token: &str) -> u16 {
    gw.http
        .get(gw.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn openid_client_signs_in_through_the_idp_and_every_misuse_is_refused() {
    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start().await;
    let s = setup(&gw, &idp).await;

    // Discovery names this gateway and its endpoints.
    let discovery: Value = gw
        .http
        .get(gw.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], gw.base);
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );

    // prompt=none with nobody signed in: login_required, state kept.
    let quiet = start(&gw, &s.client, json!({"prompt": "none"}));
    let res = gw.browser().get(&quiet.url).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let back = query_of(&location(&res));
    assert!(location(&res).starts_with(REDIRECT_URI));
    assert_eq!(back["error"], "login_required");
    assert_eq!(back["state"], quiet.state);

    // Without a session or an organization: the sign-in page, told where to
    // come back to and whom to expect.
    let hinted = start(&gw, &s.client, json!({"login_hint": "ada@example.com"}));
    let res = gw.browser().get(&hinted.url).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let to = location(&res);
    assert!(to.starts_with(&gw.url("/users/sign-in?")), "{to}");
    let sign_in = query_of(&to);
    assert_eq!(sign_in["login_hint"], "ada@example.com");
    assert!(sign_in["return_to"].starts_with("/oauth2/authorize?"));
    assert!(sign_in["return_to"].contains(&hinted.state));

    // The whole flow: organization → its IdP → back to authorize → code →
    // openid-client exchanges it (client_secret_basic), validates the ID
    // token (signature via JWKS, iss, aud, nonce, state, PKCE) and calls userinfo.
    let (browser, started, callback) = signed_in_browser(&gw, &s).await;
    let back = query_of(&callback);
    assert_eq!(back["state"], started.state);
    assert_eq!(back["iss"], gw.base);
    let done = finish(&gw, &s.client, &started, &callback, "basic");
    assert!(done["error"].is_null(), "{done}");
    let claims = &done["claims"];
    assert_eq!(claims["iss"], gw.base);
    assert_eq!(claims["aud"], s.client.id);
    assert_eq!(claims["nonce"], started.nonce);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["org_id"], s.org_id);
    assert_eq!(claims["org_name"], "Acme");
    assert_eq!(claims["role"], "member");
    assert_eq!(claims["teams"], json!(["Engineering"]));
    for claim in ["sub", "auth_time", "iat", "exp"] {
        assert!(!claims[claim].is_null(), "{claim} in {claims}");
    }
    let userinfo = &done["userinfo"];
    for claim in [
        "sub",
        "email",
        "email_verified",
        "org_id",
        "org_name",
        "role",
        "teams",
    ] {
        assert_eq!(userinfo[claim], claims[claim], "{claim}");
    }
    let first_access = done["access_token"].as_str().unwrap().to_string();
    let id_token = done["id_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_part(&id_token, 0)["alg"], "RS256");

    // The same code again: refused, and the access token it bought is revoked.
    let code = query_of(&callback)["code"].clone();
    assert_eq!(userinfo_status(&gw, &first_access).await, 200);
    let (status, err) = token_request(
        &gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &started.verifier),
        ],
        Some(&s.client),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant")),
        "{err}"
    );
    assert_eq!(userinfo_status(&gw, &first_access).await, 401);

    // The session answers at once; client_secret_post works too.
    let (again, callback) = code_for(&gw, &browser, &s.client).await;
    let done = finish(&gw, &s.client, &again, &callback, "post");
    assert!(done["error"].is_null(), "{done}");
    assert_eq!(done["claims"]["sub"], claims["sub"]);

    // A wrong PKCE verifier: openid-client is refused with invalid_grant.
    let (mut wrong, callback) = code_for(&gw, &browser, &s.client).await;
    wrong.verifier = "x".repeat(43);
    let refused = finish(&gw, &s.client, &wrong, &callback, "basic");
    assert_eq!(refused["error"]["error"], "invalid_grant", "{refused}");

    // Another client's code.
    let other = create_client(&gw, &[]);
    let (theirs, callback) = code_for(&gw, &browser, &s.client).await;
    let refused = finish(&gw, &other, &theirs, &callback, "basic");
    assert_eq!(refused["error"]["error"], "invalid_grant", "{refused}");

    // No client authentication at all: 401 invalid_client.
    let (_, callback) = code_for(&gw, &browser, &s.client).await;
    let code = query_of(&callback)["code"].clone();
    let (status, err) = token_request(
        &gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_client")),
        "{err}"
    );
    let wrong_secret = Client {
        id: s.client.id.clone(),
        secret: Some("sgw_cs_wrong".into()),
    };
    let (status, err) = token_request(
        &gw,
        &[("grant_type", "authorization_code"), ("code", &code)],
        Some(&wrong_secret),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_client")),
        "{err}"
    );

    // An unregistered redirect_uri is never redirected to: a page says why.
    let mut forged = reqwest::Url::parse(&start(&gw, &s.client, json!({})).url).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                "https://evil.example/cb".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let res = browser.get(forged.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("has not registered"));
    // An unknown client likewise.
    let res = browser
        .get(gw.url("/oauth2/authorize?client_id=nobody&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&response_type=code&scope=openid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // Other errors go back to the client: no openid scope, plain PKCE.
    for (params, error) in [
        (json!({"scope": "email"}), "invalid_scope"),
        (json!({"code_challenge_method": "plain"}), "invalid_request"),
        (
            json!({"response_type": "token"}),
            "unsupported_response_type",
        ),
    ] {
        let bad = start(&gw, &s.client, params.clone());
        let res = browser.get(&bad.url).send().await.unwrap();
        assert_eq!(res.status(), 302, "{params}");
        let back = query_of(&location(&res));
        assert_eq!(back["error"], error, "{params}");
        assert_eq!(back["state"], bad.state);
        assert!(back.contains_key("error_description"));
    }

    // A public client: without PKCE it is sent back an error; with it,
    // openid-client signs in with no secret at all.
    let public = create_client(&gw, &["--public"]);
    assert!(public.secret.is_none());
    let mut url = reqwest::Url::parse(&start(&gw, &public, json!({})).url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let res = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(query_of(&location(&res))["error"], "invalid_request");
    let (started, callback) = code_for(&gw, &browser, &public).await;
    let done = finish(&gw, &public, &started, &callback, "basic");
    assert!(done["error"].is_null(), "{done}");
    assert_eq!(done["claims"]["aud"], public.id);
    assert_eq!(done["claims"]["email"], "ada@example.com");

    // JWKS publishes the signing key; after a rotation, the previous too.
    let jwks: Value = gw
        .http
        .get(gw.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jwt_part(&id_token, 0)["kid"].clone();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], kid);
    assert!(jwks["keys"][0]["d"].is_null());
    let out = gw.cli(&["op-keys", "rotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jwks: Value = gw
        .http
        .get(gw.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&&kid));

    // RP-initiated logout: an unregistered target gets a page; a registered
    // one (the client known from the ID token) gets the person back, signed out.
    let logout = |target: &str| {
        let mut url = reqwest::Url::parse(&gw.url("/oauth2/logout")).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", target)
            .append_pair("state", "bye-1");
        url.to_string()
    };
    let res = gw
        .browser()
        .get(logout("https://evil.example/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    let res = browser.get(logout(LOGOUT_URI)).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let back = location(&res);
    assert!(back.starts_with(LOGOUT_URI), "{back}");
    assert_eq!(query_of(&back)["state"], "bye-1");
    let quiet = start(&gw, &s.client, json!({"prompt": "none"}));
    let res = browser.get(&quiet.url).send().await.unwrap();
    assert_eq!(query_of(&location(&res))["error"], "login_required");

    // Userinfo without a token, or with a made-up one.
    let res = gw
        .http
        .get(gw.url("/oauth2/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(userinfo_status(&gw, "made-up").await, 401);
    drop(s.admin_token);
}

#[tokio::test(flavor = "multi_thread")]
async fn codes_expire() {
    let idp = TestIdp::start("grace@example.com").await;
    let gw = Gateway::start_with(&[("SSO_GATEWAY__OP__CODE_SECONDS", "1")]).await;
    let s = setup(&gw, &idp).await;
    let (_, started, callback) = signed_in_browser(&gw, &s).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expired = finish(&gw, &s.client, &started, &callback, "basic");
    assert_eq!(expired["error"]["error"], "invalid_grant", "{expired}");
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_are_managed_with_the_platform_key_only() {
    let gw = Gateway::start().await;
    let (_, key) = gw.create_api_key("Product");
    let (_, admin_token) = gw.create_org("Acme");
    let api = gw.api(&key);
    let (status, created) = api
        .post(
            "/clients",
            json!({"name": "Web", "redirect_uris": ["https://app.example.com/cb"],
                   "post_logout_redirect_uris": ["https://app.example.com/"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_string();
    assert!(created["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("sgw_cs_"));
    let (status, list) = api.get("/clients").await;
    assert_eq!(status, 200);
    assert_eq!(list["clients"][0]["client_id"], id);
    assert!(list["clients"][0]["client_secret"].is_null());
    assert_eq!(gw.api(&admin_token).get("/clients").await.0, 403);
    for bad in [
        json!({"name": "X", "redirect_uris": ["http://app.example.com/cb"]}),
        json!({"name": "X", "redirect_uris": ["https://app.example.com/cb#frag"]}),
        json!({"name": "X", "redirect_uris": ["/cb"]}),
        json!({"name": "X", "redirect_uris": []}),
        json!({"name": "", "redirect_uris": ["https://app.example.com/cb"]}),
    ] {
        let (status, err) = api.post("/clients", bad.clone()).await;
        assert_eq!(status, 422, "{bad} → {err}");
    }
    assert_eq!(api.delete(&format!("/clients/{id}")).await.0, 204);
    assert_eq!(api.delete(&format!("/clients/{id}")).await.0, 404);
    let out = gw.cli(&["client", "list"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&id));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_codes_tokens_and_the_signing_key() {
    if !common::shared_backends() {
        eprintln!("skipped: needs SSO_GATEWAY_TEST_POSTGRES_URL and SSO_GATEWAY_TEST_REDIS_URL (run scripts/test.sh)");
        return;
    }
    let idp = TestIdp::start("ada@example.com").await;
    let a = Gateway::start().await;
    let b = a.start_twin().await;
    let s = setup(&a, &idp).await;
    let jwks = |gw: &Gateway| {
        let url = gw.url("/oauth2/jwks");
        let http = gw.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // B found A's key rather than making its own: both publish the same one.
    assert_eq!(jwks(&a).await, jwks(&b).await);
    assert_eq!(jwks(&a).await["keys"].as_array().unwrap().len(), 1);

    // Code from A, exchanged at B (behind one load balancer either may answer).
    let (browser, started, callback) = signed_in_browser(&a, &s).await;
    let code = query_of(&callback)["code"].clone();
    let (status, tokens) = token_request(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &started.verifier),
        ],
        Some(&s.client),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&a, access).await, 200);
    // Replayed at A: refused, and the token is revoked everywhere.
    let (status, _) = token_request(
        &a,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &started.verifier),
        ],
        Some(&s.client),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(userinfo_status(&b, access).await, 401);
    drop(browser);
}

/// The product's sample app: answers its OpenID callback with a page and
/// hands the callback URL (with the code) to the test, which lets
/// openid-client finish the sign-in as the app's back end would.
async fn sample_app() -> (String, tokio::sync::mpsc::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let origin = base.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = vec![0u8; 8192];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&request[..n]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let _ = tx.send(format!("{origin}{path}")).await;
            let body =
                "<!doctype html><title>Sample app</title><h1>Sample app: signing you in…</h1>";
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (base, rx)
}

/// The whole journey in headless chromium: the app sends the person to the
/// gateway, the sign-in page asks for their work email, the verified domain
/// leads to their organization's IdP, and they come back signed into the
/// app — with the ID token checked by openid-client.
#[tokio::test(flavor = "multi_thread")]
async fn a_person_types_their_email_and_is_signed_into_the_app_in_a_real_browser() {
    let dns = common::dns::TestDns::start().await;
    let nameservers = dns.nameservers();
    let gw = Gateway::start_with(&[("SSO_GATEWAY__DNS__NAMESERVERS", &nameservers)]).await;
    let idp = TestIdp::start("ada@example.com").await;
    let (_, admin_token) = gw.create_org("Acme");
    let api = gw.api(&admin_token);
    api.add_team("Engineering", &["example.com"]).await;
    api.connect_okta(&idp).await;
    let (_, claim) = api.post("/domains", json!({"domain": "example.com"})).await;
    dns.set_txt(
        claim["txt_record"]["name"].as_str().unwrap(),
        &[claim["txt_record"]["value"].as_str().unwrap()],
    );
    let (status, _) = api.post("/domains/example.com/verify", json!({})).await;
    assert_eq!(status, 200);

    let (app, mut callbacks) = sample_app().await;
    let callback_uri = format!("{app}/callback");
    let out = gw.cli(&[
        "client",
        "create",
        "--name",
        "Sample app",
        "--redirect-uri",
        &callback_uri,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let client = Client {
        id: line["client_id"].as_str().unwrap().to_string(),
        secret: line["client_secret"].as_str().map(str::to_string),
    };
    let started = rp(&gw, &client, "start", &[("REDIRECT_URI", &callback_uri)]);
    let started = Started {
        url: started["url"].as_str().unwrap().to_string(),
        verifier: started["code_verifier"].as_str().unwrap().to_string(),
        state: started["state"].as_str().unwrap().to_string(),
        nonce: started["nonce"].as_str().unwrap().to_string(),
    };

    let b = common::browser::Browser::start().await;
    b.goto(&started.url).await;
    b.wait_for_text("Enter your work email").await;
    b.screenshot("op-01-sign-in-page").await;
    b.fill("#email", "ada@example.com").await;
    b.click("button[type=submit]").await;
    b.wait_for_text("Sample app").await;
    b.screenshot("op-02-signed-into-the-app").await;

    let callback = tokio::time::timeout(Duration::from_secs(5), callbacks.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(callback.starts_with(&callback_uri), "{callback}");
    let done = rp(
        &gw,
        &client,
        "finish",
        &[
            ("REDIRECT_URI", &callback_uri),
            ("CALLBACK_URL", &callback),
            ("CODE_VERIFIER", &started.verifier),
            ("STATE", &started.state),
            ("NONCE", &started.nonce),
            ("AUTH", "basic"),
        ],
    );
    let claims = &done["claims"];
    assert_eq!(claims["email"], "ada@example.com", "{done}");
    assert_eq!(claims["email_verified"], true, "Acme verified example.com");
    assert_eq!(claims["org_name"], "Acme");
    assert_eq!(claims["teams"][0], "Engineering");
    assert_eq!(done["userinfo"]["email_verified"], true);
}
