//! End-to-end SCIM over HTTP with the request shapes Okta and Entra send
//! (see the shared INTEROP notes), against the real gateway.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::events::{cursor, walk};
use common::idp::TestIdp;
use common::scim::{tenant, Scim, ENTERPRISE, USER};
use common::Gateway;
use serde_json::{json, Value};

fn okta_user(email: &str) -> Value {
    json!({
        "schemas": [USER], "userName": email, "externalId": "00u1abc",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Ada Lovelace", "locale": "en-US", "active": true,
        "password": "Sync-me-1!", "groups": []
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn okta_user_lifecycle() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token, scim) = tenant(&gw, &idp, "Acme").await;
    let api = gw.api(&token);

    // Okta looks the user up first, then creates.
    let (status, empty) = scim
        .get("/Users?filter=userName%20eq%20%22ada%40example.com%22&startIndex=1&count=100")
        .await;
    assert_eq!(status, 200);
    assert_eq!(empty["totalResults"], 0);
    let (status, created) = scim.post("/Users", okta_user("ada@example.com")).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created.get("password").is_none(), "password is write-only");
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["active"], true);

    // The member exists, SCIM-managed.
    let (_, users) = api.get("/users").await;
    assert_eq!(users["users"][0]["email"], "ada@example.com");
    assert_eq!(users["users"][0]["scim_managed"], true);

    // Duplicate userName, in any case: 409 uniqueness.
    let (status, err) = scim.post("/Users", okta_user("ADA@example.com")).await;
    assert_eq!(status, 409);
    assert_eq!(err["scimType"], "uniqueness");
    assert_eq!(
        err["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );

    // Found by userName in another case; GET by id; unknown id 404.
    let (_, found) = scim
        .get("/Users?filter=userName%20eq%20%22ADA%40EXAMPLE.COM%22")
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(scim.get(&format!("/Users/{id}")).await.0, 200);
    let (status, err) = scim.get("/Users/does-not-exist").await;
    assert_eq!(status, 404);
    assert!(err["detail"].as_str().unwrap().contains("not found"));

    // Full PUT update.
    let mut updated = okta_user("ada@example.com");
    updated["name"]["givenName"] = json!("Augusta");
    let (status, put) = scim.put(&format!("/Users/{id}"), updated).await;
    assert_eq!(status, 200);
    assert_eq!(put["name"]["givenName"], "Augusta");
    assert_eq!(
        api.get("/users").await.1["users"][0]["given_name"],
        "Augusta"
    );

    // Password sync by PATCH.
    let (status, _) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"password": "New-pass-2!"}}]),
        )
        .await;
    assert_eq!(status, 200);

    // Deactivate (Okta: no path): removed from the organization, still answered by SCIM.
    let (status, off) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(off["active"], false);
    assert!(api.get("/users").await.1["users"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(scim.get(&format!("/Users/{id}")).await.1["active"], false);

    // Reactivate: back in.
    let (_, on) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(on["active"], true);
    assert_eq!(
        api.get("/users").await.1["users"].as_array().unwrap().len(),
        1
    );

    // The audit log says which integration did what.
    let (_, audit) = api.get("/audit?kind=scim.user.*").await;
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"scim.user.created")
            && kinds.contains(&"scim.user.deactivated")
            && kinds.contains(&"scim.user.reactivated"),
        "{kinds:?}"
    );
    assert!(audit["events"][0]["actor"]
        .as_str()
        .unwrap()
        .starts_with("scim:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_user_lifecycle_with_its_quirks() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token, scim) = tenant(&gw, &idp, "Contoso").await;
    let api = gw.api(&token);

    // Test Connection.
    let (status, probe) = scim
        .get("/Users?filter=userName+eq+%22c5f2a0a2-0b8e-4cde-9f0c-8a3f0b5e1d10%22")
        .await;
    assert_eq!((status, probe["totalResults"].as_i64()), (200, Some(0)));

    let body = json!({
        "schemas": [USER, ENTERPRISE], "externalId": "ada", "userName": "ada@contoso.com", "active": true,
        "displayName": "Ada Lovelace", "emails": [{"primary": true, "type": "work", "value": "ada@contoso.com"}],
        "meta": {"resourceType": "User"}, "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        "roles": [], (ENTERPRISE): {"employeeNumber": "1", "department": "R&D"}
    });
    let (status, created) = scim.post("/Users", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");

    // One op per attribute, capitalised; filtered path creating a missing element.
    let (status, _) = scim
        .patch(&user, json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@contoso.com"},
            {"op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "2"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "boss-id"}
        ]))
        .await;
    assert_eq!(status, 200);
    let (_, got) = scim.get(&user).await;
    assert_eq!(got["addresses"][0]["postalCode"], "98052");
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "2");
    assert_eq!(got[ENTERPRISE]["manager"], json!({"value": "boss-id"}));

    // aadOptscim062020 form: lowercase ops, no path, dotted keys, real booleans.
    let (status, got) = scim.patch(&user, json!([{"op": "replace", "value": {"name.givenName": "Augusta", "displayName": "Augusta Ada"}}])).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"]["givenName"], "Augusta");

    // Disable with a string boolean.
    let (status, got) = scim
        .patch(
            &user,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["active"], false);
    assert!(api.get("/users").await.1["users"]
        .as_array()
        .unwrap()
        .is_empty());

    // Filters Entra's gallery checks use, and pagination over two pages.
    for i in 0..6 {
        scim.post("/Users", json!({"schemas": [USER], "userName": format!("u{i}@contoso.com"), "externalId": format!("e{i}")})).await;
    }
    let (_, page1) = scim.get("/Users?startIndex=1&count=5").await;
    let (_, page2) = scim.get("/Users?startIndex=6&count=5").await;
    assert_eq!(page1["totalResults"], 7);
    assert_eq!(page1["Resources"].as_array().unwrap().len(), 5);
    assert_eq!(page2["Resources"].as_array().unwrap().len(), 2);
    let (_, by_external) = scim.get("/Users?filter=externalId%20eq%20%22e3%22").await;
    assert_eq!(by_external["Resources"][0]["userName"], "u3@contoso.com");
    let (_, complex) = scim
        .get("/Users?filter=emails%5Btype%20eq%20%22work%22%20and%20value%20co%20%22contoso%22%5D")
        .await;
    assert_eq!(complex["totalResults"], 1);
    let (status, err) = scim.get("/Users?filter=USERNAME").await;
    assert_eq!(status, 400);
    assert_eq!(err["scimType"], "invalidFilter");
    let (_, selected) = scim
        .get("/Users?filter=externalId%20eq%20%22e3%22&attributes=userName")
        .await;
    assert!(selected["Resources"][0].get("externalId").is_none());
    assert!(selected["Resources"][0].get("id").is_some());

    // Hard delete.
    assert_eq!(scim.delete(&user).await.0, 204);
    assert_eq!(scim.get(&user).await.0, 404);
    assert_eq!(scim.delete(&user).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn deprovisioning_across_two_organizations() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token_a, a) = tenant(&gw, &idp, "A").await;
    let (token_b, b) = tenant(&gw, &idp, "B").await;
    let (_, in_a) = a.post("/Users", okta_user("carol@shared.example")).await;
    // Carol's account belongs to A: B's SCIM client may attach it only once
    // B has verified the domain or invited her, and nothing is written before.
    let (status, refused) = b.post("/Users", okta_user("carol@shared.example")).await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused["detail"]
        .as_str()
        .unwrap()
        .contains("another organization"));
    assert_eq!(b.get("/Users").await.1["totalResults"], 0);
    let (_, audit) = gw.api(&token_b).get("/audit?outcome=failure").await;
    assert!(audit["events"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("account_elsewhere"));
    let (status, _) = gw
        .api(&token_b)
        .post("/users", json!({"email": "carol@shared.example"}))
        .await;
    assert_eq!(status, 201);
    let (_, in_b) = b.post("/Users", okta_user("carol@shared.example")).await;
    // Deleting in A detaches: B still has her, same account.
    assert_eq!(
        a.delete(&format!("/Users/{}", in_a["id"].as_str().unwrap()))
            .await
            .0,
        204
    );
    assert!(gw.api(&token_a).get("/users").await.1["users"]
        .as_array()
        .unwrap()
        .is_empty());
    let (_, b_users) = gw.api(&token_b).get("/users").await;
    assert_eq!(b_users["users"].as_array().unwrap().len(), 1);
    let (_, audit) = gw
        .api(&token_a)
        .get("/audit?kind=member.deprovisioned")
        .await;
    assert_eq!(audit["events"][0]["details"]["account"], "detached");
    // Deactivating in B (her last organization) deletes the account.
    b.patch(
        &format!("/Users/{}", in_b["id"].as_str().unwrap()),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    let (_, audit) = gw
        .api(&token_b)
        .get("/audit?kind=member.deprovisioned")
        .await;
    assert_eq!(audit["events"][0]["details"]["account"], "deleted");
    // Provisioning again re-attaches.
    let (status, _) = a.post("/Users", okta_user("carol@shared.example")).await;
    assert_eq!(status, 201);
    assert_eq!(
        gw.api(&token_a).get("/users").await.1["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_errors_discovery_and_races() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, scim) = tenant(&gw, &idp, "Acme").await;
    let wrong = Scim {
        http: gw.http.clone(),
        base: scim.base.clone(),
        token: "sgw_scim_wrong".into(),
    };
    let (status, err) = wrong.get("/Users").await;
    assert_eq!(status, 401);
    assert_eq!(err["status"], "401");
    // The token is checked before the body is read: a stranger's malformed
    // body is a 401, not a 400.
    let res = gw
        .http
        .post(format!("{}/Users", scim.base))
        .bearer_auth("sgw_scim_wrong")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Without a Content-Type, and with a malformed body.
    let res = gw
        .http
        .post(format!("{}/Users", scim.base))
        .bearer_auth(&scim.token)
        .body(okta_user("nct@example.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (status, err) = scim
        .call(
            reqwest::Method::POST,
            "/Users",
            Some(json!("not an object")),
        )
        .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (400, Some("invalidSyntax"))
    );
    let big = json!({"userName": "big@example.com", "x": "y".repeat(2 * 1024 * 1024)});
    assert_eq!(scim.post("/Users", big).await.0, 413);

    // Discovery is there and read-only.
    let (status, config) = scim.get("/ServiceProviderConfig").await;
    assert_eq!(
        (status, config["patch"]["supported"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(scim.get("/Schemas").await.1["totalResults"], 3);
    assert_eq!(
        scim.get("/ResourceTypes").await.1["Resources"][0]["id"],
        "User"
    );
    assert_eq!(scim.post("/ServiceProviderConfig", json!({})).await.0, 405);

    // Every SCIM request is counted by resource, method and outcome.
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("sso_gateway_scim_operations_total{operation=\"POST\",outcome=\"success\",resource=\"Users\"}"), "{metrics}");
    assert!(metrics.contains(
        "sso_gateway_scim_operations_total{operation=\"GET\",outcome=\"401\",resource=\"Users\"}"
    ));
    assert!(metrics.contains("resource=\"ServiceProviderConfig\""));

    // Two POSTs of one userName at once: one 201, one 409.
    let (r1, r2) = tokio::join!(
        scim.post("/Users", okta_user("race@example.com")),
        scim.post("/Users", okta_user("race@example.com"))
    );
    let mut statuses = [r1.0, r2.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_become_teams_with_okta_and_entra_shapes() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token, scim) = tenant(&gw, &idp, "Acme").await;
    let api = gw.api(&token);
    let mut ids = Vec::new();
    for name in ["ann", "bob", "cat"] {
        let (_, u) = scim
            .post("/Users", okta_user(&format!("{name}@example.com")))
            .await;
        ids.push(u["id"].as_str().unwrap().to_string());
    }

    // Okta group push.
    let (status, group) = scim.post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": [{"value": ids[0]}]})).await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    assert_eq!(group["members"][0]["value"], ids[0].as_str());
    let (_, team) = api.get(&format!("/teams/{gid}")).await;
    assert_eq!(
        (team["name"].as_str(), team["member_count"].as_i64()),
        (Some("Engineering"), Some(1))
    );
    assert_eq!(team["scim_id"], gid.as_str());
    assert_eq!(
        scim.post("/Groups", json!({"displayName": "engineering"}))
            .await
            .0,
        409
    );

    // Rename (Okta: value with id + displayName), membership remove + add, full replace.
    let (status, _) = scim
        .patch(
            &path,
            json!([{"op": "replace", "value": {"id": gid, "displayName": "Platform"}}]),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = scim
        .patch(
            &path,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])},
                {"op": "add", "path": "members", "value": [{"value": ids[1]}, {"value": ids[2]}]}
            ]),
        )
        .await;
    assert_eq!(status, 204);
    let (_, got) = scim.get(&path).await;
    assert_eq!(got["displayName"], "Platform");
    let mut members: Vec<&str> = got["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort();
    let mut expected = vec![ids[1].as_str(), ids[2].as_str()];
    expected.sort();
    assert_eq!(members, expected);
    let (status, _) = scim
        .put(
            &path,
            json!({"displayName": "Platform", "members": [{"value": ids[0]}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        scim.get(&path).await.1["members"].as_array().unwrap().len(),
        1
    );

    // Entra: lookup without members, create with its extra schema, member changes with $ref null.
    let (status, none) = scim
        .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Sales%22")
        .await;
    assert_eq!((status, none["totalResults"].as_i64()), (200, Some(0)));
    let (status, sales) = scim
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"], "displayName": "Sales", "externalId": "g-sales", "members": []}))
        .await;
    assert_eq!(status, 201);
    let sales_path = format!("/Groups/{}", sales["id"].as_str().unwrap());
    assert_eq!(
        scim.patch(
            &sales_path,
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": ids[1]}]}])
        )
        .await
        .0,
        204
    );
    assert_eq!(
        scim.patch(
            &sales_path,
            json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}])
        )
        .await
        .0,
        204
    );
    let (_, found) = scim
        .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22sales%20emea%22")
        .await;
    assert_eq!(found["totalResults"], 1);
    assert!(found["Resources"][0].get("members").is_none());
    assert_eq!(found["Resources"][0]["externalId"], "g-sales");
    assert_eq!(
        scim.patch(
            &sales_path,
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": ids[1]}]}])
        )
        .await
        .0,
        204
    );
    assert!(scim.get(&sales_path).await.1["members"]
        .as_array()
        .unwrap()
        .is_empty());
    let (status, err) = scim
        .patch(
            &sales_path,
            json!([{"op": "Add", "path": "members", "value": [{"value": "nobody"}]}]),
        )
        .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (400, Some("invalidValue"))
    );

    // Group DELETE: gone for SCIM and members at once, restorable by the admin.
    assert_eq!(scim.delete(&path).await.0, 204);
    assert_eq!(scim.get(&path).await.0, 404);
    assert!(api.get("/teams").await.1["teams"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["id"] != gid.as_str()));
    let (status, restored) = api.post(&format!("/teams/{gid}/restore"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(restored["member_count"], 1);
    assert_eq!(
        scim.get(&path).await.0,
        200,
        "a restored team is a group again"
    );
}

/// A group write moves only the members it adds or removes: someone an
/// admin put in the team stays while the group does not name them, and an
/// account two of the group's SCIM users share leaves with the last one.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_change_moves_only_the_members_it_names() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token, scim) = tenant(&gw, &idp, "Acme").await;
    let api = gw.api(&token);
    let (status, group) = scim
        .post("/Groups", json!({"displayName": "Platform", "members": []}))
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    // Dan is invited into the team by an admin, then provisioned by SCIM.
    let (status, body) = api
        .post(
            "/users",
            json!({"email": "dan@example.com", "teams": [gid]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut ids = Vec::new();
    for (user_name, email) in [
        ("dan", "dan@example.com"),
        ("ann-laptop", "ann@example.com"),
        ("ann-phone", "ann@example.com"),
    ] {
        let mut user = okta_user(email);
        user["userName"] = json!(user_name);
        let (status, created) = scim.post("/Users", user).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let (dan, laptop, phone) = (&ids[0], &ids[1], &ids[2]);
    let team_size = || async { api.get(&format!("/teams/{gid}")).await.1["member_count"].clone() };
    let patch = |ops: Value| {
        let (scim, path) = (&scim, &path);
        async move {
            let (status, body) = scim.patch(path, ops).await;
            assert_eq!(status, 204, "{body}");
        }
    };
    assert_eq!(team_size().await, 1, "Dan, by the admin");

    patch(
        json!([{"op": "Add", "path": "members", "value": [{"value": laptop}, {"value": phone}]}]),
    )
    .await;
    assert_eq!(team_size().await, 2, "Dan and Ann");
    patch(json!([{"op": "Remove", "path": format!("members[value eq \"{laptop}\"]")}])).await;
    assert_eq!(
        team_size().await,
        2,
        "Ann is still listed through her phone"
    );
    patch(json!([{"op": "Replace", "path": "displayName", "value": "Platform EMEA"}])).await;
    assert_eq!(team_size().await, 2, "a rename moves nobody");
    patch(json!([{"op": "Remove", "path": format!("members[value eq \"{phone}\"]")}])).await;
    assert_eq!(
        team_size().await,
        1,
        "Ann left with her last SCIM user; Dan stays"
    );

    // Once the group names Dan, he leaves with it.
    patch(json!([{"op": "Add", "path": "members", "value": [{"value": dan}]}])).await;
    let (status, _) = scim
        .put(
            &path,
            json!({"displayName": "Platform EMEA", "members": [{"value": laptop}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(team_size().await, 1, "only Ann, through her laptop");
    let listed: Vec<Value> = scim.get(&path).await.1["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["value"].clone())
        .collect();
    assert_eq!(listed, [json!(laptop)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_tenant_is_rate_limited_with_retry_after() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start_with(&[("SSO_GATEWAY__SCIM__RATE_LIMIT_PER_MINUTE", "3")]).await;
    let (_, a) = tenant(&gw, &idp, "A").await;
    let (_, b) = tenant(&gw, &idp, "B").await;
    for _ in 0..3 {
        assert_eq!(a.get("/Users").await.0, 200);
    }
    let res = gw
        .http
        .get(format!("{}/Users", a.base))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "429");
    assert_eq!(
        b.get("/Users").await.0,
        200,
        "another tenant is not affected"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_organization_cannot_rename_anothers_people() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token_a, a) = tenant(&gw, &idp, "A").await;
    let (token_b, b) = tenant(&gw, &idp, "B").await;
    a.post("/Users", okta_user("bob@shared.example")).await;
    let mut mallory = okta_user("bob@shared.example");
    mallory["name"]["givenName"] = json!("Mallory");
    // Bob's account is A's: B cannot provision it at all ...
    assert_eq!(b.post("/Users", mallory.clone()).await.0, 403);
    // ... and once B's admin invites him, B's write still renames nothing.
    let (status, _) = gw
        .api(&token_b)
        .post("/users", json!({"email": "bob@shared.example"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(b.post("/Users", mallory).await.0, 201);
    let (_, users) = gw.api(&token_a).get("/users").await;
    assert_eq!(
        users["users"][0]["given_name"], "Ada",
        "B's write did not rename A's member"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_belong_to_the_integration_that_pushed_them() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token, a) = tenant(&gw, &idp, "Acme").await;
    let api = gw.api(&token);
    // A second integration of the same organization, and an admin-made team.
    let second = api.connect_okta(&idp).await;
    let (_, creds) = api
        .post(
            &format!(
                "/integrations/{}/provisioning",
                second["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    let b = Scim {
        http: gw.http.clone(),
        base: creds["tenant_url"].as_str().unwrap().to_string(),
        token: creds["token"].as_str().unwrap().to_string(),
    };
    let admin_team = api.add_team("Leadership", &["example.com"]).await;

    let (_, group) = a
        .post("/Groups", json!({"displayName": "Eng", "members": []}))
        .await;
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());
    assert_eq!(
        b.get(&path).await.0,
        404,
        "another integration does not see it"
    );
    assert_eq!(b.delete(&path).await.0, 404);
    assert_eq!(b.get("/Groups").await.1["totalResults"], 0);
    assert_eq!(
        a.get("/Groups").await.1["totalResults"],
        1,
        "admin-made teams are not SCIM groups"
    );
    assert_eq!(
        a.get(&format!("/Groups/{}", admin_team["id"].as_str().unwrap()))
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_patches_of_one_user_lose_nothing() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, scim) = tenant(&gw, &idp, "Acme").await;
    let (_, user) = scim.post("/Users", okta_user("pat@example.com")).await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let patches = (0..4).map(|i| {
        let (scim, path) = (&scim, path.clone());
        async move { scim.patch(&path, json!([{"op": "add", "path": "phoneNumbers", "value": [{"type": "work", "value": format!("+1555000{i}")}]}])).await.0 }
    });
    let statuses = futures_util::future::join_all(patches).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, got) = scim.get(&path).await;
    assert_eq!(got["phoneNumbers"].as_array().unwrap().len(), 4, "{got}");
}

/// Entra sends a group's member PATCHes from several workers at once: each
/// one's members are added to what the others added, none written over.
/// On PostgreSQL + Redis the PATCHes are spread over two instances.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_member_patches_of_one_group_lose_nothing() {
    let idp = TestIdp::start("x@example.com").await;
    let a = Gateway::start().await;
    let (admin_token, on_a) = tenant(&a, &idp, "Acme").await;
    let api = a.api(&admin_token);
    let twin = match common::shared_backends() {
        true => Some(a.start_twin().await),
        false => None,
    };
    let on_b = Scim {
        http: on_a.http.clone(),
        base: match &twin {
            Some(b) => on_a.base.replace(&a.base, &b.base),
            None => on_a.base.clone(),
        },
        token: on_a.token.clone(),
    };
    let (_, group) = on_a
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Racers", "members": []}))
        .await;
    let path = format!("/Groups/{}", group["id"].as_str().unwrap());
    let mut ids = Vec::new();
    for i in 0..24 {
        let (status, user) = on_a
            .post("/Users", okta_user(&format!("racer{i:02}@example.com")))
            .await;
        assert_eq!(status, 201, "{user}");
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    // Three rounds of 8 PATCHes at once: adds of different members must
    // all land.
    for round in ids.chunks(8) {
        let patches = round.iter().enumerate().map(|(k, id)| {
            let (scim, path) = (if k % 2 == 0 { &on_a } else { &on_b }, path.clone());
            async move {
                scim.patch(
                    &path,
                    json!([{"op": "Add", "path": "members", "value": [{"value": id}]}]),
                )
                .await
                .0
            }
        });
        let statuses = futures_util::future::join_all(patches).await;
        assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    }
    let (_, got) = on_a.get(&path).await;
    let mut members: Vec<&str> = got["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort_unstable();
    let mut wanted: Vec<&str> = ids.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    assert_eq!(members, wanted, "{got}");
    let team = format!("/teams/{}", group["id"].as_str().unwrap());
    assert_eq!(api.get(&team).await.1["member_count"], 24);
    // Removals at once also all land, in the group and in the team.
    let removals = ids[..8].iter().enumerate().map(|(k, id)| {
        let (scim, path) = (if k % 2 == 0 { &on_a } else { &on_b }, path.clone());
        async move {
            let filter = format!("members[value eq \"{id}\"]");
            scim.patch(&path, json!([{"op": "Remove", "path": filter}]))
                .await
                .0
        }
    });
    let statuses = futures_util::future::join_all(removals).await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let (_, got) = on_a.get(&path).await;
    assert_eq!(got["members"].as_array().unwrap().len(), 16, "{got}");
    assert_eq!(api.get(&team).await.1["member_count"], 16);
}

/// PostgreSQL + Redis only (suite 2 of scripts/test.sh): an IdP whose
/// requests a load balancer spreads over two instances, sending every
/// create twice at once (a retry racing the original), gets each user and
/// group exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_scim_on_two_instances_never_duplicates() {
    if !common::shared_backends() {
        eprintln!("skipped: needs SSO_GATEWAY_TEST_POSTGRES_URL and SSO_GATEWAY_TEST_REDIS_URL (run scripts/test.sh)");
        return;
    }
    let idp = TestIdp::start("ada@example.com").await;
    let a = Gateway::start().await;
    let b = a.start_twin().await;
    let (_, on_a) = tenant(&a, &idp, "Acme").await;
    let on_b = std::sync::Arc::new(Scim {
        http: b.http.clone(),
        base: on_a.base.replace(&a.base, &b.base),
        token: on_a.token.clone(),
    });
    let on_a = std::sync::Arc::new(on_a);
    let users = 60;
    let mut racing = Vec::new();
    for i in 0..users {
        for scim in [on_a.clone(), on_b.clone()] {
            racing.push(tokio::spawn(async move {
                let email = format!("twin{i:02}@example.com");
                scim.post(
                    "/Users",
                    json!({"schemas": [USER], "userName": email, "active": true,
                    "name": {"givenName": "Twin", "familyName": format!("{i}")},
                    "emails": [{"primary": true, "type": "work", "value": email}]}),
                )
                .await
                .0
            }));
        }
    }
    for g in 0..10 {
        for scim in [on_a.clone(), on_b.clone()] {
            racing.push(tokio::spawn(async move {
                scim.post(
                    "/Groups",
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": format!("Team {g}"), "members": []}),
                )
                .await
                .0
            }));
        }
    }
    let mut statuses = Vec::new();
    for r in racing {
        statuses.push(r.await.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!(
        (created, conflicts),
        (users + 10, users + 10),
        "{statuses:?}"
    );
    for scim in [&on_a, &on_b] {
        let (_, list) = scim.get("/Users?count=500").await;
        assert_eq!(list["totalResults"], users);
        let (_, groups) = scim.get("/Groups?count=500").await;
        assert_eq!(groups["totalResults"], 10);
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/scim/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The paths of `object`'s attributes that `attributes` (a served schema's
/// list) does not declare, sub-attributes included.
fn undeclared(object: &Value, attributes: &Value, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in object.as_object().unwrap() {
        let path = format!("{prefix}{key}");
        let Some(declared) = attributes
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"].as_str().unwrap().eq_ignore_ascii_case(key))
        else {
            out.push(path);
            continue;
        };
        let values = match value {
            Value::Array(items) => items.clone(),
            single => vec![single.clone()],
        };
        for v in values.iter().filter(|v| v.is_object()) {
            out.extend(undeclared(
                v,
                &declared["subAttributes"],
                &format!("{path}."),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn schemas_declare_everything_a_user_or_group_carries() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, scim) = tenant(&gw, &idp, "Acme").await;
    let (_, ada) = scim.post("/Users", fixture("user-ada.json")).await;
    let (_, grace) = scim.post("/Users", fixture("user-grace.json")).await;
    let mut group = fixture("group-engineering.json");
    group["members"] = json!([{"value": ada["id"]}, {"value": grace["id"]}]);
    assert_eq!(scim.post("/Groups", group).await.0, 201);

    let (status, schemas) = scim.get("/Schemas").await;
    assert_eq!(status, 200);
    let schema = |id: &str| {
        schemas["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["attributes"]
            .clone()
    };
    let (user, enterprise) = (schema(USER), schema(ENTERPRISE));
    let groups = user
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "groups")
        .expect("User declares groups");
    assert_eq!(groups["mutability"], "readOnly");
    assert_eq!(groups["multiValued"], true);
    assert_eq!(groups["type"], "complex");
    let subs: Vec<&str> = groups["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["value", "$ref", "display", "type"]);

    let (_, users) = scim.get("/Users").await;
    for mut u in users["Resources"].as_array().unwrap().clone() {
        let extension = u.as_object_mut().unwrap().remove(ENTERPRISE);
        for common in ["id", "meta", "schemas"] {
            u.as_object_mut().unwrap().remove(common);
        }
        assert_eq!(undeclared(&u, &user, ""), Vec::<String>::new(), "{u}");
        if let Some(extension) = extension {
            assert_eq!(
                undeclared(&extension, &enterprise, ""),
                Vec::<String>::new()
            );
        }
    }
    let (_, groups) = scim.get("/Groups").await;
    let group_schema = schema("urn:ietf:params:scim:schemas:core:2.0:Group");
    for mut g in groups["Resources"].as_array().unwrap().clone() {
        for common in ["id", "meta", "schemas"] {
            g.as_object_mut().unwrap().remove(common);
        }
        assert_eq!(
            undeclared(&g, &group_schema, ""),
            Vec::<String>::new(),
            "{g}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_group_is_located() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, scim) = tenant(&gw, &idp, "Acme").await;
    let res = gw
        .http
        .post(format!("{}/Groups", scim.base))
        .bearer_auth(&scim.token)
        .json(&json!({"displayName": "Eng", "members": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res
        .headers()
        .get("location")
        .expect("RFC 7644 §3.3: Location on 201")
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = res.json().await.unwrap();
    assert_eq!(location, body["meta"]["location"].as_str().unwrap());
    let path = location.strip_prefix(&scim.base).unwrap();
    assert_eq!(scim.get(path).await.1["displayName"], "Eng");
}

#[tokio::test(flavor = "multi_thread")]
async fn attributes_the_schema_does_not_know_are_dropped() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, scim) = tenant(&gw, &idp, "Acme").await;
    // What Okta and Entra send is accepted; what is undeclared is not kept.
    let (status, ada) = scim.post("/Users", fixture("user-ada.json")).await;
    assert_eq!(status, 201, "{ada}");
    assert!(ada.get("groups").is_none(), "groups is read-only: {ada}");
    assert_eq!(ada["locale"], "en-GB");
    let (status, grace) = scim.post("/Users", fixture("user-grace.json")).await;
    assert_eq!(status, 201, "{grace}");
    assert_eq!(grace["roles"], json!([]));
    assert_eq!(grace[ENTERPRISE]["manager"], json!({"value": "E-0001"}));
    let id = grace["id"].as_str().unwrap().to_string();

    let mut misspelt = fixture("user-grace.json");
    misspelt["adreses"] = json!([{"locality": "Arlington"}]);
    misspelt["emails"][0]["primery"] = json!(true);
    misspelt[ENTERPRISE]["departmnet"] = json!("Computing");
    let (status, put) = scim.put(&format!("/Users/{id}"), misspelt).await;
    assert_eq!(status, 200, "{put}");
    let (_, got) = scim.get(&format!("/Users/{id}")).await;
    for body in [&put, &got] {
        assert!(body.get("adreses").is_none(), "{body}");
        assert!(body["emails"][0].get("primery").is_none(), "{body}");
        assert!(body[ENTERPRISE].get("departmnet").is_none(), "{body}");
        assert_eq!(body["addresses"][0]["locality"], "Arlington");
    }
    let (status, patched) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "add", "value": {"nickname": "Amazing Grace", "favouriteColour": "blue"}}]),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["nickname"], "Amazing Grace");
    assert!(patched.get("favouriteColour").is_none(), "{patched}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_strings_are_refused_and_nothing_is_written() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, scim) = tenant(&gw, &idp, "Acme").await;
    let long = |n: usize| "x".repeat(n);
    let refused = |body: &Value, attribute: &str| {
        assert_eq!(body["status"], "400", "{body}");
        assert_eq!(body["scimType"], "invalidValue", "{body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with(attribute),
            "{attribute}: {body}"
        );
    };
    let mut user = okta_user("ada@example.com");
    user["userName"] = json!(format!("{}@example.com", long(5_000)));
    let (status, body) = scim.post("/Users", user).await;
    assert_eq!(status, 400);
    refused(&body, "userName");
    assert_eq!(
        scim.get("/Users").await.1["totalResults"],
        0,
        "nothing half-written"
    );

    let (_, grace) = scim.post("/Users", fixture("user-grace.json")).await;
    let id = grace["id"].as_str().unwrap().to_string();
    for (path, value, attribute) in [
        (
            "/emails/0/value",
            json!(format!("{}@example.com", long(400))),
            "emails.value",
        ),
        ("/title", json!(long(1_025)), "title"),
        ("/name/givenName", json!(long(201)), "name.givenName"),
        ("/externalId", json!(long(513)), "externalId"),
        (
            "/phoneNumbers/0/value",
            json!(long(1_025)),
            "phoneNumbers.value",
        ),
        (
            "/addresses/0/streetAddress",
            json!(long(1_025)),
            "addresses.streetAddress",
        ),
        (
            &format!("/{ENTERPRISE}/department"),
            json!(long(1_025)),
            &format!("{ENTERPRISE}:department"),
        ),
    ] {
        let mut put = fixture("user-grace.json");
        *put.pointer_mut(path).unwrap() = value;
        let (status, body) = scim.put(&format!("/Users/{id}"), put).await;
        assert_eq!(status, 400, "{path}");
        refused(&body, attribute);
    }
    let (status, body) = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "displayName", "value": long(201)}]),
        )
        .await;
    assert_eq!(status, 400);
    refused(&body, "displayName");
    let (_, got) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(got["displayName"], "Grace Hopper", "nothing half-written");
    assert_eq!(got["meta"]["version"], grace["meta"]["version"]);

    let (status, body) = scim
        .post(
            "/Groups",
            json!({"displayName": "Eng", "externalId": long(513)}),
        )
        .await;
    assert_eq!(status, 400);
    refused(&body, "externalId");
    let (status, body) = scim
        .post("/Groups", json!({"displayName": long(201)}))
        .await;
    assert_eq!(status, 400);
    refused(&body, "displayName");
    assert_eq!(scim.get("/Groups").await.1["totalResults"], 0);
}

/// The audit log's refusals of creates whose account belongs to another
/// organization.
async fn account_elsewhere_refusals(gw: &Gateway, token: &str) -> Vec<Value> {
    let (_, refusals) = gw.api(token).get("/audit?outcome=failure").await;
    refusals["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("account_elsewhere"))
        })
        .cloned()
        .collect()
}

/// Concurrent SCIM writes are group-committed (one transaction, a savepoint
/// each): the bad users among them fail alone, each with its own SCIM
/// error, the others land, and the event stream holds every committed
/// change exactly once, in commit order (a user's removal after its
/// addition), and nothing of the failed ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_committed_batch_fails_only_its_bad_users() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, a) = tenant(&gw, &idp, "A").await;
    let (token, b) = tenant(&gw, &idp, "B").await;
    // Carol's account belongs to A: B may not attach it.
    assert_eq!(
        a.post("/Users", okta_user("carol@shared.example")).await.0,
        201
    );
    let start = cursor(&gw, &token).await;

    let b = std::sync::Arc::new(b);
    let good = 40;
    let mut emails: Vec<String> = (0..good)
        .map(|i| format!("batch{i:02}@example.com"))
        .collect();
    emails.extend(["dup@example.com"; 4].map(String::from));
    emails.extend(["carol@shared.example"; 2].map(String::from));
    emails.push("bad@".into());
    let tasks: Vec<_> = emails
        .iter()
        .cloned()
        .map(|email| {
            let b = b.clone();
            tokio::spawn(async move {
                let (status, body) = b.post("/Users", okta_user(&email)).await;
                // The good ones are deactivated at once: a second change
                // whose events must follow the first's.
                if status == 201 && email.starts_with("batch") {
                    let path = format!("/Users/{}", body["id"].as_str().unwrap());
                    let (patched, _) = b
                        .patch(
                            &path,
                            json!([{"op": "replace", "value": {"active": false}}]),
                        )
                        .await;
                    assert_eq!(patched, 200);
                }
                (email, status, body)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    for (email, status, body) in &outcomes {
        match email.as_str() {
            "dup@example.com" if *status == 409 => assert_eq!(body["scimType"], "uniqueness"),
            "dup@example.com" => assert_eq!(*status, 201, "{body}"),
            "carol@shared.example" => {
                assert_eq!(*status, 403, "{body}");
                assert!(body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("another organization"));
            }
            "bad@" => {
                assert_eq!(*status, 400, "{body}");
                assert_eq!(body["scimType"], "invalidValue", "{body}");
            }
            _ => assert_eq!(*status, 201, "{email}: {body}"),
        }
    }
    let dups = outcomes
        .iter()
        .filter(|(e, s, _)| e == "dup@example.com" && *s == 201);
    assert_eq!(dups.count(), 1);
    assert_eq!(b.get("/Users?count=500").await.1["totalResults"], good + 1);
    assert_eq!(account_elsewhere_refusals(&gw, &token).await.len(), 2);

    let (events, _) = walk(&gw, &token, &start, 1000).await;
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");
    let position = |kind: &str, email: &str| {
        let at: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e["type"] == kind && e["data"]["email"] == email)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 1, "{kind} for {email}: {events:#?}");
        at[0]
    };
    for email in &emails[..good] {
        assert!(position("member.added", email) < position("member.removed", email));
    }
    position("member.added", "dup@example.com");
    assert_eq!(events.len(), 2 * good + 1, "{events:#?}");
}

/// Concurrent creates are written together (a few multi-row statements for
/// the batch): each still gets the outcome it would alone. A userName
/// repeated inside the batch lands once (the rest 409), one an earlier
/// batch took is 409, a foreign-owned account 403, an invalid body 400;
/// the inactive, the email-less and the one whose account exists already
/// land; every landed create has its audit row and its one `member.added`
/// (none for the inactive or email-less), in commit order.
#[tokio::test(flavor = "multi_thread")]
async fn creates_written_together_keep_each_ones_outcome() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (_, a) = tenant(&gw, &idp, "A").await;
    let (token, b) = tenant(&gw, &idp, "B").await;
    assert_eq!(
        a.post("/Users", okta_user("carol@shared.example")).await.0,
        201
    );
    assert_eq!(
        b.post("/Users", entra("taken", "taken@example.com", true))
            .await
            .0,
        201
    );
    assert_eq!(
        b.post("/Users", entra("early", "same@example.com", true))
            .await
            .0,
        201
    );
    let start = cursor(&gw, &token).await;
    let (_, audit) = gw
        .api(&token)
        .get("/audit?kind=scim.user.created&outcome=success&limit=500")
        .await;
    let audited_before = audit["events"].as_array().unwrap().len();

    let good = 30;
    let mut bodies: Vec<(&str, Value)> = (0..good)
        .map(|i| {
            (
                "good",
                entra(&format!("u{i:02}"), &format!("u{i:02}@example.com"), true),
            )
        })
        .collect();
    bodies.extend((0..3).map(|i| ("twin", entra("Twin", &format!("twin{i}@example.com"), true))));
    bodies.push(("taken", entra("TAKEN", "other@example.com", true)));
    bodies.push(("foreign", entra("carol", "carol@shared.example", true)));
    bodies.push(("invalid", entra("broken", "broken@", true)));
    bodies.push(("inactive", entra("sleeper", "sleeper@example.com", false)));
    bodies.push((
        "no email",
        json!({"schemas": [USER], "userName": "no-email", "active": true}),
    ));
    bodies.push(("same account", entra("late", "same@example.com", true)));
    let b = std::sync::Arc::new(b);
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|(what, body)| {
            let b = b.clone();
            tokio::spawn(async move {
                let (status, answer) = b.post("/Users", body.clone()).await;
                (what, body, status, answer)
            })
        })
        .collect();
    let mut landed = Vec::new();
    let mut twins = 0;
    for task in tasks {
        let (what, body, status, answer) = task.await.unwrap();
        let expected = match what {
            "twin" if status == 201 => 201,
            "twin" | "taken" => {
                assert_eq!(answer["scimType"], "uniqueness", "{answer}");
                409
            }
            "foreign" => 403,
            "invalid" => {
                assert_eq!(answer["scimType"], "invalidValue", "{answer}");
                400
            }
            _ => 201,
        };
        assert_eq!(status, expected, "{what}: {answer}");
        if status == 201 {
            twins += usize::from(what == "twin");
            landed.push((
                what,
                body["emails"][0]["value"].as_str().map(str::to_string),
            ));
        }
    }
    assert_eq!(twins, 1, "the repeated userName lands once");
    // Before: taken, early; now: the good ones, one twin, inactive, no
    // email, same account.
    assert_eq!(
        b.get("/Users?count=500").await.1["totalResults"],
        2 + good + 4
    );
    let (_, audit) = gw
        .api(&token)
        .get("/audit?kind=scim.user.created&outcome=success&limit=500")
        .await;
    let audited = audit["events"].as_array().unwrap().len() - audited_before;
    assert_eq!(audited, landed.len(), "one audit row per landed create");
    let refusals = account_elsewhere_refusals(&gw, &token).await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");

    let (events, _) = walk(&gw, &token, &start, 1000).await;
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");
    // The existing account only has its names refreshed.
    let (added, updated): (Vec<&Value>, Vec<&Value>) =
        events.iter().partition(|e| e["type"] == "member.added");
    assert!(
        updated
            .iter()
            .all(|e| e["type"] == "member.updated" && e["data"]["email"] == "same@example.com"),
        "{events:#?}"
    );
    let mut added: Vec<&str> = added
        .iter()
        .map(|e| e["data"]["email"].as_str().unwrap())
        .collect();
    added.sort_unstable();
    let mut expected: Vec<&str> = landed
        .iter()
        .filter(|(what, _)| matches!(*what, "good" | "twin"))
        .filter_map(|(_, email)| email.as_deref())
        .collect();
    expected.sort_unstable();
    assert_eq!(
        added, expected,
        "one member.added per new member, nothing else"
    );
}

/// Entra's create body.
fn entra(user_name: &str, email: &str, active: bool) -> Value {
    json!({
        "schemas": [USER], "externalId": user_name, "userName": user_name, "active": active,
        "displayName": user_name, "emails": [{"primary": true, "type": "work", "value": email}],
        "name": {"givenName": user_name, "familyName": "Test"}
    })
}
