//! A real SAML IdP on loopback, Okta-shaped: it serves metadata over HTTP,
//! answers AuthnRequests (HTTP-Redirect) with a signed Response in an
//! auto-post form, and signs IdP-initiated responses — RSA-SHA256 with the
//! throw-away key in `fixtures/certs`, through xmlsec (samael). Once told
//! our SP metadata (`trust_sp`), it encrypts assertions to the encryption
//! certificate published there and checks signed AuthnRequests with the
//! signing certificate, as an IdP configured from SP metadata does.

use std::io::Read;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{Duration, Utc};
use samael::attribute::{Attribute, AttributeValue};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use samael::schema::{
    Assertion, AttributeStatement, AudienceRestriction, AuthnContext, AuthnContextClassRef,
    AuthnRequest, AuthnStatement, Conditions, Issuer, Response, Status, StatusCode, Subject,
    SubjectConfirmation, SubjectConfirmationData, SubjectNameID,
};
use samael::signature::{DigestAlgorithm, Signature};
use samael::traits::ToXml;

pub const KEY_PEM: &str = include_str!("../../fixtures/certs/idp-key.pem");
pub const CERT_PEM: &str = include_str!("../../fixtures/certs/idp-cert.pem");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Assertion,
    Response,
    Both,
}

/// Everything a response can vary in; `ok` gives a valid one.
#[derive(Debug, Clone)]
pub struct Spec {
    pub issuer: String,
    pub sp_url: String,
    pub audience: Option<String>,
    pub recipient: String,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub name_id_format: String,
    pub status: String,
    pub issue_offset: Duration,
    pub not_before_offset: Duration,
    pub not_on_or_after_offset: Duration,
    pub signing: Signing,
}

impl Spec {
    pub fn ok(issuer: &str, sp_url: &str, email: &str) -> Spec {
        Spec {
            issuer: issuer.to_string(),
            sp_url: sp_url.to_string(),
            audience: Some(sp_url.to_string()),
            recipient: sp_url.to_string(),
            destination: Some(sp_url.to_string()),
            in_response_to: None,
            email: email.to_string(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            issue_offset: Duration::zero(),
            not_before_offset: Duration::seconds(-30),
            not_on_or_after_offset: Duration::minutes(5),
            signing: Signing::Both,
        }
    }
}

/// samael writes text content as given: escape it here.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn cert_der() -> CertificateDer {
    let b64: String = CERT_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(b64).unwrap().into()
}

/// The IdP's signing key (DER).
pub fn key_der() -> Vec<u8> {
    let key = openssl::pkey::PKey::private_key_from_pem(KEY_PEM.as_bytes()).unwrap();
    key.rsa().unwrap().private_key_to_der().unwrap()
}

/// samael's template digests with SHA-1; the gateway (rightly) wants SHA-256.
fn signature_template(reference_id: &str) -> Signature {
    let mut s = Signature::template(reference_id, &cert_der());
    for r in &mut s.signed_info.reference {
        r.digest_method.algorithm = DigestAlgorithm::Sha256;
    }
    s
}

