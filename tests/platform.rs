//! End-to-end over HTTP: the host product's door — platform API keys,
//! organizations, setup links — as the SPEC fixes it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Gateway;
use reqwest::Method;
use serde_json::{json, Value};
use sso_gateway::config::DatabaseConfig;
use sso_gateway::store::Store;

/// A call with `key` as bearer and, when given, `X-Organization-Id`.
async fn call(
    gw: &Gateway,
    key: &str,
    org: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = gw
        .http
        .request(method, gw.url(&format!("/api/v1{path}")))
        .bearer_auth(key);
    if let Some(org) = org {
        req = req.header("X-Organization-Id", org);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn setup_link(gw: &Gateway, key: &str, org_id: &str, body: Value) -> (u16, Value) {
    let path = format!("/organizations/{org_id}/setup-links");
    call(gw, key, None, Method::POST, &path, Some(body)).await
}

/// The gateway's own database, as a second client of it.
async fn open_store(gw: &Gateway) -> Store {
    let url = gw
        .env
        .iter()
        .find(|(k, _)| k == "SSO_GATEWAY__DATABASE__URL")
        .map(|(_, v)| v.clone())
        .unwrap();
    Store::connect(&DatabaseConfig {
        url,
        max_connections: 2,
        acquire_timeout_seconds: 5,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn api_keys_are_created_listed_and_revoked_from_the_command_line() {
    let gw = Gateway::start().await;
    let out = gw.cli(&["api-key", "create", "--name", "Product", "--json"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert!(stdout.starts_with("{\"id\":\""), "id first: {stdout}");
    let line: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(line.as_object().unwrap().len(), 2);
    let id = line["id"].as_str().unwrap();
    let key = line["api_key"].as_str().unwrap();
    assert!(key.starts_with("sgw_key_"), "{key}");

    let human = gw.cli(&["api-key", "create", "--name", "Backup"]);
    assert!(human.status.success());
    let human = String::from_utf8(human.stdout).unwrap();
    assert!(
        human.contains("sgw_key_") && human.contains("shown only now"),
        "{human}"
    );

    assert_eq!(
        call(&gw, key, None, Method::GET, "/organizations", None)
            .await
            .0,
        200
    );
    let list = gw.cli(&["api-key", "list"]);
    assert!(list.status.success());
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.contains(id) && list.contains("Product") && list.contains("Backup"));
    assert!(
        !list.contains("sgw_key_"),
        "a key is never shown again: {list}"
    );
    let row = list.lines().find(|l| l.contains(id)).unwrap();
    assert_eq!(
        row.matches(" - ").count(),
        1,
        "used, not revoked (only REVOKED is `-`): {row}"
    );

    let revoked = gw.cli(&["api-key", "revoke", id]);
    assert!(revoked.status.success());
    let (status, body) = call(&gw, key, None, Method::GET, "/organizations", None).await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    let list = String::from_utf8(gw.cli(&["api-key", "list"]).stdout).unwrap();
    let row = list.lines().find(|l| l.contains(id)).unwrap();
    assert_eq!(row.matches(" - ").count(), 0, "revoked: {row}");

    let unknown = gw.cli(&["api-key", "revoke", "no-such-key"]);
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.trim(), "error: api key not found");
    let blank = gw.cli(&["api-key", "create", "--name", "  "]);
    assert!(!blank.status.success());
    assert!(String::from_utf8_lossy(&blank.stderr).contains("must not be empty"));
}

#[tokio::test]
async fn the_platform_key_creates_lists_and_renames_organizations() {
    let gw = Gateway::start().await;
    let (_, key) = gw.create_api_key("Product");

    let (status, created) = call(
        &gw,
        &key,
        None,
        Method::POST,
        "/organizations",
        Some(json!({"name": " Acme "})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "Acme");
    assert!(created["created_at"].is_i64());
    let acme = created["id"].as_str().unwrap().to_string();
    // The organization's own admin token works at once.
    let (status, org) = gw
        .api(created["admin_token"].as_str().unwrap())
        .get("/organization")
        .await;
    assert_eq!((status, org["id"].as_str()), (200, Some(acme.as_str())));

    for name in ["Beta", "Gamma"] {
        let body = Some(json!({ "name": name }));
        assert_eq!(
            call(&gw, &key, None, Method::POST, "/organizations", body)
                .await
                .0,
            201
        );
    }
    let (status, page) = call(&gw, &key, None, Method::GET, "/organizations?limit=2", None).await;
    assert_eq!(status, 200, "{page}");
    let names: Vec<_> = page["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme", "Beta"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let path = format!("/organizations?limit=2&cursor={cursor}");
    let (_, rest) = call(&gw, &key, None, Method::GET, &path, None).await;
    assert_eq!(rest["organizations"][0]["name"], "Gamma");
    assert_eq!(rest["organizations"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let (status, _) = call(
        &gw,
        &key,
        None,
        Method::GET,
        "/organizations?cursor=nope",
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(&gw, &key, None, Method::GET, "/organizations?limit=0", None).await;
    assert_eq!(status, 400);

    let path = format!("/organizations/{acme}");
    let (status, org) = call(&gw, &key, None, Method::GET, &path, None).await;
    assert_eq!((status, org["name"].as_str()), (200, Some("Acme")));
    let rename = Some(json!({"name": "Acme Corp"}));
    let (status, org) = call(&gw, &key, None, Method::PATCH, &path, rename.clone()).await;
    assert_eq!((status, org["name"].as_str()), (200, Some("Acme Corp")));
    let unknown = "/organizations/00000000-0000-4000-8000-000000000000";
    assert_eq!(
        call(&gw, &key, None, Method::GET, unknown, None).await.0,
        404
    );
    assert_eq!(
        call(&gw, &key, None, Method::PATCH, unknown, rename)
            .await
            .0,
        404
    );

    // Bad input is refused and writes nothing.
    let too_long = Some(json!({ "name": "x".repeat(201) }));
    let (status, err) = call(&gw, &key, None, Method::POST, "/organizations", too_long).await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("name"))
    );
    let blank = Some(json!({"name": " "}));
    assert_eq!(
        call(&gw, &key, None, Method::PATCH, &path, blank).await.0,
        422
    );
    let array = Some(json!([{"name": "x"}]));
    assert_eq!(
        call(&gw, &key, None, Method::POST, "/organizations", array)
            .await
            .0,
        422
    );
    let res = gw
        .http
        .post(gw.url("/api/v1/organizations"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (_, all) = call(&gw, &key, None, Method::GET, "/organizations", None).await;
    assert_eq!(all["organizations"].as_array().unwrap().len(), 3);
    assert_eq!(all["organizations"][0]["name"], "Acme Corp");

    // Created and renamed by the key, as the organization's audit says.
    let (_, audit) = call(&gw, &key, Some(&acme), Method::GET, "/audit", None).await;
    let kinds: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds.len(), 2, "{audit}");
    assert!(kinds.iter().all(|(_, actor)| actor.starts_with("api_key:")));
    assert_eq!(kinds[0].0, "organization.renamed");
}

#[tokio::test]
async fn platform_routes_refuse_admin_tokens_and_bad_keys() {
    let gw = Gateway::start().await;
    let (org_id, token) = gw.create_org("Acme");
    let body = || Some(json!({"name": "Other"}));
    for (method, path, body) in [
        (Method::GET, "/organizations".to_string(), None),
        (Method::POST, "/organizations".to_string(), body()),
        (Method::GET, format!("/organizations/{org_id}"), None),
        (Method::PATCH, format!("/organizations/{org_id}"), body()),
        (
            Method::POST,
            format!("/organizations/{org_id}/setup-links"),
            Some(json!({})),
        ),
    ] {
        let (status, err) = call(&gw, &token, None, method.clone(), &path, body.clone()).await;
        assert_eq!(status, 403, "{method} {path}: {err}");
        assert_eq!(err["error"]["code"], "forbidden");
        assert!(err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key"));
        for bad in ["sgw_key_mistyped", "sgw_admin_mistyped", "nothing"] {
            let (status, _) = call(&gw, bad, None, method.clone(), &path, body.clone()).await;
            assert_eq!(status, 401, "{bad} on {method} {path}");
        }
        let res = gw
            .http
            .request(method.clone(), gw.url(&format!("/api/v1{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    // The admin token was refused, not used: its organization is unchanged.
    assert_eq!(gw.api(&token).get("/organization").await.1["name"], "Acme");
}

#[tokio::test]
async fn the_key_acts_on_the_organization_it_names() {
    let gw = Gateway::start().await;
    let (key_id, key) = gw.create_api_key("Product");
    let (a, token_a) = gw.create_org("A");
    let (b, _) = gw.create_org("B");

    let team = Some(json!({"name": "Engineering"}));
    let (status, created) = call(&gw, &key, Some(&b), Method::POST, "/teams", team.clone()).await;
    assert_eq!(status, 201, "{created}");
    let (status, teams) = call(&gw, &key, Some(&b), Method::GET, "/teams", None).await;
    assert_eq!(status, 200);
    assert_eq!(teams["teams"][0]["id"], created["id"]);
    let (_, teams_a) = gw.api(&token_a).get("/teams").await;
    assert_eq!(teams_a["teams"], json!([]), "B's team stays in B");
    let (status, org) = call(&gw, &key, Some(&b), Method::GET, "/organization", None).await;
    assert_eq!((status, org["id"].as_str()), (200, Some(b.as_str())));

    let (_, audit) = call(
        &gw,
        &key,
        Some(&b),
        Method::GET,
        "/audit?kind=team.created",
        None,
    )
    .await;
    assert_eq!(audit["events"][0]["actor"], format!("api_key:{key_id}"));

    // Without the header: what to send.
    let (status, err) = call(&gw, &key, None, Method::GET, "/teams", None).await;
    assert_eq!(status, 400);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("X-Organization-Id"));
    let unknown = "00000000-0000-4000-8000-000000000000";
    for org in [unknown, "", "not an id"] {
        let (status, _) = call(&gw, &key, Some(org), Method::GET, "/teams", None).await;
        assert_eq!(status, 404, "{org:?}");
    }
    let (status, _) = call(
        &gw,
        &key,
        Some(unknown),
        Method::POST,
        "/teams",
        team.clone(),
    )
    .await;
    assert_eq!(status, 404);

    // An admin token may name its own organization, never another.
    assert_eq!(
        call(&gw, &token_a, Some(&a), Method::GET, "/teams", None)
            .await
            .0,
        200
    );
    for org in [b.as_str(), unknown] {
        let (status, err) = call(
            &gw,
            &token_a,
            Some(org),
            Method::POST,
            "/teams",
            team.clone(),
        )
        .await;
        assert_eq!(status, 404, "{err}");
        assert_eq!(err["error"]["message"], "organization not found");
    }
    let (_, teams_b) = call(&gw, &key, Some(&b), Method::GET, "/teams", None).await;
    assert_eq!(
        teams_b["teams"].as_array().unwrap().len(),
        1,
        "nothing reached B"
    );

    // A revoked key reaches no organization.
    assert!(gw.cli(&["api-key", "revoke", &key_id]).status.success());
    assert_eq!(
        call(&gw, &key, Some(&b), Method::GET, "/teams", None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_setup_link_signs_in_once() {
    let gw = Gateway::start().await;
    let (_, key) = gw.create_api_key("Product");
    let (org_id, _) = gw.create_org("Acme");

    let (status, link) = setup_link(&gw, &key, &org_id, json!({})).await;
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&gw.url("/admin/setup/sgw_setup_")), "{url}");
    let week = link["expires_at"].as_i64().unwrap() - chrono::Utc::now().timestamp_millis();
    assert!(
        (7 * 86_400_000 - 60_000..=7 * 86_400_000).contains(&week),
        "{week}"
    );

    // Opening it (as a mail client's link preview also does) spends nothing:
    // it says what it does and asks to continue.
    let browser = gw.browser();
    for _ in 0..2 {
        let res = browser.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("set-cookie").is_none());
        let page = res.text().await.unwrap();
        assert!(
            page.contains("Set up single sign-on for Acme")
                && page.contains("Continue to the admin pages"),
            "{page}"
        );
    }
    let res = browser.post(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("set-cookie").is_some());
    let page = res.text().await.unwrap();
    assert!(page.contains("url=/admin/sso"), "{page}");
    let res = browser.get(gw.url("/admin/sso")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the session is an admin session");
    assert!(res.text().await.unwrap().contains("Acme"));
    // What that session changes is the link's doing.
    let teams = browser.get(gw.url("/admin/teams")).send().await.unwrap();
    let teams = teams.text().await.unwrap();
    let csrf = teams
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let res = browser
        .post(gw.url("/admin/teams"))
        .header("origin", gw.url(""))
        .form(&[("csrf", csrf), ("name", "Engineering")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // Used: a clear page, in this browser and any other, to look or to use.
    for client in [&browser, &gw.browser()] {
        for res in [
            client.get(url).send().await.unwrap(),
            client.post(url).send().await.unwrap(),
        ] {
            assert_eq!(res.status(), 410);
            let page = res.text().await.unwrap();
            assert!(
                page.contains("already used") && page.contains("for a new one"),
                "{page}"
            );
        }
    }
    let res = gw
        .browser()
        .get(gw.url("/admin/setup/sgw_setup_nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("not valid"));

    // Creating and using the link are audited in its organization, by who did each.
    let (_, audit) = call(
        &gw,
        &key,
        Some(&org_id),
        Method::GET,
        "/audit?kind=setup_link.*",
        None,
    )
    .await;
    let events = audit["events"].as_array().unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["setup_link.used", "setup_link.created"]);
    let by_link = format!("setup_link:{}", link["id"].as_str().unwrap());
    assert_eq!(events[0]["actor"], by_link.as_str());
    assert!(events[1]["actor"].as_str().unwrap().starts_with("api_key:"));
    let path = "/audit?kind=team.created";
    let (_, audit) = call(&gw, &key, Some(&org_id), Method::GET, path, None).await;
    assert_eq!(audit["events"][0]["actor"], by_link.as_str());
}

#[tokio::test]
async fn two_concurrent_opens_of_a_link_let_exactly_one_in() {
    let gw = Gateway::start().await;
    let (_, key) = gw.create_api_key("Product");
    let (org_id, _) = gw.create_org("Acme");
    for _ in 0..3 {
        let (_, link) = setup_link(&gw, &key, &org_id, json!({"expires_in_seconds": 600})).await;
        let url = link["url"].as_str().unwrap().to_string();
        let (first, second) = (gw.browser(), gw.browser());
        let (a, b) = tokio::join!(first.post(&url).send(), second.post(&url).send());
        let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 410]);
    }
}

#[tokio::test]
async fn setup_link_lifetimes_are_bounded_and_expire() {
    let gw = Gateway::start().await;
    let (_, key) = gw.create_api_key("Product");
    let (org_id, _) = gw.create_org("Acme");
    for bad in [
        json!({"expires_in_seconds": 59}),
        json!({"expires_in_seconds": 2_592_001}),
    ] {
        let (status, err) = setup_link(&gw, &key, &org_id, bad).await;
        assert_eq!(status, 422, "{err}");
        assert_eq!(err["error"]["field"], "expires_in_seconds");
    }
    let (status, _) = setup_link(&gw, &key, &org_id, json!({"expires_in_seconds": "soon"})).await;
    assert_eq!(status, 422);
    let (status, _) = setup_link(&gw, &key, &org_id, json!({"lifetime": 60})).await;
    assert_eq!(status, 422);
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_eq!(setup_link(&gw, &key, unknown, json!({})).await.0, 404);
    let (status, link) = setup_link(&gw, &key, &org_id, json!({"expires_in_seconds": 60})).await;
    assert_eq!(status, 201);
    let minute = link["expires_at"].as_i64().unwrap() - chrono::Utc::now().timestamp_millis();
    assert!((55_000..=60_000).contains(&minute), "{minute}");
    let (_, audit) = call(
        &gw,
        &key,
        Some(&org_id),
        Method::GET,
        "/audit?kind=setup_link.*",
        None,
    )
    .await;
    assert_eq!(
        audit["events"].as_array().unwrap().len(),
        1,
        "refused links wrote nothing"
    );

    // A link whose time ran out, written as the rule would have an hour ago.
    let token = sso_gateway::secrets::new_token(sso_gateway::secrets::SETUP_LINK_PREFIX);
    let store = open_store(&gw).await;
    let mut tx = store.write_tx().await.unwrap();
    let past = chrono::Utc::now().timestamp_millis() - 1;
    tx.insert_setup_link(&org_id, &sso_gateway::secrets::token_hash(&token), past)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    let res = gw
        .browser()
        .get(gw.url(&format!("/admin/setup/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("expired") && page.contains("for a new one"),
        "{page}"
    );
}

#[tokio::test]
async fn the_document_describes_the_platform_routes() {
    let gw = Gateway::start().await;
    let doc: Value = gw
        .http
        .get(gw.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert!(schemes["admin_token"].is_object());
    for (path, method, created) in [
        ("/api/v1/organizations", "post", "201"),
        ("/api/v1/organizations", "get", "200"),
        ("/api/v1/organizations/{org_id}", "get", "200"),
        ("/api/v1/organizations/{org_id}", "patch", "200"),
        ("/api/v1/organizations/{org_id}/setup-links", "post", "201"),
    ] {
        let op = &doc["paths"][path][method];
        for status in [created, "401", "403"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} {status}"
            );
        }
        assert_eq!(op["security"], json!([{"api_key": []}]), "{method} {path}");
    }
    let header = &schemes["organization_id"];
    assert_eq!(
        (&header["type"], &header["in"], &header["name"]),
        (
            &json!("apiKey"),
            &json!("header"),
            &json!("X-Organization-Id")
        )
    );
    let teams = &doc["paths"]["/api/v1/teams"]["post"];
    for status in ["400", "404"] {
        assert!(
            teams["responses"][status].is_object(),
            "POST /teams {status}"
        );
    }
    assert_eq!(
        doc["security"],
        json!([{"admin_token": []}, {"api_key": [], "organization_id": []}])
    );
}
