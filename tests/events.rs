//! End-to-end over HTTP: the lifecycle event stream (`GET /api/v1/events`)
//! as the Okta and Entra SCIM flows and the admin API drive it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::events::{cursor, walk};
use common::idp::TestIdp;
use common::scim::{tenant, USER};
use common::Gateway;
use serde_json::{json, Value};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// Nothing secret ever rides in an event: no token, no password, no key.
fn assert_no_secrets(events: &[Value], secrets: &[&str]) {
    let text = serde_json::to_string(events).unwrap();
    for secret in secrets {
        assert!(!text.contains(secret), "an event carries a secret");
    }
    for word in ["password", "token", "secret", "Sync-me"] {
        assert!(!text.contains(word), "an event mentions {word:?}: {text}");
    }
}

fn okta_user(email: &str) -> Value {
    json!({
        "schemas": [USER], "userName": email, "externalId": "00u1abc",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Ada Lovelace", "active": true, "password": "Sync-me-1!"
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_okta_flow_tells_the_product_everything_in_order() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token, scim) = tenant(&gw, &idp, "Acme").await;
    let org_id = gw.api(&token).get("/organization").await.1["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Connecting and turning provisioning on are events too.
    let (setup, start) = walk(&gw, &token, "evt_0000000000000000", 100).await;
    assert_eq!(
        types(&setup),
        ["integration.created", "provisioning.enabled"]
    );
    assert_eq!(setup[0]["data"]["kind"], "okta");
    assert_eq!(setup[0]["organization_id"], org_id.as_str());

    let (_, ada) = scim.post("/Users", okta_user("ada@example.com")).await;
    let ada_id = ada["id"].as_str().unwrap().to_string();
    let (_, bob) = scim.post("/Users", okta_user("bob@example.com")).await;
    let bob_id = bob["id"].as_str().unwrap().to_string();
    let (status, group) = scim
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": ada_id}]}),
        )
        .await;
    assert_eq!(status, 201);
    let gid = group["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    // Okta's rename, then a member swap.
    scim.patch(
        &path,
        json!([{"op": "replace", "value": {"id": gid, "displayName": "Platform"}}]),
    )
    .await;
    scim.patch(
        &path,
        json!([
            {"op": "remove", "path": format!("members[value eq \"{ada_id}\"]")},
            {"op": "add", "path": "members", "value": [{"value": bob_id}]}
        ]),
    )
    .await;
    // The same rename again changes nothing: no event.
    scim.patch(
        &path,
        json!([{"op": "replace", "value": {"id": gid, "displayName": "Platform"}}]),
    )
    .await;
    // Deactivate Bob (in the team), reactivate him, then delete Ada; the
    // group is deprovisioned last.
    let bob_path = format!("/Users/{bob_id}");
    scim.patch(
        &bob_path,
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    scim.patch(
        &bob_path,
        json!([{"op": "replace", "value": {"active": true}}]),
    )
    .await;
    assert_eq!(scim.delete(&format!("/Users/{ada_id}")).await.0, 204);
    assert_eq!(scim.delete(&path).await.0, 204);

    let (events, _) = walk(&gw, &token, &start, 3).await;
    assert_eq!(
        types(&events),
        [
            "member.added",
            "member.added",
            "team.created",
            "team.member_added",
            "team.updated",
            "team.member_added",
            "team.member_removed",
            "team.member_removed",
            "member.removed",
            "member.added",
            "team.member_added",
            "member.removed",
            "team.deleted",
        ],
        "{events:#?}"
    );
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");

    let ada_added = &events[0]["data"];
    assert_eq!(ada_added["email"], "ada@example.com");
    assert_eq!(
        (
            ada_added["given_name"].as_str(),
            ada_added["family_name"].as_str()
        ),
        (Some("Ada"), Some("Lovelace"))
    );
    assert_eq!(ada_added["source"], "scim");
    assert_eq!(ada_added["role"], "member");
    let team = &events[2]["data"];
    assert_eq!(team["id"], gid.as_str());
    assert_eq!(team["scim_id"], gid.as_str());
    assert_eq!(team["name"], "Engineering");
    assert_eq!(events[4]["data"]["name"], "Platform");
    assert_eq!(events[5]["data"]["member"]["email"], "bob@example.com");
    assert_eq!(events[6]["data"]["member"]["email"], "ada@example.com");
    // Deactivation: Bob leaves the team, then the organization; his account
    // was his only membership, so it went too.
    assert_eq!(events[7]["data"]["member"]["email"], "bob@example.com");
    assert_eq!(events[8]["data"]["reason"], "scim_deactivated");
    assert_eq!(events[8]["data"]["account_deleted"], true);
    // Reactivation brings him back into the group's team.
    assert_eq!(events[10]["data"]["team"]["id"], gid.as_str());
    assert_eq!(events[11]["data"]["email"], "ada@example.com");
    assert_eq!(events[11]["data"]["reason"], "scim_deleted");
    assert_eq!(events[12]["data"]["id"], gid.as_str());
    for e in &events {
        assert_eq!(e["organization_id"], org_id.as_str());
        let at = e["occurred_at"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }
    assert_no_secrets(&events, &[&scim.token, &token]);
    assert_no_secrets(&setup, &[&scim.token, &token]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_entra_flow_with_its_quirks() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token, scim) = tenant(&gw, &idp, "Contoso").await;
    let start = cursor(&gw, &token).await;

    // Entra: enterprise user, then a group whose members are added by PATCH.
    let (status, user) = scim
        .post(
            "/Users",
            json!({
                "schemas": [USER], "externalId": "e-1", "userName": "ada@contoso.com", "active": true,
                "emails": [{"primary": true, "type": "work", "value": "ada@contoso.com"}],
                "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
                "displayName": "Ada Lovelace"
            }),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let uid = user["id"].as_str().unwrap().to_string();
    let (_, group) = scim
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "externalId": "g-1", "displayName": "Sales", "members": []}),
        )
        .await;
    let gid = group["id"].as_str().unwrap().to_string();
    scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Add", "path": "members", "value": [{"value": uid}]}]),
    )
    .await;
    // Entra renames the person with a path-less Replace, then soft-deletes
    // with the string "False".
    scim.patch(
        &format!("/Users/{uid}"),
        json!([{"op": "Replace", "path": "name.givenName", "value": "Augusta"}]),
    )
    .await;
    scim.patch(
        &format!("/Users/{uid}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;

    let (events, _) = walk(&gw, &token, &start, 100).await;
    assert_eq!(
        types(&events),
        [
            "member.added",
            "team.created",
            "team.member_added",
            "member.updated",
            "team.member_removed",
            "member.removed"
        ],
        "{events:#?}"
    );
    assert_eq!(events[1]["data"]["external_id"], "g-1");
    assert_eq!(events[3]["data"]["given_name"], "Augusta");
    assert_eq!(events[5]["data"]["reason"], "scim_deactivated");
    assert_no_secrets(&events, &[&scim.token, &token]);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_changes_emit_nothing() {
    let idp = TestIdp::start("x@example.com").await;
    let gw = Gateway::start().await;
    let (token, scim) = tenant(&gw, &idp, "Acme").await;
    let api = gw.api(&token);
    assert_eq!(api.post("/teams", json!({"name": "Eng"})).await.0, 201);
    let start = cursor(&gw, &token).await;

    assert_eq!(api.post("/teams", json!({"name": "eng"})).await.0, 409);
    assert_eq!(
        api.post(
            "/teams",
            json!({"name": "x", "preapproved_domains": ["not a domain"]})
        )
        .await
        .0,
        422
    );
    let (status, _) = scim.post("/Users", okta_user("ada@example.com")).await;
    assert_eq!(status, 201);
    let after_user = cursor(&gw, &token).await;
    assert_eq!(
        scim.post("/Users", okta_user("ADA@example.com")).await.0,
        409
    );
    let oversized = okta_user(&format!("{}@example.com", "a".repeat(400)));
    assert_eq!(scim.post("/Users", oversized).await.0, 400);

    let (events, _) = walk(&gw, &token, &start, 100).await;
    assert_eq!(
        types(&events),
        ["member.added"],
        "only the change that happened"
    );
    assert_eq!(cursor(&gw, &token).await, after_user);
}

/// Paging with the cursor while two instances write: every event is seen
/// once, in order, with no gap — also on PostgreSQL, where transactions
/// commit in parallel.
#[tokio::test(flavor = "multi_thread")]
async fn cursor_paging_sees_every_event_once_while_writes_go_on() {
    let gw = Gateway::start().await;
    let twin = gw.start_twin().await;
    let (_, key) = gw.create_api_key("Product");
    let (_, token) = gw.create_org("Acme");
    let start = cursor(&gw, &key).await;

    let writers: Vec<_> = [&gw, &twin]
        .into_iter()
        .enumerate()
        .map(|(n, g)| {
            let api_http = g.http.clone();
            let url = g.url("/api/v1/teams");
            let token = token.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let res = api_http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"name": format!("team-{n}-{i}")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status().as_u16(), 201);
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut at = start.clone();
    while !writers.iter().all(|w| w.is_finished()) {
        let (batch, next) = walk(&gw, &key, &at, 4).await;
        seen.extend(batch);
        at = next;
    }
    for w in writers {
        w.await.unwrap();
    }
    let (rest, _) = walk(&twin, &key, &at, 4).await;
    seen.extend(rest);

    let ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 50, "each team.created once");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
    let (all, _) = walk(&gw, &key, &start, 1000).await;
    assert_eq!(all, seen, "nothing skipped");
    let mut names: Vec<&str> = seen
        .iter()
        .map(|e| e["data"]["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_organization_reads_only_its_own_events() {
    let gw = Gateway::start().await;
    let (_, key) = gw.create_api_key("Product");
    let (a_id, a) = gw.create_org("A");
    let (b_id, b) = gw.create_org("B");
    let start = cursor(&gw, &key).await;
    gw.api(&a).post("/teams", json!({"name": "A-team"})).await;
    gw.api(&b).post("/teams", json!({"name": "B-team"})).await;

    let names = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["data"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&walk(&gw, &a, &start, 10).await.0), ["A-team"]);
    assert_eq!(names(&walk(&gw, &b, &start, 10).await.0), ["B-team"]);
    assert_eq!(
        names(&walk(&gw, &key, &start, 10).await.0),
        ["A-team", "B-team"]
    );
    let (status, only_b) = gw
        .api(&key)
        .get(&format!("/events?after={start}&organization_id={b_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(only_b["events"].as_array().unwrap()), ["B-team"]);

    // An admin token naming another organization learns nothing about it.
    let (status, _) = gw
        .api(&a)
        .get(&format!("/events?organization_id={b_id}"))
        .await;
    assert_eq!(status, 404);
    let res = gw
        .http
        .get(gw.url("/api/v1/events"))
        .bearer_auth(&a)
        .header("X-Organization-Id", &b_id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    // Naming its own organization is fine.
    let (status, own) = gw
        .api(&a)
        .get(&format!("/events?after={start}&organization_id={a_id}"))
        .await;
    assert_eq!(
        (status, names(own["events"].as_array().unwrap())),
        (200, vec!["A-team".into()])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_queries_get_clear_errors() {
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    for (query, says) in [
        ("after=garbage", "event id"),
        ("after=evt_9999999999999999", "no event"),
        ("after=evt_-1", "event id"),
        ("types=member.added,member.exploded", "member.exploded"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("cursor=evt_0000000000000001", "cursor"),
    ] {
        let (status, body) = api.get(&format!("/events?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.to_string().contains(says), "{query}: {body}");
    }
    let res = gw.http.get(gw.url("/api/v1/events")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    // An empty stream still answers with a cursor to poll from.
    let (status, page) = api.get("/events").await;
    assert_eq!(status, 200);
    assert!(page["next_cursor"].as_str().unwrap().starts_with("evt_"));
    let (status, page) = api.get("/events?types=team.deleted").await;
    assert_eq!((status, page["events"].as_array().unwrap().len()), (200, 0));
}