fn build(spec: &Spec, sign_assertion: bool, sign_response: bool) -> Response {
    let now = Utc::now() + spec.issue_offset;
    let response_id = format!("_r{}", uuid::Uuid::new_v4().simple());
    let assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    let issuer = Issuer {
        value: Some(esc(&spec.issuer)),
        format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:entity".into()),
        ..Default::default()
    };
    let attr = |name: &str, v: &str| Attribute {
        friendly_name: None,
        name: Some(name.into()),
        name_format: Some("urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified".into()),
        values: vec![AttributeValue {
            attribute_type: Some("xs:string".into()),
            value: Some(esc(v)),
        }],
    };
    let real_now = Utc::now();
    let assertion = Assertion {
        id: assertion_id.clone(),
        issue_instant: now,
        version: "2.0".into(),
        issuer: issuer.clone(),
        signature: sign_assertion.then(|| signature_template(&assertion_id)),
        subject: Some(Subject {
            name_id: Some(SubjectNameID {
                format: Some(spec.name_id_format.clone()),
                value: esc(&spec.email),
            }),
            subject_confirmations: Some(vec![SubjectConfirmation {
                method: Some("urn:oasis:names:tc:SAML:2.0:cm:bearer".into()),
                name_id: None,
                subject_confirmation_data: Some(SubjectConfirmationData {
                    not_before: None,
                    not_on_or_after: Some(real_now + spec.not_on_or_after_offset),
                    recipient: Some(esc(&spec.recipient)),
                    in_response_to: spec.in_response_to.as_deref().map(esc),
                    address: None,
                    content: None,
                }),
            }]),
        }),
        conditions: Some(Conditions {
            not_before: Some(real_now + spec.not_before_offset),
            not_on_or_after: Some(real_now + spec.not_on_or_after_offset),
            audience_restrictions: spec.audience.as_deref().map(|a| {
                vec![AudienceRestriction {
                    audience: vec![esc(a)],
                }]
            }),
            one_time_use: None,
            proxy_restriction: None,
        }),
        authn_statements: Some(vec![AuthnStatement {
            authn_instant: Some(now),
            session_index: Some(assertion_id.clone()),
            session_not_on_or_after: None,
            subject_locality: None,
            authn_context: Some(AuthnContext {
                value: Some(AuthnContextClassRef {
                    value: Some(
                        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into(),
                    ),
                }),
            }),
        }]),
        attribute_statements: Some(vec![AttributeStatement {
            attributes: vec![
                attr("firstName", &spec.first_name),
                attr("lastName", &spec.last_name),
                attr("email", &spec.email),
            ],
        }]),
    };
    Response {
        id: response_id.clone(),
        in_response_to: spec.in_response_to.as_deref().map(esc),
        version: "2.0".into(),
        issue_instant: now,
        destination: spec.destination.as_deref().map(esc),
        consent: None,
        issuer: Some(issuer),
        signature: sign_response.then(|| signature_template(&response_id)),
        status: Some(Status {
            status_code: StatusCode {
                value: Some(spec.status.clone()),
            },
            status_message: None,
            status_detail: None,
        }),
        encrypted_assertion: None,
        assertion: Some(assertion),
    }
}

/// The unsigned XML of a response (for crafting attacks).
pub fn unsigned_xml(spec: &Spec) -> String {
    build(spec, false, false).to_string().unwrap()
}

/// A signed response as the IdP would send it.
pub fn signed_xml(spec: &Spec) -> String {
    let key = key_der();
    match spec.signing {
        Signing::Assertion => {
            Crypto::sign_xml(build(spec, true, false).to_string().unwrap(), &key).unwrap()
        }
        Signing::Response => {
            Crypto::sign_xml(build(spec, false, true).to_string().unwrap(), &key).unwrap()
        }
        Signing::Both => signed_both_by(spec, &key, &key),
    }
}

/// Response and Assertion both signed, each by its own key (DER), as an IdP
/// may do half-way through a key rollover.
pub fn signed_both_by(spec: &Spec, assertion_key: &[u8], response_key: &[u8]) -> String {
    // xmlsec signs the first template in document order: the assertion
    // first, then splice in the response's and sign again.
    let response = build(spec, true, false);
    let mut xml = Crypto::sign_xml(response.to_string().unwrap(), assertion_key).unwrap();
    let template = signature_template(&response.id).to_string().unwrap();
    let at = xml.find("</saml2:Issuer>").unwrap() + "</saml2:Issuer>".len();
    xml.insert_str(at, &template);
    Crypto::sign_xml(xml, response_key).unwrap()
}

/// An assertion-signed response whose unsigned form (signature template
/// included) `mutate` may change before the IdP key signs it.
pub fn signed_xml_with(spec: &Spec, mutate: impl Fn(String) -> String) -> String {
    let unsigned = build(spec, true, false).to_string().unwrap();
    Crypto::sign_xml(mutate(unsigned), &key_der()).unwrap()
}

/// `xml` (whose root has ID `id`) with an enveloped signature by `key`
/// (DER) inserted after its Issuer: a POST-binding message as an IdP
/// signs it.
pub fn sign_message(xml: &str, id: &str, key: &[u8]) -> String {
    let template = signature_template(id).to_string().unwrap();
    let at = xml.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let mut xml = xml.to_string();
    xml.insert_str(at, &template);
    Crypto::sign_xml(xml, key).unwrap()
}

/// A fresh self-signed certificate (PEM) and its key, e.g. for a rollover.
pub fn new_key_and_certificate(cn: &str) -> (openssl::pkey::PKey<openssl::pkey::Private>, String) {
    new_key_and_certificate_for_days(cn, 20)
}

