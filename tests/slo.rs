//! SAML Single Logout against the loopback IdP: what an IdP's LogoutRequest
//! ends, and every crafted one that must be refused (unsigned, signed by
//! someone else, for another integration, replayed, garbage).
// Tests stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::idp::{browser_sign_in, key_der, new_key_and_certificate, sign_message, TestIdp};
use common::Gateway;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

const KEY_PEM: &str = include_str!("../fixtures/certs/idp-key.pem");
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// An organization with an Okta integration to `idp` and ada@example.com
/// signed in through it: (admin token, integration view, signed-in browser).
async fn signed_in(gw: &Gateway, idp: &TestIdp, org: &str) -> (String, Value, reqwest::Client) {
    let (_, token) = gw.create_org(org);
    let api = gw.api(&token);
    api.add_team("Engineering", &["example.com"]).await;
    let integration = api.connect_okta(idp).await;
    let browser = gw.browser();
    let done = browser_sign_in(gw, &browser, integration["sign_in_url"].as_str().unwrap()).await;
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    (token, integration, browser)
}

async fn me(gw: &Gateway, browser: &reqwest::Client) -> u16 {
    browser
        .get(gw.url("/users/me"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn logout_request(id: &str, issuer: &str, destination: &str, name_id: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{destination}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID></samlp:LogoutRequest>"#
    )
}

fn encode(v: &str) -> String {
    utf8_percent_encode(v, NON_ALPHANUMERIC).to_string()
}

/// The HTTP-Redirect query carrying `xml` as SAMLRequest, signed by `key`
/// (PEM) when given.
fn redirect_query(xml: &str, key_pem: Option<&[u8]>) -> String {
    redirect_query_as("SAMLRequest", xml, key_pem)
}

fn redirect_query_as(param: &str, xml: &str, key_pem: Option<&[u8]>) -> String {
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(xml.as_bytes()).unwrap();
    let message = STANDARD.encode(deflater.finish().unwrap());
    let mut query = format!("{param}={}&RelayState=back", encode(&message));
    if let Some(pem) = key_pem {
        query.push_str(&format!("&SigAlg={}", encode(RSA_SHA256)));
        let key = openssl::pkey::PKey::private_key_from_pem(pem).unwrap();
        let mut signer =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        signer.update(query.as_bytes()).unwrap();
        let signature = STANDARD.encode(signer.sign_to_vec().unwrap());
        query.push_str(&format!("&Signature={}", encode(&signature)));
    }
    query
}

fn slo_url(integration: &Value) -> String {
    format!("{}/slo", integration["sign_in_url"].as_str().unwrap())
}

/// Refused: a 4xx page (400 for what is malformed or unsigned, 403 for
/// what fails verification).
fn refused(status: u16) -> bool {
    status == 400 || status == 403
}

async fn send(slo: &str, query: &str) -> (u16, String) {
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{slo}?{query}"))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_idp_logout_request_ends_the_session_once() {
    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start().await;
    let (token, integration, browser) = signed_in(&gw, &idp, "Acme").await;
    assert_eq!(me(&gw, &browser).await, 200);
    let slo = slo_url(&integration);
    let xml = logout_request("_lr1", &idp.entity_id, &slo, "ada@example.com");
    let query = redirect_query(&xml, Some(KEY_PEM.as_bytes()));

    let (status, page) = send(&slo, &query).await;
    // This IdP's metadata names no SLO endpoint: a signed-out page, not a redirect.
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("signed out"), "{page}");
    assert_eq!(me(&gw, &browser).await, 401, "the session is over");

    let (status, page) = send(&slo, &query).await;
    assert_eq!(status, 403, "a replayed LogoutRequest: {page}");
    let (_, audit) = gw.api(&token).get("/audit?kind=single_logout").await;
    let events = audit["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["outcome"] == "success" && e["details"]["sessions_ended"] == 1),
        "{audit}"
    );
    assert!(events.iter().any(|e| e["outcome"] == "failure"), "{audit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_foreign_signed_and_cross_integration_logout_requests_end_nothing() {
    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start().await;
    let (_, victim, browser) = signed_in(&gw, &idp, "Victim").await;
    let slo = slo_url(&victim);
    let xml = |id: &str| logout_request(id, &idp.entity_id, &slo, "ada@example.com");

    // Unsigned.
    let (status, page) = send(&slo, &redirect_query(&xml("_u1"), None)).await;
    assert!(refused(status), "{status}: {page}");
    // Signed by a key the integration does not trust.
    let (attacker, _) = new_key_and_certificate("attacker");
    let attacker_pem = attacker.private_key_to_pem_pkcs8().unwrap();
    let (status, page) = send(&slo, &redirect_query(&xml("_f1"), Some(&attacker_pem))).await;
    assert!(refused(status), "{status}: {page}");
    // Signed by the right key, but the signed octets were changed after.
    let tampered = redirect_query(&xml("_t1"), Some(KEY_PEM.as_bytes()))
        .replace("RelayState=back", "RelayState=elsewhere");
    let (status, page) = send(&slo, &tampered).await;
    assert!(refused(status), "{status}: {page}");
    // A POST-binding request signed by the attacker.
    let attacker_der = attacker.private_key_to_der().unwrap();
    let posted = sign_message(&xml("_p1"), "_p1", &attacker_der);
    let res = reqwest::Client::new()
        .post(&slo)
        .form(&[("SAMLRequest", STANDARD.encode(&posted))])
        .send()
        .await
        .unwrap();
    assert!(
        refused(res.status().as_u16()),
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(
        me(&gw, &browser).await,
        200,
        "nothing above ended the session"
    );

    // Another organization's integration, whose IdP (here the same signing
    // key, as an attacker controlling it would have) names the victim:
    // its own integration's sessions only — none.
    let (_, token) = gw.create_org("Attacker");
    let other = gw.api(&token).connect_okta(&idp).await;
    let other_slo = slo_url(&other);
    let aimed = logout_request("_x1", &idp.entity_id, &other_slo, "ada@example.com");
    let (status, page) = send(
        &other_slo,
        &redirect_query(&aimed, Some(KEY_PEM.as_bytes())),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        me(&gw, &browser).await,
        200,
        "another integration's logout ends nothing here"
    );
    // The victim's own endpoint refuses a request addressed to the other one.
    let misaddressed = logout_request("_x2", &idp.entity_id, &other_slo, "ada@example.com");
    let (status, _) = send(
        &slo,
        &redirect_query(&misaddressed, Some(KEY_PEM.as_bytes())),
    )
    .await;
    assert!(refused(status), "{status}");
    assert_eq!(me(&gw, &browser).await, 200);

    // The same request signed properly on the POST binding does end it.
    let posted = sign_message(&xml("_p2"), "_p2", &key_der());
    let res = reqwest::Client::new()
        .post(&slo)
        .form(&[("SAMLRequest", STANDARD.encode(&posted))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(me(&gw, &browser).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_on_the_slo_endpoint_gets_a_page_never_a_5xx() {
    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start().await;
    let (_, token) = gw.create_org("Acme");
    let integration = gw.api(&token).connect_okta(&idp).await;
    let slo = slo_url(&integration);
    let signed_junk = redirect_query("not xml at all", Some(KEY_PEM.as_bytes()));
    for query in [
        "",
        "SAMLRequest=",
        "SAMLRequest=%%%",
        "SAMLRequest=bm90IGRlZmxhdGU%3D&SigAlg=x&Signature=y",
        "SAMLRequest=a&SAMLRequest=b",
        "SAMLResponse=bm90IGRlZmxhdGU%3D",
        signed_junk.as_str(),
    ] {
        let (status, page) = send(&slo, query).await;
        assert!((400..500).contains(&status), "{query:?}: {status} {page}");
        assert!(
            page.contains("<html") || page.contains("<!DOCTYPE"),
            "{query:?}: {page}"
        );
    }
    for form in [
        vec![("SAMLRequest", "%%%")],
        vec![("SAMLRequest", "PHg+PC94Pg==")],
        vec![("SAMLResponse", "PHg+PC94Pg==")],
        vec![("RelayState", "x")],
    ] {
        let res = reqwest::Client::new()
            .post(&slo)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status), "{form:?}: {status}");
    }
    // A LogoutResponse that answers nothing of ours.
    let response = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr" Version="2.0" InResponseTo="_nothing"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        idp.entity_id
    );
    let signed = redirect_query_as("SAMLResponse", &response, Some(KEY_PEM.as_bytes()));
    let (status, page) = send(&slo, &signed).await;
    assert!(refused(status), "{status}: {page}");
}
