//! `/auth/verify` remembers members, and must never answer from a memory a
//! committed change has made wrong: a change made through one instance is
//! seen by the very next request on another. Two instances on PostgreSQL +
//! Redis when the suite has them (`shared_backends`); otherwise the one
//! instance SQLite + the in-process cache allow, writing and verifying.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::idp::{browser_sign_in, TestIdp};
use common::scim::{tenant, Scim, USER};
use common::Gateway;
use serde_json::json;

const ROUNDS: usize = 50;

/// (status, X-Auth-Teams) of one `/auth/verify`.
async fn verify(gw: &Gateway, browser: &reqwest::Client) -> (u16, String) {
    let res = browser.get(gw.url("/auth/verify")).send().await.unwrap();
    let teams = res
        .headers()
        .get("x-auth-teams")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (res.status().as_u16(), teams)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_on_one_instance_shows_at_the_next_verify_on_the_other() {
    let idp = TestIdp::start("ada@example.com").await;
    let a = Gateway::start().await;
    let twin = if common::shared_backends() {
        Some(a.start_twin().await)
    } else {
        eprintln!("one instance (SQLite + in-process cache): set SSO_GATEWAY_TEST_POSTGRES_URL and SSO_GATEWAY_TEST_REDIS_URL for two");
        None
    };
    let b = twin.as_ref().unwrap_or(&a);
    let (token, on_a) = tenant(&a, &idp, "Acme").await;
    let on_b = Scim {
        http: b.http.clone(),
        base: on_a.base.replace(&a.base, &b.base),
        token: on_a.token.clone(),
    };
    let (_, list) = a.api(&token).get("/integrations").await;
    let integration = list["integrations"][0]["id"].as_str().unwrap().to_string();
    let start = a.url(&format!("/users/sign-in/sso/okta/{integration}"));
    let (status, group) = on_b
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Team 0", "members": []}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());

    for round in 0..ROUNDS {
        let (status, user) = on_b
            .post(
                "/Users",
                json!({"schemas": [USER], "userName": "ada@example.com", "active": true,
                       "name": {"givenName": "Ada", "familyName": "Lovelace"},
                       "emails": [{"primary": true, "type": "work", "value": "ada@example.com"}]}),
            )
            .await;
        assert_eq!(status, 201, "round {round}: {user}");
        let user_id = user["id"].as_str().unwrap().to_string();
        let browser = a.browser();
        assert_eq!(browser_sign_in(&a, &browser, &start).await.status(), 303);
        let team = format!("Team {round}");
        assert_eq!(verify(&a, &browser).await, (200, String::new()));

        // Joining a team and the team's rename, each on B: the next verify
        // on A shows it.
        let (status, _) = on_b
            .patch(
                &group_path,
                json!([{"op": "add", "path": "members", "value": [{"value": user_id}]}]),
            )
            .await;
        assert!(
            status == 200 || status == 204,
            "round {round}: join {status}"
        );
        assert_eq!(
            verify(&a, &browser).await,
            (200, team.clone()),
            "round {round}: joined"
        );
        let renamed = format!("Team {}", round + 1);
        let (status, _) = on_b
            .patch(
                &group_path,
                json!([{"op": "replace", "path": "displayName", "value": renamed}]),
            )
            .await;
        assert!(
            status == 200 || status == 204,
            "round {round}: rename {status}"
        );
        assert_eq!(
            verify(&a, &browser).await,
            (200, renamed),
            "round {round}: renamed"
        );

        // Deprovisioned on B: A's very next verify refuses.
        let (status, _) = on_b.delete(&format!("/Users/{user_id}")).await;
        assert_eq!(status, 204, "round {round}: delete");
        assert_eq!(
            verify(&a, &browser).await.0,
            401,
            "round {round}: deprovisioned"
        );
    }
}

/// A session ended on B is refused by A's very next verify, though A had
/// learnt which organization it belongs to (and so reads the session and
/// the organization's version together).
#[tokio::test(flavor = "multi_thread")]
async fn a_session_ended_on_one_instance_is_refused_at_the_next_verify_on_the_other() {
    let idp = TestIdp::start("ada@example.com").await;
    let a = Gateway::start().await;
    let twin = if common::shared_backends() {
        Some(a.start_twin().await)
    } else {
        None
    };
    let b = twin.as_ref().unwrap_or(&a);
    let (token, scim) = tenant(&a, &idp, "Acme").await;
    let (status, user) = scim
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "ada@example.com", "active": true,
                   "emails": [{"primary": true, "type": "work", "value": "ada@example.com"}]}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (_, list) = a.api(&token).get("/integrations").await;
    let integration = list["integrations"][0]["id"].as_str().unwrap().to_string();
    let start = a.url(&format!("/users/sign-in/sso/okta/{integration}"));
    for round in 0..ROUNDS {
        let browser = a.browser();
        let signed_in = browser_sign_in(&a, &browser, &start).await;
        assert_eq!(signed_in.status(), 303, "round {round}: sign-in");
        let cookie = signed_in
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|c| c.starts_with("sso_gateway_session="))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        for _ in 0..3 {
            assert_eq!(verify(&a, &browser).await.0, 200, "round {round}");
        }
        // The browser's cookie (one host, any port) signs out on B; the
        // cookie it then forgets is sent to A all the same.
        let res = browser.post(b.url("/users/sign-out")).send().await.unwrap();
        assert_eq!(res.status(), 204, "round {round}: sign-out");
        let res = a
            .http
            .get(a.url("/auth/verify"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "round {round}: signed out on B");
    }
}