/// As [`new_key_and_certificate`], valid for `days` from now.
pub fn new_key_and_certificate_for_days(
    cn: &str,
    days: u32,
) -> (openssl::pkey::PKey<openssl::pkey::Private>, String) {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509::X509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut builder = X509::builder().unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(days).unwrap())
        .unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let pem = String::from_utf8(builder.build().to_pem().unwrap()).unwrap();
    (key, pem)
}

/// Signs like the IdP but with another key, carrying that key's certificate
/// in KeyInfo (an attacker's self-made "IdP").
pub fn signed_by_attacker(spec: &Spec) -> String {
    let (key, pem) = new_key_and_certificate("attacker");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let cert: CertificateDer = STANDARD.decode(b64).unwrap().into();
    let mut response = build(spec, false, false);
    let assertion = response.assertion.as_mut().unwrap();
    let mut template = Signature::template(&assertion.id, &cert);
    for r in &mut template.signed_info.reference {
        r.digest_method.algorithm = DigestAlgorithm::Sha256;
    }
    assertion.signature = Some(template);
    Crypto::sign_xml(
        response.to_string().unwrap(),
        &key.rsa().unwrap().private_key_to_der().unwrap(),
    )
    .unwrap()
}

/// The response with its assertion (as `xml` has it, signed or not)
/// replaced by an EncryptedAssertion to `certificate` (base64 DER).
pub fn encrypt_assertion_in(
    xml: &str,
    certificate: &str,
    how: &super::xmlenc::Encryption,
) -> String {
    let start = xml.find("<saml2:Assertion").unwrap();
    let close = "</saml2:Assertion>";
    let end = xml[start..].find(close).unwrap() + start + close.len();
    let mut assertion = xml[start..end].to_string();
    // Encrypted alone, the element must declare its own prefix.
    if !assertion[..assertion.find('>').unwrap()].contains("xmlns:saml2=") {
        assertion.insert_str(
            "<saml2:Assertion".len(),
            r#" xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion""#,
        );
    }
    let encrypted = super::xmlenc::encrypt(&assertion, certificate, how);
    format!("{}{encrypted}{}", &xml[..start], &xml[end..])
}

/// A response as an IdP with assertion encryption on sends it: the
/// assertion signed (if `spec.signing` says so), then encrypted to
/// `certificate`, then the Response signed over the ciphertext (if so).
pub fn encrypted_xml(spec: &Spec, certificate: &str, how: &super::xmlenc::Encryption) -> String {
    let key = key_der();
    let sign_assertion = matches!(spec.signing, Signing::Assertion | Signing::Both);
    let response = build(spec, sign_assertion, false);
    let mut xml = response.to_string().unwrap();
    if sign_assertion {
        xml = Crypto::sign_xml(xml, &key).unwrap();
    }
    xml = encrypt_assertion_in(&xml, certificate, how);
    if matches!(spec.signing, Signing::Response | Signing::Both) {
        let template = signature_template(&response.id).to_string().unwrap();
        let at = xml.find("</saml2:Issuer>").unwrap() + "</saml2:Issuer>".len();
        xml.insert_str(at, &template);
        xml = Crypto::sign_xml(xml, &key).unwrap();
    }
    xml
}

