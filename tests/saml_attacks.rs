//! The malicious corpus: every case is posted to a real gateway's ACS and
//! must be refused with its own reason (read back from the audit log), a
//! 4xx status and no session. See fixtures/saml/README.md.
// Tests and benchmarks stop at the first broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Duration;
use common::idp::{self, Signing, Spec, TestIdp};
use common::{Api, Gateway};

struct Target<'a> {
    gw: &'a Gateway,
    api: Api<'a>,
    acs: String,
}

impl Target<'_> {
    async fn post(&self, acs: &str, form: &[(&str, String)]) -> (u16, String, bool) {
        let browser = self.gw.browser();
        let res = browser.post(acs).form(form).send().await.unwrap();
        let status = res.status().as_u16();
        let session = res.headers().get_all("set-cookie").iter().any(|c| {
            c.to_str().unwrap().starts_with("sso_gateway_session=")
                && !c.to_str().unwrap().contains("Max-Age=0")
        });
        (status, res.text().await.unwrap(), session)
    }

    /// Posts `xml` and requires the refusal `code`.
    async fn refused(&self, case: &str, xml: &str, code: &str) {
        self.refused_raw(
            case,
            &self.acs.clone(),
            vec![("SAMLResponse", idp::encode(xml))],
            code,
        )
        .await;
    }

    async fn refused_raw(&self, case: &str, acs: &str, form: Vec<(&str, String)>, code: &str) {
        let (status, page, session) = self.post(acs, &form).await;
        assert!(
            (400..500).contains(&status),
            "{case}: status {status}: {page}"
        );
        assert!(!session, "{case}: a session was opened");
        assert!(
            page.contains("<html") && !page.contains("panicked"),
            "{case}: {page}"
        );
        let (_, audit) = self.api.get("/audit?kind=sign_in&limit=1").await;
        let event = &audit["events"][0];
        assert_eq!(event["outcome"], "failure", "{case}");
        let reason = event["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(&format!("{code}:")),
            "{case}: expected {code}, got {reason}"
        );
    }
}

/// An organization pre-approving example.com, connected to the test IdP.
async fn acme_with_okta<'a>(gw: &'a Gateway, idp: &TestIdp) -> Target<'a> {
    let (_, token) = gw.create_org("Acme");
    let api = gw.api(&token);
    api.add_team("Eng", &["example.com"]).await;
    let integration = api.connect_okta(idp).await;
    let acs = integration["acs_url"].as_str().unwrap().to_string();
    Target { gw, api, acs }
}

fn between<'a>(xml: &'a str, open: &str, close: &str) -> (usize, usize, &'a str) {
    let start = xml
        .find(open)
        .unwrap_or_else(|| panic!("{open} not in {xml}"));
    let end = xml[start..].find(close).unwrap() + start + close.len();
    (start, end, &xml[start..end])
}

fn assertion_of(xml: &str) -> (usize, usize, String) {
    let (s, e, a) = between(xml, "<saml2:Assertion", "</saml2:Assertion>");
    (s, e, a.to_string())
}

/// The same assertion, naming the victim instead, under a new ID.
fn evil_twin(assertion: &str, from: &str, to: &str) -> String {
    let (_, _, sig) = between(assertion, "<ds:Signature", "</ds:Signature>");
    assertion
        .replace(sig, "")
        .replace(from, to)
        .replacen("ID=\"_a", "ID=\"_evil", 1)
}

