//! End-to-end over HTTP: the admin API core as the SPEC fixes it.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::idp::TestIdp;
use common::op::TestOp;
use common::Gateway;
use serde_json::{json, Value};

const IDP_CERT: &str = include_str!("../fixtures/certs/idp-cert.pem");

#[tokio::test]
async fn org_create_prints_exactly_one_json_line() {
    let gw = Gateway::start().await;
    let out = gw.cli(&["org", "create", "--name", "Acme", "--json"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert!(
        stdout.starts_with("{\"org_id\":\""),
        "org_id first: {stdout}"
    );
    let line: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(line.as_object().unwrap().len(), 2);
    assert!(line["admin_token"]
        .as_str()
        .unwrap()
        .starts_with("sgw_admin_"));

    let empty = gw.cli(&["org", "create", "--name", " ", "--json"]);
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("must not be empty"));
}

#[tokio::test]
async fn admin_token_is_required_valid_and_rotatable() {
    let gw = Gateway::start().await;
    let (org_id, token) = gw.create_org("Acme");

    let res = gw.http.get(gw.url("/api/v1/teams")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("www-authenticate").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    assert_eq!(gw.api("sgw_admin_wrong").get("/teams").await.0, 401);
    assert_eq!(gw.api(&token[..token.len() - 1]).get("/teams").await.0, 401);
    let (status, org) = gw.api(&token).get("/organization").await;
    assert_eq!(status, 200);
    assert_eq!(org["id"], org_id.as_str());

    // Rotation through the API revokes the calling token …
    let (status, rotated) = gw.api(&token).post("/admin-token/rotate", json!({})).await;
    assert_eq!(status, 201);
    let new_token = rotated["admin_token"].as_str().unwrap().to_string();
    assert_eq!(gw.api(&token).get("/teams").await.0, 401);
    assert_eq!(gw.api(&new_token).get("/teams").await.0, 200);

    // … and through the CLI revokes every earlier one.
    let out = gw.cli(&["token", "rotate", "--org", &org_id, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(gw.api(&new_token).get("/teams").await.0, 401);
    assert_eq!(
        gw.api(line["admin_token"].as_str().unwrap())
            .get("/teams")
            .await
            .0,
        200
    );
    let unknown = gw.cli(&["token", "rotate", "--org", "no-such-org"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("organization not found"));
}

#[tokio::test]
async fn teams_with_preapproved_domains_delete_and_restore() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);

    let (status, team) = api
        .post("/teams", json!({"name": "Engineering", "preapproved_domains": [" Example.COM ", "@example.org", "example.com"]}))
        .await;
    assert_eq!(status, 201, "{team}");
    assert_eq!(team["name"], "Engineering");
    assert_eq!(
        team["preapproved_domains"],
        json!(["example.com", "example.org"])
    );
    let id = team["id"].as_str().unwrap().to_string();

    let (status, err) = api
        .post(
            "/teams",
            json!({"name": "Ops", "preapproved_domains": ["https://x.com"]}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["field"], "preapproved_domains");
    assert!(err["error"]["message"].as_str().unwrap().contains("URL"));
    let (status, err) = api
        .post(
            "/teams",
            json!({"name": "Ops", "preapproved_domains": ["gmail.com"]}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("public email provider"));
    assert_eq!(
        api.post("/teams", json!({"name": "engineering"})).await.0,
        409
    );
    assert_eq!(api.post("/teams", json!({"name": ""})).await.0, 422);

    let (status, patched) = api
        .patch(
            &format!("/teams/{id}"),
            json!({"preapproved_domains": ["acme.io"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["preapproved_domains"], json!(["acme.io"]));
    assert_eq!(patched["name"], "Engineering");

    let (_, list) = api.get("/teams").await;
    assert_eq!(list["teams"].as_array().unwrap().len(), 1);

    assert_eq!(api.delete(&format!("/teams/{id}")).await.0, 204);
    assert_eq!(api.delete(&format!("/teams/{id}")).await.0, 404);
    let (_, list) = api.get("/teams").await;
    assert!(list["teams"].as_array().unwrap().is_empty());
    let (_, deleted) = api.get("/teams?state=deleted").await;
    let deleted = &deleted["teams"][0];
    assert_eq!(deleted["id"], id.as_str());
    let thirty_days = 30 * 86_400_000i64;
    assert_eq!(
        deleted["purge_at"].as_i64().unwrap() - deleted["deleted_at"].as_i64().unwrap(),
        thirty_days
    );
    assert_eq!(
        api.patch(&format!("/teams/{id}"), json!({"name": "x"}))
            .await
            .0,
        404,
        "a deleted team is read-only"
    );

    let (status, restored) = api.post(&format!("/teams/{id}/restore"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(restored["deleted_at"], Value::Null);
    assert_eq!(restored["preapproved_domains"], json!(["acme.io"]));
    assert_eq!(
        api.post(&format!("/teams/{id}/restore"), json!({})).await.0,
        404
    );
    assert_eq!(api.get("/teams?state=bogus").await.0, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_organization_never_sees_or_changes_another() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, token_a) = gw.create_org("A");
    let (_, token_b) = gw.create_org("B");
    let (a, b) = (gw.api(&token_a), gw.api(&token_b));
    let (_, team) = a
        .post(
            "/teams",
            json!({"name": "Secret", "preapproved_domains": ["a.com"]}),
        )
        .await;
    let team_id = team["id"].as_str().unwrap();
    let (_, integ) = a
        .post(
            "/integrations",
            json!({"kind": "okta", "metadata_url": idp.metadata_url()}),
        )
        .await;
    let integ_id = integ["id"].as_str().unwrap();

    for (status, _) in [
        b.get(&format!("/teams/{team_id}")).await,
        b.patch(&format!("/teams/{team_id}"), json!({"name": "mine"}))
            .await,
        b.delete(&format!("/teams/{team_id}")).await,
        b.post(&format!("/teams/{team_id}/restore"), json!({}))
            .await,
        b.get(&format!("/integrations/{integ_id}")).await,
        b.patch(
            &format!("/integrations/{integ_id}"),
            json!({"name": "mine"}),
        )
        .await,
        b.post(&format!("/integrations/{integ_id}/provisioning"), json!({}))
            .await,
        b.delete(&format!("/integrations/{integ_id}/provisioning"))
            .await,
        b.delete(&format!("/integrations/{integ_id}")).await,
    ] {
        assert_eq!(status, 404);
    }
    assert!(b.get("/teams").await.1["teams"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(b.get("/integrations").await.1["integrations"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(b.get("/audit").await.1["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["subject"] != team_id));
    assert_eq!(
        a.get(&format!("/teams/{team_id}")).await.1["name"],
        "Secret"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn integrations_of_every_kind_and_the_provisioning_toggle() {
    let idp = TestIdp::start("x@example.com").await;
    let op = TestOp::start("x@example.com").await;
    let gw = Gateway::start_with(&[("SSO_GATEWAY__ENTRA__AUTHORITY", &op.base)]).await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);

    let (status, okta) = api
        .post(
            "/integrations",
            json!({"kind": "okta", "metadata_url": idp.metadata_url()}),
        )
        .await;
    assert_eq!(status, 201, "{okta}");
    let id = okta["id"].as_str().unwrap();
    let sso_base = gw.url(&format!("/users/sign-in/sso/okta/{id}"));
    assert_eq!(okta["kind"], "okta");
    assert_eq!(okta["sign_in_url"], sso_base.as_str());
    assert_eq!(okta["acs_url"], sso_base.as_str());
    assert_eq!(okta["sp_entity_id"], sso_base.as_str());
    assert_eq!(
        okta["sp_metadata_url"],
        format!("{sso_base}/metadata").as_str()
    );
    assert_eq!(okta["provisioning"]["enabled"], false);
    assert_eq!(
        okta["provisioning"]["tenant_url"],
        gw.url(&format!("/scim/v2/{id}")).as_str()
    );

    let (status, manual) = api.post("/integrations", json!({"kind": "saml", "sso_url": "https://idp.example.com/sso", "certificate_pem": IDP_CERT})).await;
    assert_eq!(status, 201, "{manual}");
    let cert = &manual["saml"]["certificates"][0];
    assert!(cert["not_after"].as_str().unwrap().starts_with("20"));
    assert_eq!(cert["sha256_fingerprint"].as_str().unwrap().len(), 64);

    let (status, entra) = api
        .post("/integrations", json!({"kind": "entra", "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "client_id": "11111111-2222-3333-4444-555555555555", "client_secret": "very-secret-value"}))
        .await;
    assert_eq!(status, 201, "{entra}");
    let entra_id = entra["id"].as_str().unwrap();
    assert_eq!(
        entra["oidc"]["issuer"],
        format!("{}/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", op.base).as_str()
    );
    assert_eq!(
        entra["redirect_uri"],
        gw.url(&format!("/users/sign-in/sso/entra/{entra_id}/callback"))
            .as_str()
    );
    assert!(
        !entra.to_string().contains("very-secret-value"),
        "secrets are never returned"
    );

    let issuer = op.generic_issuer();
    let (status, oidc) = api.post("/integrations", json!({"kind": "oidc", "issuer": format!("{issuer}/"), "client_id": "abc", "client_secret": "s"})).await;
    assert_eq!(status, 201, "{oidc}");
    assert_eq!(oidc["oidc"]["issuer"], issuer.as_str());

    for (body, field) in [
        (json!({"metadata_url": "https://a/m"}), "kind"),
        (json!({"kind": "okta"}), "metadata_url"),
        (
            json!({"kind": "okta", "metadata_url": "http://acme.okta.com/m"}),
            "metadata_url",
        ),
        (
            json!({"kind": "okta", "metadata_url": "https://a/m", "client_secret": "x"}),
            "kind",
        ),
        (
            json!({"kind": "saml", "sso_url": "https://idp/sso", "certificate_pem": "garbage"}),
            "certificate_pem",
        ),
        (
            json!({"kind": "entra", "tenant": "not a tenant", "client_id": "11111111-2222-3333-4444-555555555555", "client_secret": "x"}),
            "tenant",
        ),
    ] {
        let (status, err) = api.post("/integrations", body.clone()).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    assert_eq!(
        api.post("/integrations", json!({"kind": "ldap"})).await.0,
        422
    );

    // PATCH: rename, and switch Okta to manual set-up.
    let (status, patched) = api
        .patch(&format!("/integrations/{id}"), json!({"name": "Okta prod", "sso_url": "https://acme.okta.com/app/x/sso/saml", "certificate_pem": IDP_CERT}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Okta prod");
    assert_eq!(patched["saml"]["source"], "manual");
    assert_eq!(
        api.patch(&format!("/integrations/{id}"), json!({"kind": "entra"}))
            .await
            .0,
        422
    );

    // The token is shown once; calling again rotates it.
    let (status, creds) = api
        .post(&format!("/integrations/{id}/provisioning"), json!({}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(creds["tenant_id"], id);
    assert_eq!(
        creds["tenant_url"],
        gw.url(&format!("/scim/v2/{id}")).as_str()
    );
    let first = creds["token"].as_str().unwrap().to_string();
    assert!(first.starts_with("sgw_scim_"));
    let (_, view) = api.get(&format!("/integrations/{id}")).await;
    assert_eq!(view["provisioning"]["enabled"], true);
    assert!(!view.to_string().contains(&first));
    let (_, again) = api
        .post(&format!("/integrations/{id}/provisioning"), json!({}))
        .await;
    assert_ne!(again["token"].as_str().unwrap(), first);
    assert_eq!(
        api.delete(&format!("/integrations/{id}/provisioning"))
            .await
            .0,
        204
    );
    assert_eq!(
        api.get(&format!("/integrations/{id}")).await.1["provisioning"]["enabled"],
        false
    );

    assert_eq!(
        api.get("/integrations").await.1["integrations"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        api.delete(&format!("/integrations/{entra_id}")).await.0,
        204
    );
    assert_eq!(api.get(&format!("/integrations/{entra_id}")).await.0, 404);

    if common::is_sqlite(&gw) {
        // Nothing secret is stored in clear.
        let mut db = Vec::new();
        for entry in std::fs::read_dir(gw.data_dir()).unwrap() {
            db.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        let db = String::from_utf8_lossy(&db);
        assert!(!db.contains("very-secret-value"));
        assert!(!db.contains(&first));
        assert!(!db.contains(&token));
    }
}

#[tokio::test]
async fn bad_input_gets_clear_errors_never_500() {
    let gw = Gateway::start_with(&[("SSO_GATEWAY__SERVER__MAX_BODY_BYTES", "4096")]).await;
    let (_, token) = gw.create_org("Acme");
    let post = |body: &'static str, content_type: &'static str| {
        gw.http
            .post(gw.url("/api/v1/teams"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
    };
    let check = |res: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(res.status().as_u16(), status);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    };
    check(
        post("{\"name\": ", "application/json")
            .send()
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    check(
        post("{\"name\": \"x\", \"colour\": \"red\"}", "application/json")
            .send()
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    check(
        post("{\"name\": 5}", "application/json")
            .send()
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    check(
        post("name=x", "text/plain").send().await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(10_000));
    let res = gw
        .http
        .post(gw.url("/api/v1/teams"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    check(res, 413, "payload_too_large").await;
    check(
        gw.http.get(gw.url("/api/v1/nope")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    check(
        gw.http
            .get(gw.url("/api/v1/users?limit=0"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    check(
        gw.http
            .get(gw.url("/api/v1/audit?since=yesterday"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    check(
        gw.http
            .get(gw.url("/api/v1/audit?bogus=1"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    check(
        gw.http
            .get(gw.url("/api/v1/teams/does-not-exist"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    check(
        gw.http
            .get(gw.url("/api/v1/users/does-not-exist"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn audit_log_is_newest_first_filterable_and_paginated() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    for i in 0..5 {
        api.post("/teams", json!({"name": format!("team {i}")}))
            .await;
    }
    let (_, first) = api.get("/teams").await;
    let team_id = first["teams"][0]["id"].as_str().unwrap().to_string();
    api.delete(&format!("/teams/{team_id}")).await;

    let (status, page) = api.get("/audit?limit=3").await;
    assert_eq!(status, 200);
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["kind"], "team.deleted");
    assert!(events[0]["actor"]
        .as_str()
        .unwrap()
        .starts_with("admin_token:"));
    let times: Vec<i64> = events
        .iter()
        .map(|e| e["occurred_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = api.get(&format!("/audit?limit=3&cursor={cursor}")).await;
    let rest = rest["events"].as_array().unwrap();
    assert_eq!(
        rest.len(),
        3,
        "5 created + 1 deleted + org created = 7 events"
    );
    assert!(rest.iter().all(|e| !events.contains(e)));

    let (_, created) = api.get("/audit?kind=team.created").await;
    assert_eq!(created["events"].as_array().unwrap().len(), 5);
    let (_, teams) = api.get("/audit?kind=team.*").await;
    assert_eq!(teams["events"].as_array().unwrap().len(), 6);
    let (_, by_subject) = api.get(&format!("/audit?subject={team_id}")).await;
    assert_eq!(by_subject["events"].as_array().unwrap().len(), 2);
    let (_, future) = api.get("/audit?since=2999-01-01T00:00:00Z").await;
    assert!(future["events"].as_array().unwrap().is_empty());
    let (_, failures) = api.get("/audit?outcome=failure").await;
    assert!(failures["events"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn members_listing_is_empty_for_a_new_organization() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let (status, body) = gw.api(&token).get("/users").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"users": [], "next_cursor": null}));
}

#[tokio::test]
async fn a_deleted_team_is_gone_from_get_and_listed_as_deleted() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let team = api.add_team("Engineering", &["example.com"]).await;
    let path = format!("/teams/{}", team["id"].as_str().unwrap());
    assert_eq!(api.get(&path).await.0, 200);

    assert_eq!(api.delete(&path).await.0, 204);
    let (status, err) = api.get(&path).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "not_found");
    let (_, deleted) = api.get("/teams?state=deleted").await;
    assert_eq!(deleted["teams"][0]["id"], team["id"]);
    assert!(deleted["teams"][0]["deleted_at"].is_i64());

    assert_eq!(api.post(&format!("{path}/restore"), json!({})).await.0, 200);
    let (status, live) = api.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(live["deleted_at"], Value::Null);
}

#[tokio::test]
async fn names_are_bounded_and_free_of_control_characters() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let invalid = |(status, body): (u16, Value), field: &str| {
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "invalid_field", "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    };
    let at_limit = "n".repeat(200);
    let (status, team) = api.post("/teams", json!({"name": at_limit})).await;
    assert_eq!(status, 201, "{team}");
    let id = team["id"].as_str().unwrap();
    let over = "n".repeat(201);
    invalid(api.post("/teams", json!({"name": over})).await, "name");
    // The bound holds for the value as sent, white space included.
    let padded = format!(" {} ", "p".repeat(199));
    invalid(api.post("/teams", json!({"name": padded})).await, "name");
    invalid(
        api.patch(&format!("/teams/{id}"), json!({"name": over}))
            .await,
        "name",
    );
    invalid(
        api.patch("/organization", json!({"name": over})).await,
        "name",
    );
    invalid(api.post("/teams", json!({"name": "a\u{7}b"})).await, "name");
    invalid(api.post("/teams", json!({"name": " \t "})).await, "name");
    let long_domain = format!("{}.com", "a.".repeat(130));
    invalid(
        api.post(
            "/teams",
            json!({"name": "Ops", "preapproved_domains": [long_domain]}),
        )
        .await,
        "preapproved_domains",
    );
    let padded_domain = format!("{}example.com", " ".repeat(250));
    invalid(
        api.post(
            "/teams",
            json!({"name": "Ops", "preapproved_domains": [padded_domain]}),
        )
        .await,
        "preapproved_domains",
    );
    // Trimmed white space around a name is still fine.
    let (status, team) = api.post("/teams", json!({"name": " Ops\n"})).await;
    assert_eq!(status, 201, "{team}");
    assert_eq!(team["name"], "Ops");
}

#[tokio::test]
async fn bodies_are_objects_and_known_paths_answer_405_to_other_methods() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let team = api.add_team("Engineering", &[]).await;
    let path = format!("/teams/{}", team["id"].as_str().unwrap());
    let (status, err) = api.patch(&path, json!([null, null])).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "invalid_body");
    assert_eq!(api.post("/teams", json!(["Ops"])).await.0, 422);

    let (status, err) = api.call(reqwest::Method::PUT, &path, Some(json!({}))).await;
    assert_eq!(status, 405, "{err}");
    assert_eq!(err["error"]["code"], "method_not_allowed");
    let res = gw
        .http
        .request(reqwest::Method::TRACE, gw.url("/api/v1/teams"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, POST");
    assert_eq!(api.get("/nope").await.0, 404);
}

/// `(method, path)` of every route `admin_api::configure` mounts, read from
/// its source: each `.service(module::handler)` and the route attribute
/// above that handler in `src/admin_api/<module>.rs`.
fn mounted_routes() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/admin_api");
    let module_source = |name: &str| {
        std::fs::read_to_string(format!("{dir}/{name}.rs"))
            .unwrap_or_else(|e| panic!("{dir}/{name}.rs: {e}"))
    };
    let configure = module_source("mod");
    let configure = &configure[configure.find("pub fn configure").unwrap()..];
    let mut routes = Vec::new();
    for service in configure.split(".service(").skip(1) {
        let handler = service.split(')').next().unwrap().trim();
        if handler.starts_with("web::scope") {
            continue;
        }
        let (module, name) = handler.split_once("::").unwrap_or(("mod", handler));
        let source = module_source(module);
        let at = source
            .find(&format!("async fn {name}("))
            .unwrap_or_else(|| panic!("{handler} not found"));
        let attribute = source[..at].rfind("#[").unwrap();
        let attribute = &source[attribute + 2..at];
        let (method, rest) = attribute.split_once("(\"").unwrap();
        let path = rest.split('"').next().unwrap();
        routes.push((method.to_uppercase(), format!("/api/v1{path}")));
    }
    assert!(routes.len() > 20, "{routes:?}");
    routes
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let gw = Gateway::start().await;
    let res = gw
        .http
        .get(gw.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in mounted_routes() {
        if path == "/api/v1/openapi.json" {
            continue;
        }
        let operation = &doc["paths"][&path][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"]["401"].is_object(),
            "{method} {path} does not document 401"
        );
    }
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Kind"]["enum"],
        json!(["okta", "entra", "saml", "oidc"])
    );
    assert_eq!(schemas["CreateTeam"]["required"], json!(["name"]));
    assert!(schemas["Team"]["properties"]["idp_groups"].is_object());
    assert!(schemas["RoleMapping"]["properties"]["admin"].is_object());
    assert!(schemas["IntegrationInput"]["properties"]["role_mapping"].is_object());
    assert_eq!(
        schemas["CreateTeam"]["properties"]["name"]["maxLength"],
        200
    );
    let create_team = &doc["paths"]["/api/v1/teams"]["post"]["responses"];
    for status in ["400", "413", "415", "422"] {
        assert_eq!(
            create_team[status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "POST /teams {status}"
        );
    }
    let state = &doc["paths"]["/api/v1/teams"]["get"]["parameters"][0];
    assert_eq!(state["name"], "state");
    assert!(state["schema"]
        .to_string()
        .contains(r#""enum":["live","deleted"]"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn team_idp_groups_are_validated_stored_and_shown() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    let many: Vec<String> = (0..101).map(|i| format!("g{i}")).collect();
    for (groups, words) in [
        (json!([""]), "empty group name"),
        (json!(["  "]), "empty group name"),
        (json!(["x".repeat(513)]), "at most 512 characters"),
        (json!(many), "at most 100 groups"),
    ] {
        let (status, err) = api
            .post("/teams", json!({"name": "Ops", "idp_groups": groups}))
            .await;
        assert_eq!(status, 422, "{err}");
        assert_eq!(err["error"]["field"], "idp_groups");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(words),
            "{err}"
        );
    }
    // Not a list of strings: the body does not fit.
    let (status, _) = api
        .post("/teams", json!({"name": "Ops", "idp_groups": "Devs"}))
        .await;
    assert_eq!(status, 422);
    let (status, _) = api
        .post("/teams", json!({"name": "Ops", "idp_groups": [1]}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(api.get("/teams").await.1["teams"], json!([]));

    let (status, team) = api
        .post("/teams", json!({"name": "Ops", "idp_groups": ["Ops-Team"]}))
        .await;
    assert_eq!(status, 201, "{team}");
    assert_eq!(team["idp_groups"], json!(["Ops-Team"]));
    let id = team["id"].as_str().unwrap();
    // A PATCH without idp_groups keeps them; with them, replaces them.
    let (_, team) = api
        .patch(&format!("/teams/{id}"), json!({"name": "Operations"}))
        .await;
    assert_eq!(team["idp_groups"], json!(["Ops-Team"]));
    let (status, team) = api
        .patch(&format!("/teams/{id}"), json!({"idp_groups": []}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(team["idp_groups"], json!([]));
    let (_, listed) = api.get("/teams").await;
    assert_eq!(listed["teams"][0]["idp_groups"], json!([]));
    // The change is a team.updated event.
    let (_, events) = api.get("/events?types=team.updated").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");
}