/// The first certificate of `use` ("signing" or "encryption") in SP
/// metadata, base64 DER.
pub fn sp_certificate(sp_metadata: &str, key_use: &str) -> String {
    let at = sp_metadata
        .find(&format!("use=\"{key_use}\""))
        .unwrap_or_else(|| panic!("no {key_use} key in {sp_metadata}"));
    let rest = &sp_metadata[at..];
    let start = rest.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = rest[start..].find('<').unwrap() + start;
    rest[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Whether a redirect query carries a valid RSA-SHA256 signature by
/// `certificate` over `SAMLRequest=…&RelayState=…&SigAlg=…` as received
/// (checked here independently of the gateway's own verifier).
pub fn redirect_signed_by(raw_query: &str, certificate: &str) -> bool {
    let part = |name: &str| {
        raw_query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
    };
    let (Some(alg), Some(signature)) = (part("SigAlg"), part("Signature")) else {
        return false;
    };
    assert_eq!(
        alg,
        "http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
    );
    let mut signed = format!("SAMLRequest={}", part("SAMLRequest").unwrap());
    if let Some(relay) = part("RelayState") {
        signed.push_str(&format!("&RelayState={relay}"));
    }
    signed.push_str(&format!("&SigAlg={alg}"));
    let signature = STANDARD
        .decode(
            percent_encoding::percent_decode_str(signature)
                .decode_utf8()
                .unwrap()
                .as_ref(),
        )
        .unwrap();
    let cert = openssl::x509::X509::from_der(&STANDARD.decode(certificate).unwrap()).unwrap();
    let key = cert.public_key().unwrap();
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    verifier.update(signed.as_bytes()).unwrap();
    verifier.verify(&signature).unwrap()
}

pub fn encode(xml: &str) -> String {
    STANDARD.encode(xml.as_bytes())
}

pub fn metadata_xml(entity_id: &str, sso_url: &str, cert_pem: &str) -> String {
    let cert: String = cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso_url}"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso_url}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// Who the IdP signs in next, and how it signs.
#[derive(Debug, Clone)]
pub struct Account {
    pub email: String,
    pub signing: Signing,
}

/// What the IdP learnt from our SP metadata (`trust_sp`).
#[derive(Debug, Clone, Default)]
pub struct SpTrust {
    /// Encrypt assertions to this certificate (base64 DER).
    pub encryption_certificate: Option<String>,
    /// Check AuthnRequest signatures with this one.
    pub signing_certificate: Option<String>,
    /// How the last AuthnRequest came: None unsigned, Some(verified).
    pub last_request_signature: Option<bool>,
}

pub struct TestIdp {
    pub base: String,
    pub entity_id: String,
    account: Arc<Mutex<Account>>,
    pub sp: Arc<Mutex<SpTrust>>,
    /// What `/metadata` serves; `None` answers 500.
    metadata: Arc<Mutex<Option<String>>>,
    server: actix_web::dev::ServerHandle,
}

#[derive(serde::Deserialize)]
struct SsoQuery {
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn inflate(encoded: &str) -> String {
    let raw = STANDARD.decode(encoded).unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .read_to_string(&mut out)
        .unwrap();
    out
}

impl TestIdp {
    pub async fn start(email: &str) -> TestIdp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        // Okta's shape: http://www.okta.com/{app id}
        let entity_id = format!("http://www.okta.com/exk{}", uuid::Uuid::new_v4().simple());
        let account = Arc::new(Mutex::new(Account {
            email: email.to_string(),
            signing: Signing::Both,
        }));
        let metadata = Arc::new(Mutex::new(Some(metadata_xml(
            &entity_id,
            &format!("{base}/sso"),
            CERT_PEM,
        ))));
        let sp = Arc::new(Mutex::new(SpTrust::default()));
        let (meta, sso_base, issuer, shared, trust) = (
            metadata.clone(),
            base.clone(),
            entity_id.clone(),
            account.clone(),
            sp.clone(),
        );
        let server = HttpServer::new(move || {
            let (meta, issuer, shared, _sso, trust) = (
                meta.clone(),
                issuer.clone(),
                shared.clone(),
                sso_base.clone(),
                trust.clone(),
            );
            App::new()
                .route(
                    "/metadata",
                    web::get().to(move || {
                        let current = meta.lock().unwrap().clone();
                        async move {
                            match current {
                                Some(xml) => {
                                    HttpResponse::Ok().content_type("application/xml").body(xml)
                                }
                                None => HttpResponse::InternalServerError().body("down"),
                            }
                        }
                    }),
                )
                .route(
                    "/sso",
                    web::get().to(
                        move |q: web::Query<SsoQuery>, req: actix_web::HttpRequest| {
                            let (issuer, shared, trust) =
                                (issuer.clone(), shared.clone(), trust.clone());
                            async move {
                                let request: AuthnRequest =
                                    inflate(&q.saml_request).parse().unwrap();
                                assert!(
                                    request.signature.is_none(),
                                    "no XML signature on a redirect"
                                );
                                let acs = request.assertion_consumer_service_url.clone().unwrap();
                                let account = shared.lock().unwrap().clone();
                                let mut spec = Spec::ok(&issuer, &acs, &account.email);
                                spec.in_response_to = Some(request.id.clone());
                                spec.signing = account.signing;
                                let mut sp = trust.lock().unwrap();
                                sp.last_request_signature =
                                    req.query_string().contains("Signature=").then(|| {
                                        sp.signing_certificate.as_deref().is_some_and(|c| {
                                            redirect_signed_by(req.query_string(), c)
                                        })
                                    });
                                let xml = match &sp.encryption_certificate {
                                    Some(cert) => {
                                        encrypted_xml(&spec, cert, &super::xmlenc::CBC128)
                                    }
                                    None => signed_xml(&spec),
                                };
                                drop(sp);
                                let form =
                                    auto_post_form(&acs, &encode(&xml), q.relay_state.as_deref());
                                HttpResponse::Ok().content_type("text/html").body(form)
                            }
                        },
                    ),
                )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        TestIdp {
            base,
            entity_id,
            account,
            sp,
            metadata,
            server: handle,
        }
    }

    /// Configures the IdP from our SP metadata: encrypt assertions to its
    /// encryption certificate, check AuthnRequests with its signing one.
    pub async fn trust_sp(&self, sp_metadata_url: &str) {
        let xml = reqwest::get(sp_metadata_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut sp = self.sp.lock().unwrap();
        sp.encryption_certificate = Some(sp_certificate(&xml, "encryption"));
        sp.signing_certificate = Some(sp_certificate(&xml, "signing"));
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/metadata", self.base)
    }

    /// Publishes metadata with these certificates (PEM blocks), or breaks
    /// the metadata endpoint with `None`.
    pub fn publish_certificates(&self, pems: Option<&[&str]>) {
        *self.metadata.lock().unwrap() = pems.map(|pems| {
            let one = metadata_xml(&self.entity_id, &format!("{}/sso", self.base), pems[0]);
            let key = |pem: &str| {
                let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
                format!(r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#)
            };
            let extra: String = pems[1..].iter().map(|p| key(p)).collect();
            one.replace("<md:NameIDFormat>", &format!("{extra}<md:NameIDFormat>"))
        });
    }

    /// Its metadata asks for signed AuthnRequests from now on.
    pub fn want_signed_requests(&self) {
        let mut metadata = self.metadata.lock().unwrap();
        *metadata = metadata.as_ref().map(|m| {
            m.replace(
                "WantAuthnRequestsSigned=\"false\"",
                "WantAuthnRequestsSigned=\"true\"",
            )
        });
    }

    pub fn set_account(&self, email: &str, signing: Signing) {
        *self.account.lock().unwrap() = Account {
            email: email.to_string(),
            signing,
        };
    }

    /// A valid IdP-initiated response for the integration at `sp_url`.
    pub fn spec(&self, sp_url: &str, email: &str) -> Spec {
        Spec::ok(&self.entity_id, sp_url, email)
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        let handle = self.server.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// What Okta serves: a form that posts the response to the ACS.
pub fn auto_post_form(acs: &str, saml_response: &str, relay_state: Option<&str>) -> String {
    let relay = relay_state
        .map(|r| {
            format!(
                r#"<input type="hidden" name="RelayState" value="{}"/>"#,
                esc(r)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<html><body onload="document.forms[0].submit()"><form method="post" action="{}"><input type="hidden" name="SAMLResponse" value="{}"/>{relay}</form></body></html>"#,
        esc(acs),
        saml_response
    )
}

/// Reads an auto-post form back: (action, fields).
pub fn parse_form(html: &str) -> (String, Vec<(String, String)>) {
    let unesc = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(unesc(&tag[start..end]))
    };
    let form_tag = &html[html.find("<form").unwrap()..];
    let action = attr(&form_tag[..form_tag.find('>').unwrap()], "action").unwrap();
    let mut fields = Vec::new();
    for piece in html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap()];
        fields.push((
            attr(tag, "name").unwrap(),
            attr(tag, "value").unwrap_or_default(),
        ));
    }
    (action, fields)
}

/// Starts a sign-in at `start` and returns the IdP's auto-post form
/// (action and fields), as a browser would see it.
pub async fn idp_form(browser: &reqwest::Client, start: &str) -> (String, Vec<(String, String)>) {
    let to_idp = browser.get(start).send().await.unwrap();
    assert_eq!(to_idp.status(), 302, "{}", to_idp.text().await.unwrap());
    let idp_url = to_idp.headers()["location"].to_str().unwrap().to_string();
    assert!(idp_url.contains("SAMLRequest="), "{idp_url}");
    let page = browser
        .get(&idp_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_form(&page)
}

/// A whole SP-initiated sign-in through the IdP; returns the gateway's
/// answer to the posted assertion.
pub async fn browser_sign_in(
    gw: &super::Gateway,
    browser: &reqwest::Client,
    start: &str,
) -> reqwest::Response {
    let (action, fields) = idp_form(browser, start).await;
    assert!(action.starts_with(&gw.base));
    browser.post(&action).form(&fields).send().await.unwrap()
}