fn strip_signatures(xml: &str) -> String {
    let mut out = xml.to_string();
    while let Some(start) = out.find("<ds:Signature") {
        let end = out[start..].find("</ds:Signature>").unwrap() + start + "</ds:Signature>".len();
        out.replace_range(start..end, "");
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn malicious_responses_are_refused_with_their_reason() {
    let user = "ada@example.com";
    let idp = TestIdp::start(user).await;
    let gw = Gateway::start().await;
    let t = acme_with_okta(&gw, &idp).await;
    let acs = t.acs.clone();
    let spec = |f: &dyn Fn(&mut Spec)| {
        let mut s = idp.spec(&acs, user);
        f(&mut s);
        s
    };
    let victim = "boss@example.com";

    // --- signature wrapping (XSW1–XSW8) ------------------------------------
    let response_signed = idp::signed_xml(&spec(&|s| s.signing = Signing::Response));
    let assertion_signed = idp::signed_xml(&spec(&|s| s.signing = Signing::Assertion));
    {
        // XSW1: a forged response whose Signature carries the original signed response.
        let (_, _, original_sig) = between(&response_signed, "<ds:Signature", "</ds:Signature>");
        let forged = response_signed.replace(user, victim).replacen(
            original_sig,
            &original_sig.replace(
                "</ds:Signature>",
                &format!(
                    "{}</ds:Signature>",
                    response_signed.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
                ),
            ),
            1,
        );
        t.refused("XSW1", &forged, "assertion_count").await;
        // XSW2: the original signed response placed before the forged one's content.
        let (s, _, _) = assertion_of(&response_signed);
        let mut xsw2 = response_signed.replace(user, victim);
        xsw2.insert_str(
            s,
            &response_signed.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", ""),
        );
        t.refused("XSW2", &xsw2, "assertion_count").await;
        // XSW3: an unsigned evil assertion before the signed one.
        let (s, _, original) = assertion_of(&assertion_signed);
        let mut xsw3 = assertion_signed.clone();
        xsw3.insert_str(s, &evil_twin(&original, user, victim));
        t.refused("XSW3", &xsw3, "assertion_count").await;
        // XSW4: the evil assertion wraps the signed one.
        let (s, e, original) = assertion_of(&assertion_signed);
        let wrapper = evil_twin(&original, user, victim).replace(
            "</saml2:Assertion>",
            &format!("{original}</saml2:Assertion>"),
        );
        let xsw4 = format!(
            "{}{}{}",
            &assertion_signed[..s],
            wrapper,
            &assertion_signed[e..]
        );
        t.refused("XSW4", &xsw4, "assertion_count").await;
        // XSW5: evil assertion carrying the original's signature; original appended.
        let (s, e, original) = assertion_of(&assertion_signed);
        // The original's signature stays in the copy; only the subject changes.
        let evil_signed = original.replace(user, victim);
        let xsw5 = format!(
            "{}{}{}{}",
            &assertion_signed[..s],
            evil_signed,
            original,
            &assertion_signed[e..]
        );
        t.refused("XSW5", &xsw5, "assertion_count").await;
        // XSW6: the original assertion inside the evil one's copied signature.
        let xsw6_assertion = original
            .replace(user, victim)
            .replace("</ds:Signature>", &format!("{original}</ds:Signature>"));
        let xsw6 = format!(
            "{}{}{}",
            &assertion_signed[..s],
            xsw6_assertion,
            &assertion_signed[e..]
        );
        t.refused("XSW6", &xsw6, "assertion_count").await;
        // XSW7: the original hidden in an Extensions element of the evil assertion.
        let xsw7_assertion = evil_twin(&original, user, victim).replace("</saml2:Assertion>", &format!("<samlp:Extensions xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">{original}</samlp:Extensions></saml2:Assertion>"));
        let xsw7 = format!(
            "{}{}{}",
            &assertion_signed[..s],
            xsw7_assertion,
            &assertion_signed[e..]
        );
        t.refused("XSW7", &xsw7, "assertion_count").await;
        // XSW8: the original inside a ds:Object of the evil assertion's signature.
        let xsw8_assertion = original.replace(user, victim).replace(
            "</ds:Signature>",
            &format!("<ds:Object>{original}</ds:Object></ds:Signature>"),
        );
        let xsw8 = format!(
            "{}{}{}",
            &assertion_signed[..s],
            xsw8_assertion,
            &assertion_signed[e..]
        );
        t.refused("XSW8", &xsw8, "signature_structure_refused")
            .await;
    }

    // --- signatures ---------------------------------------------------------
    let both = idp::signed_xml(&spec(&|_| {}));
    t.refused("signature stripped", &strip_signatures(&both), "unsigned")
        .await;
    t.refused(
        "signed response, assertion altered after signing",
        &response_signed.replace(user, victim),
        "signature_invalid",
    )
    .await;
    // The Response's signature is what vouches for a both-signed response
    // (the assertion's is inside its octets): broken, the intact assertion
    // signature does not save it.
    t.refused(
        "both signed, the Response's signature value changed",
        &with_text_of(&both, "<ds:SignatureValue>", 0, |v| flip_from_end(v, 10)),
        "signature_invalid",
    )
    .await;
    t.refused(
        "signed assertion altered after signing",
        &assertion_signed.replace(user, victim),
        "signature_invalid",
    )
    .await;
    t.refused(
        "signed assertion in an unsigned response claiming to answer a request",
        &assertion_signed.replacen(
            "<saml2p:Response ",
            "<saml2p:Response InResponseTo=\"_forged\" ",
            1,
        ),
        "in_response_to_mismatch",
    )
    .await;
    t.refused(
        "attacker key and certificate in KeyInfo",
        &idp::signed_by_attacker(&spec(&|_| {})),
        "signature_invalid",
    )
    .await;
    let sha1_digest = idp::signed_xml_with(&spec(&|_| {}), |x| {
        x.replace(
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        )
    });
    t.refused("SHA-1 digest", &sha1_digest, "algorithm_refused")
        .await;
    let rsa_sha1 = idp::signed_xml_with(&spec(&|_| {}), |x| {
        x.replace(
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        )
    });
    t.refused("RSA-SHA1 signature", &rsa_sha1, "algorithm_refused")
        .await;
    let xpath = idp::signed_xml_with(&spec(&|_| {}), |x| {
        x.replace(
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
            "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>",
        )
    });
    t.refused("XPath transform", &xpath, "transform_refused")
        .await;
    let xslt = both.replacen(
        "http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>",
        "http://www.w3.org/TR/1999/REC-xslt-19991116\"/></ds:Transforms>",
        1,
    );
    t.refused("XSLT transform", &xslt, "transform_refused")
        .await;
    let external = both.replacen("URI=\"#_a", "URI=\"http://127.0.0.1:9/x#_a", 1);
    t.refused(
        "reference to an external URI",
        &external,
        "reference_refused",
    )
    .await;
    let (_, _, signed_info) = between(&both, "<ds:SignedInfo", "</ds:SignedInfo>");
    t.refused(
        "two SignedInfo (CVE-2025-29774)",
        &both.replacen(signed_info, &format!("{signed_info}{signed_info}"), 1),
        "signature_structure_refused",
    )
    .await;
    t.refused(
        "comment in DigestValue (CVE-2025-29775)",
        &both.replacen("<ds:DigestValue>", "<ds:DigestValue><!---->", 1),
        "comment_refused",
    )
    .await;
    let long_email = "ada@example.com.evil.org";
    let injected = idp::signed_xml(&spec(&|s| s.email = long_email.into())).replace(
        &format!(">{long_email}<"),
        ">ada@example.com<!---->.evil.org<",
    );
    t.refused(
        "NameID comment injection (CVE-2017-11427)",
        &injected,
        "comment_refused",
    )
    .await;

    // --- XML parser attacks -------------------------------------------------
    let body = both.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "");
    for (case, doctype) in [
        ("XXE", include_str!("../fixtures/saml/xxe-doctype.xml")),
        (
            "billion laughs",
            include_str!("../fixtures/saml/billion-laughs-doctype.xml"),
        ),
        (
            "entity inside an ID attribute (CVE-2025-23369)",
            include_str!("../fixtures/saml/entity-in-id-doctype.xml"),
        ),
    ] {
        t.refused(case, &format!("{doctype}{body}"), "doctype_refused")
            .await;
    }
    let (_, end, a) = assertion_of(&response_signed);
    let two = format!("{}{a}{}", &response_signed[..end], &response_signed[end..]);
    t.refused("two assertions", &two, "assertion_count").await;

    // --- protocol checks ----------------------------------------------------
    let cases: Vec<(&str, Spec, &str)> = vec![
        (
            "wrong audience",
            spec(&|s| s.audience = Some("https://other.example/sp".into())),
            "audience_mismatch",
        ),
        (
            "missing audience",
            spec(&|s| s.audience = None),
            "audience_missing",
        ),
        (
            "wrong recipient",
            spec(&|s| s.recipient = "https://other.example/acs".into()),
            "recipient_mismatch",
        ),
        (
            "wrong destination",
            spec(&|s| s.destination = Some("https://other.example/acs".into())),
            "destination_mismatch",
        ),
        (
            "wrong issuer",
            spec(&|s| s.issuer = "http://www.okta.com/exkSOMEONEELSE".into()),
            "issuer_mismatch",
        ),
        (
            "expired",
            spec(&|s| s.not_on_or_after_offset = Duration::minutes(-10)),
            "expired",
        ),
        (
            "not yet valid",
            spec(&|s| s.not_before_offset = Duration::minutes(10)),
            "not_yet_valid",
        ),
        (
            "IssueInstant in the future",
            spec(&|s| s.issue_offset = Duration::minutes(10)),
            "issued_in_future",
        ),
        (
            "non-success status",
            spec(&|s| s.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into()),
            "status_not_success",
        ),
        (
            "unknown InResponseTo",
            spec(&|s| s.in_response_to = Some("_never_sent".into())),
            "in_response_to_unknown",
        ),
    ];
    for (case, s, code) in cases {
        t.refused(case, &idp::signed_xml(&s), code).await;
    }

    // Replay: the first use signs in, the second is refused.
    let once = idp::encode(&idp::signed_xml(&spec(&|_| {})));
    let (status, _, session) = t.post(&acs, &[("SAMLResponse", once.clone())]).await;
    assert_eq!((status, session), (303, true));
    t.refused_raw("replay", &acs, vec![("SAMLResponse", once)], "replayed")
        .await;

    // --- garbage --------------------------------------------------------------
    t.refused_raw(
        "empty",
        &acs,
        vec![("SAMLResponse", String::new())],
        "missing_response",
    )
    .await;
    t.refused_raw(
        "not base64",
        &acs,
        vec![("SAMLResponse", "%%%not base64%%%".into())],
        "not_base64",
    )
    .await;
    t.refused_raw(
        "not SAML",
        &acs,
        vec![(
            "SAMLResponse",
            idp::encode("<html><body>hello</body></html>"),
        )],
        "not_a_response",
    )
    .await;
    t.refused_raw(
        "not XML",
        &acs,
        vec![("SAMLResponse", idp::encode("just words"))],
        "not_a_response",
    )
    .await;
    let (status, page, session) = t
        .post(&acs, &[("SAMLResponse", "A".repeat(3 * 1024 * 1024))])
        .await;
    assert_eq!(status, 413, "{page}");
    assert!(!session);
    let (status, _, _) = t
        .post(
            &format!("{acs}-nope"),
            &[("SAMLResponse", once_more(&idp, &acs, user))],
        )
        .await;
    assert_eq!(status, 404);
}

fn once_more(idp: &TestIdp, acs: &str, user: &str) -> String {
    idp::encode(&idp::signed_xml(&idp.spec(acs, user)))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_for_one_integration_or_organization_never_works_for_another() {
    let user = "ada@example.com";
    let idp = TestIdp::start(user).await;
    let gw = Gateway::start().await;
    let (_, token_a) = gw.create_org("A");
    let (_, token_b) = gw.create_org("B");
    let (a, b) = (gw.api(&token_a), gw.api(&token_b));
    a.add_team("Eng", &["example.com"]).await;
    let int_a = a.connect_okta(&idp).await;
    let int_a2 = a.connect_okta(&idp).await;
    // Organization B trusts the very same IdP, but pre-approves nothing.
    let int_b = b.connect_okta(&idp).await;
    let acs = |i: &serde_json::Value| i["acs_url"].as_str().unwrap().to_string();

    let ta = Target {
        gw: &gw,
        api: gw.api(&token_a),
        acs: acs(&int_a),
    };
    let (status, _, session) = ta
        .post(
            &acs(&int_a),
            &[("SAMLResponse", once_more(&idp, &acs(&int_a), user))],
        )
        .await;
    assert_eq!((status, session), (303, true), "ada is a member of A now");

    // A's response posted to A's other integration.
    ta.refused_raw(
        "response for another integration",
        &acs(&int_a2),
        vec![("SAMLResponse", once_more(&idp, &acs(&int_a), user))],
        "destination_mismatch",
    )
    .await;

    // B's IdP vouches for ada, a member of A: B does not admit her, and A is untouched.
    let tb = Target {
        gw: &gw,
        api: gw.api(&token_b),
        acs: acs(&int_b),
    };
    tb.refused(
        "another organization's IdP",
        &idp::signed_xml(&idp.spec(&acs(&int_b), user)),
        "not_preapproved",
    )
    .await;
    let (_, members_b) = b.get("/users").await;
    assert!(members_b["users"].as_array().unwrap().is_empty());
    let (_, members_a) = a.get("/users").await;
    assert_eq!(members_a["users"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsolicited_responses_are_refused_when_idp_initiated_is_off() {
    let idp = TestIdp::start("ada@example.com").await;
    let gw = Gateway::start_with(&[("SSO_GATEWAY__SAML__ALLOW_IDP_INITIATED", "false")]).await;
    let t = acme_with_okta(&gw, &idp).await;
    let acs = t.acs.clone();
    t.refused(
        "unsolicited",
        &idp::signed_xml(&idp.spec(&acs, "ada@example.com")),
        "unsolicited_refused",
    )
    .await;
}

/// libxmlsec's own `func=xmlSec…` lines never reach stderr (they bypassed
/// `log_format`): a refused signature is one structured line with its
/// request id, and xmlsec's diagnostics, when debug is on for samael, are
/// structured events in the same request.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_signature_is_logged_as_structured_lines_only() {
    let user = "ada@example.com";
    let idp = TestIdp::start(user).await;
    let gw = Gateway::start_capturing_stderr(&[
        ("SSO_GATEWAY__SERVER__LOG_FORMAT", "json"),
        (
            "SSO_GATEWAY__SERVER__LOG_LEVEL",
            "warn,sso_gateway=info,samael=debug",
        ),
    ])
    .await;
    let t = acme_with_okta(&gw, &idp).await;
    let tampered = idp::signed_xml(&idp.spec(&t.acs, user)).replace(user, "boss@example.com");
    t.refused("altered after signing", &tampered, "signature_invalid")
        .await;

    let log = gw.stderr_log();
    assert!(!log.contains("func=xmlSec"), "raw xmlsec output: {log}");
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("unstructured line: {line}"))
        })
        .collect();
    let message = |e: &serde_json::Value| {
        e["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let refusals: Vec<_> = events
        .iter()
        .filter(|e| message(e) == "sign-in refused")
        .collect();
    assert_eq!(refusals.len(), 1, "{log}");
    assert_eq!(refusals[0]["fields"]["code"], "signature_invalid");
    let request_id = refusals[0]["span"]["request_id"].as_str().expect(&log);
    let xmlsec: Vec<_> = events
        .iter()
        .filter(|e| message(e).starts_with("xmlsec: "))
        .collect();
    assert!(
        !xmlsec.is_empty(),
        "xmlsec's diagnostics were not routed: {log}"
    );
    for event in xmlsec {
        assert_eq!(event["level"], "DEBUG", "{event}");
        assert!(
            event["fields"]["func"]
                .as_str()
                .unwrap_or_default()
                .starts_with("xmlSec"),
            "{event}"
        );
        assert_eq!(event["span"]["request_id"], request_id, "{event}");
    }
}

/// Replaces the text of the `n`th element opened by `open` (e.g.
/// `<xenc:CipherValue>`) in `xml` by `f` of it.
fn with_text_of(xml: &str, open: &str, n: usize, f: impl Fn(&str) -> String) -> String {
    let start = xml.match_indices(open).nth(n).unwrap().0 + open.len();
    let end = xml[start..].find('<').unwrap() + start;
    format!("{}{}{}", &xml[..start], f(&xml[start..end]), &xml[end..])
}

const CIPHER_VALUE: &str = "<xenc:CipherValue>";

/// One base64 character changed (to another valid one) at `at` from the end.
fn flip_from_end(value: &str, at: usize) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let i = chars.len() - at;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// The encrypted-assertion corpus. Every way the ciphertext, its key or
/// its signature can be wrong answers the same `encrypted_refused` with
/// the same words (no padding, key or parse oracle); wrapping a signed
/// plain assertion beside an encrypted one is two assertions; and an
/// integration that requires encryption refuses a plain assertion.
#[tokio::test(flavor = "multi_thread")]
async fn encrypted_assertion_attacks_are_refused_alike() {
    use common::xmlenc::{CBC128, GCM256};
    let user = "ada@example.com";
    let victim = "boss@example.com";
    let idp = TestIdp::start(user).await;
    let gw = Gateway::start().await;
    let t = acme_with_okta(&gw, &idp).await;
    let acs = t.acs.clone();
    let metadata = reqwest::get(format!("{acs}/metadata"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ours = idp::sp_certificate(&metadata, "encryption");
    let spec = |signing: Signing, email: &str| {
        let mut s = idp.spec(&acs, email);
        s.signing = signing;
        s
    };

    // The real thing works, so each refusal below is the attack's doing.
    for (signing, how) in [
        (Signing::Both, &CBC128),
        (Signing::Response, &GCM256),
        (Signing::Assertion, &GCM256),
    ] {
        let good = idp::encrypted_xml(&spec(signing, user), &ours, how);
        let (status, page, session) = t.post(&acs, &[("SAMLResponse", idp::encode(&good))]).await;
        assert_eq!((status, session), (303, true), "{signing:?}: {page}");
    }

    let (attacker_key, attacker_pem) = idp::new_key_and_certificate("attacker");
    drop(attacker_key);
    let attacker: String = attacker_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let both = || idp::encrypted_xml(&spec(Signing::Both, user), &ours, &CBC128);
    let evil_encrypted = idp::encrypt_assertion_in(
        &idp::unsigned_xml(&spec(Signing::Response, victim)),
        &ours,
        &CBC128,
    );
    let (_, _, evil_element) = between(
        &evil_encrypted,
        "<saml:EncryptedAssertion",
        "</saml:EncryptedAssertion>",
    );
    let signed_response = idp::encrypted_xml(&spec(Signing::Response, user), &ours, &CBC128);
    let (start, end, _) = between(
        &signed_response,
        "<saml:EncryptedAssertion",
        "</saml:EncryptedAssertion>",
    );
    let swapped = format!(
        "{}{evil_element}{}",
        &signed_response[..start],
        &signed_response[end..]
    );
    let commented = idp::encrypt_assertion_in(
        &idp::signed_xml_with(&spec(Signing::Assertion, user), |x| {
            x.replacen(user, &format!("{victim}<!---->.evil"), 1)
        }),
        &ours,
        &CBC128,
    );
    let cases = [
        (
            "tampered ciphertext (CBC)",
            with_text_of(&both(), CIPHER_VALUE, 1, |v| flip_from_end(v, 30)),
        ),
        (
            "tampered padding block (CBC)",
            with_text_of(&both(), CIPHER_VALUE, 1, |v| flip_from_end(v, 3)),
        ),
        (
            "tampered tag (GCM)",
            with_text_of(
                &idp::encrypted_xml(&spec(Signing::Both, user), &ours, &GCM256),
                CIPHER_VALUE,
                1,
                |v| flip_from_end(v, 3),
            ),
        ),
        (
            "truncated EncryptedKey",
            with_text_of(&both(), CIPHER_VALUE, 0, |v| v[..v.len() / 2].to_string()),
        ),
        (
            "empty EncryptedKey",
            with_text_of(&both(), CIPHER_VALUE, 0, |_| String::new()),
        ),
        (
            "EncryptedKey for a key we do not have",
            idp::encrypted_xml(&spec(Signing::Both, user), &attacker, &CBC128),
        ),
        (
            "PKCS#1 v1.5 key transport",
            both().replace(
                "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
                "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
            ),
        ),
        (
            "an encrypted unsigned assertion swapped into a signed response",
            swapped,
        ),
        (
            "an encrypted unsigned assertion, nothing signed",
            evil_encrypted.clone(),
        ),
        ("a comment injected before encryption", commented),
    ];
    let mut reasons = Vec::new();
    for (case, xml) in &cases {
        t.refused(case, xml, "encrypted_refused").await;
        let (_, audit) = t.api.get("/audit?kind=sign_in&limit=1").await;
        reasons.push((
            case,
            audit["events"][0]["reason"].as_str().unwrap().to_string(),
        ));
    }
    for (case, reason) in &reasons {
        assert_eq!(
            reason, &reasons[0].1,
            "{case} must read like every other failure"
        );
    }

    // A signed plain assertion beside an encrypted one: two assertions.
    let plain = idp::signed_xml(&spec(Signing::Assertion, user));
    let close = "</saml2:Assertion>";
    let at = plain.find(close).unwrap() + close.len();
    let beside = format!("{}{evil_element}{}", &plain[..at], &plain[at..]);
    t.refused(
        "a signed plain assertion beside an encrypted one",
        &beside,
        "assertion_count",
    )
    .await;
    let nested = plain.replacen("<saml2:Assertion", "<saml:EncryptedAssertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"><saml2:Assertion", 1)
        .replacen(close, &format!("{close}</saml:EncryptedAssertion>"), 1);
    t.refused(
        "a plain assertion inside EncryptedAssertion",
        &nested,
        "assertion_count",
    )
    .await;

    // Required encryption: a valid plain assertion is refused, saying why.
    let integration = acs.rsplit('/').next().unwrap();
    let (status, _) = t
        .api
        .patch(
            &format!("/integrations/{integration}"),
            serde_json::json!({"require_encrypted_assertions": true}),
        )
        .await;
    assert_eq!(status, 200);
    t.refused(
        "plain where encryption is required",
        &idp::signed_xml(&spec(Signing::Both, user)),
        "encrypted_refused",
    )
    .await;
    let (_, audit) = t.api.get("/audit?kind=sign_in&limit=1").await;
    assert!(
        audit["events"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("require_encrypted_assertions"),
        "{audit}"
    );
    let good = idp::encrypted_xml(&spec(Signing::Both, user), &ours, &GCM256);
    let (status, _, session) = t.post(&acs, &[("SAMLResponse", idp::encode(&good))]).await;
    assert_eq!((status, session), (303, true), "encrypted still signs in");
}
