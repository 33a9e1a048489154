//! The sign-in browser-binding cookie against a real gateway: only a value
//! this deployment issued binds a sign-in; a planted or forged one counts
//! as no cookie (login CSRF from a sibling subdomain). The https cookie
//! names (`__Host-`) are unit-tested beside the code (src/session.rs,
//! src/web/sign_in.rs): these tests run on plain http.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::idp::{self, TestIdp};
use common::Gateway;

const BINDING: &str = "sso_gateway_signin";

/// Makes a planted cookie value from the right token and another
/// binding's MAC.
type Plant = fn(&str, &str) -> String;

/// A value of `name` among the response's Set-Cookie headers.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// Starts SP-initiated sign-in without a cookie jar, carrying `cookie`
/// (a whole Cookie header) if given. Returns the binding value the gateway
/// set and the IdP's answer as the form the browser would post.
async fn start(
    gw: &Gateway,
    start_url: &str,
    cookie: Option<&str>,
) -> (String, String, Vec<(String, String)>) {
    let mut request = gw.http.get(start_url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let to_idp = request.send().await.unwrap();
    assert_eq!(to_idp.status(), 302, "{}", to_idp.text().await.unwrap());
    let issued = set_cookie(&to_idp, BINDING).expect("no binding cookie set");
    let idp_url = to_idp.headers()["location"].to_str().unwrap().to_string();
    let page = gw
        .http
        .get(&idp_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, fields) = idp::parse_form(&page);
    (issued, action, fields)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planted_or_forged_binding_cookie_is_refused() {
    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    api.add_team("Engineering", &["example.com"]).await;
    let integration = api.connect_okta(&idp).await;
    let id = integration["id"].as_str().unwrap();
    let start_url = gw.url(&format!("/users/sign-in/sso/okta/{id}"));
    let post = |action: String, fields: Vec<(String, String)>, cookie: String| {
        let http = gw.http.clone();
        async move {
            http.post(action)
                .header("cookie", format!("{BINDING}={cookie}"))
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };

    // The value the gateway issues is `{token}.{mac}`, and it binds.
    let (issued, action, fields) = start(&gw, &start_url, None).await;
    let (bare, mac) = issued.split_once('.').expect("the binding carries a MAC");
    let ok = post(action, fields, issued.clone()).await;
    assert_eq!(ok.status(), 303, "{}", ok.text().await.unwrap());
    assert!(set_cookie(&ok, "sso_gateway_session").is_some());

    // Each planted value is posted back with a fresh sign-in of the right
    // token: anything but the issued value is no binding at all.
    let other_token = "A".repeat(43);
    let cases: [(&str, Plant); 3] = [
        ("the bare token, unauthenticated", |t, _| t.to_string()),
        ("the token under another binding's MAC", |t, m| {
            format!("{t}.{m}")
        }),
        ("the token with a forged MAC", |t, _| {
            format!("{t}.{}", "A".repeat(43))
        }),
    ];
    for (case, planted) in cases {
        let (issued, action, fields) = start(&gw, &start_url, None).await;
        let (token, _) = issued.split_once('.').unwrap();
        let refused = post(action, fields, planted(token, mac)).await;
        assert_eq!(refused.status(), 403, "{case}");
        assert!(
            set_cookie(&refused, "sso_gateway_session").is_none(),
            "{case}: a session was opened"
        );
        let (_, audit) = api.get("/audit?kind=sign_in&limit=1").await;
        let reason = audit["events"][0]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("browser_mismatch:"),
            "{case}: refused as {reason}"
        );
    }

    // A value planted before the sign-in starts is not adopted: the gateway
    // issues a binding of its own instead of the attacker's.
    let (fresh, _, _) = start(&gw, &start_url, Some(&format!("{BINDING}={other_token}"))).await;
    assert!(!fresh.starts_with(&other_token), "{fresh}");
    // The issued binding is kept across sign-ins in the same browser.
    let (again, _, _) = start(&gw, &start_url, Some(&format!("{BINDING}={issued}"))).await;
    assert!(again.starts_with(&format!("{bare}.")), "{again}");
}
