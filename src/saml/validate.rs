//! The Assertion Consumer Service's validation pipeline. Every check is a
//! named step with its own refusal code; the identity comes only from the
//! XML the signature covers.
//!
//! An EncryptedAssertion is decrypted (`decrypt`) and then held to the
//! same steps: a Response signature that covers the EncryptedAssertion
//! vouches for what it decrypts to; otherwise the decrypted assertion is
//! put where the ciphertext was and the document goes through the gate
//! and the signature check again, as if it had arrived so.
//!
//! Steps that need shared state — InResponseTo against the pending
//! requests, the replay cache — run after this, in `saml::flow`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use openssl::pkey::{PKey, Private};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use samael::schema::{Assertion, Response};

use super::{decrypt, prefilter};
use crate::session::SamlLogin;
use crate::signin::{Identity, Refusal, RefusalCode};
use crate::store::UserProfile;

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
/// An assertion older than this is refused even if its own window is wider.
const MAX_ASSERTION_AGE_MINUTES: i64 = 10;

const ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// What the response is checked against.
pub struct Expectations<'a> {
    /// Our entity ID, which is also the ACS URL (SPEC).
    pub sp_url: &'a str,
    pub idp_entity_id: Option<&'a str>,
    /// The integration's signing certificates, base64 DER.
    pub certificates: &'a [String],
    pub clock_skew: Duration,
    pub max_bytes: usize,
    pub now: DateTime<Utc>,
    /// Our encryption keys (current, next, previous).
    pub decryption_keys: &'a [PKey<Private>],
    /// The integration refuses plain assertions.
    pub require_encrypted: bool,
}

/// A response that passed every stateless check.
#[derive(Debug, Clone)]
pub struct Validated {
    pub assertion_id: String,
    /// The request this answers (None: IdP-initiated).
    pub in_response_to: Option<String>,
    /// Until when the assertion could be presented: the replay-cache lifetime.
    pub valid_until: DateTime<Utc>,
    pub identity: Identity,
}

/// Base64 (whitespace tolerated, as IdPs wrap lines) to UTF-8 XML, bounded.
pub fn decode(encoded: &str, max_bytes: usize) -> Result<String, Refusal> {
    // Measured without the line breaks IdPs wrap base64 with (the form
    // limit already bounds the raw input).
    // Bytes, not chars: an ASCII byte is never part of a multi-byte
    // character, and anything non-ASCII fails the base64 decode anyway.
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if compact.len() > max_bytes.saturating_mul(4) / 3 + 4 {
        return Err(Refusal::new(
            RefusalCode::TooLarge,
            format!("the SAMLResponse is larger than {max_bytes} bytes"),
        ));
    }
    if compact.is_empty() {
        return Err(Refusal::new(
            RefusalCode::MissingResponse,
            "the request carried no SAMLResponse",
        ));
    }
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| Refusal::new(RefusalCode::NotBase64, "the SAMLResponse is not base64"))?;
    String::from_utf8(bytes)
        .map_err(|_| Refusal::new(RefusalCode::NotUtf8, "the SAMLResponse is not UTF-8 text"))
}

/// Verifies the signature(s) against each trusted certificate in turn and
/// returns only the signed XML, which defeats signature wrapping: with
/// `PreDigest` the very octets xmlsec digested (exclusive c14n of the
/// signed element, the Response's when both are signed); with the
/// reduction modes the document with what no signature covers removed.
fn signed_content(xml: &str, certificates: &[String], mode: ReduceMode) -> Result<String, Refusal> {
    if certificates.is_empty() {
        return Err(Refusal::new(
            RefusalCode::NoCertificate,
            "the integration has no signing certificate to verify with",
        ));
    }
    let mut last_error = String::new();
    // One certificate at a time: xmlsec stops at a key-type error rather
    // than trying the next certificate.
    for encoded in certificates {
        let Ok(der) = STANDARD.decode(encoded) else {
            continue;
        };
        let cert: CertificateDer = der.into();
        match Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            &[cert],
            mode,
            Some(ALGORITHMS),
        ) {
            Ok(reduced) => return Ok(reduced),
            Err(e) => last_error = e.to_string(),
        }
    }
    // During a rollover two signatures may be made with different trusted
    // certificates: each must verify with one of them, which takes the
    // whole set at once. (An assertion signature inside a verified Response
    // is covered by it and not checked again: vendor/README.md, patch 6.)
    if certificates.len() > 1 {
        let all: Vec<CertificateDer> = certificates
            .iter()
            .filter_map(|c| STANDARD.decode(c).ok())
            .map(CertificateDer::from)
            .collect();
        if let Ok(reduced) =
            Crypto::reduce_xml_to_signed_with_allowed_algorithms(xml, &all, mode, Some(ALGORITHMS))
        {
            return Ok(reduced);
        }
    }
    Err(Refusal::new(
        RefusalCode::SignatureInvalid,
        format!("the signature does not verify with the IdP's certificate ({last_error})"),
    ))
}

fn status_is_success(response: &Response) -> Result<(), Refusal> {
    let code = response
        .status
        .as_ref()
        .and_then(|s| s.status_code.value.as_deref());
    match code {
        Some(SUCCESS) => Ok(()),
        other => {
            let message = response
                .status
                .as_ref()
                .and_then(|s| s.status_message.as_ref())
                .and_then(|m| m.value.clone());
            Err(Refusal::new(
                RefusalCode::StatusNotSuccess,
                format!(
                    "the IdP reported {} {}",
                    other.unwrap_or("no status"),
                    message.unwrap_or_default()
                )
                .trim()
                .to_string(),
            ))
        }
    }
}

fn not_in_future(what: &str, instant: DateTime<Utc>, ex: &Expectations) -> Result<(), Refusal> {
    if instant > ex.now + ex.clock_skew {
        return Err(Refusal::new(
            RefusalCode::IssuedInFuture,
            format!("the {what} IssueInstant {instant} is in the future"),
        ));
    }
    if instant < ex.now - Duration::minutes(MAX_ASSERTION_AGE_MINUTES) - ex.clock_skew {
        return Err(Refusal::new(
            RefusalCode::Stale,
            format!("the {what} was issued at {instant}, too long ago"),
        ));
    }
    Ok(())
}

fn issuer_matches(what: &str, issuer: Option<&str>, ex: &Expectations) -> Result<(), Refusal> {
    match (ex.idp_entity_id, issuer.map(str::trim)) {
        (Some(expected), Some(got)) if got != expected => Err(Refusal::new(
            RefusalCode::IssuerMismatch,
            format!("the {what} Issuer is {got:?}, expected {expected:?}"),
        )),
        (Some(_), None) if what == "assertion" => Err(Refusal::new(
            RefusalCode::IssuerMismatch,
            "the assertion has no Issuer",
        )),
        _ => Ok(()),
    }
}

/// Response-level checks: Status, Destination, Issuer, IssueInstant.
fn check_response(response: &Response, ex: &Expectations) -> Result<(), Refusal> {
    status_is_success(response)?;
    if let Some(destination) = response.destination.as_deref() {
        if destination != ex.sp_url {
            return Err(Refusal::new(
                RefusalCode::DestinationMismatch,
                format!("the response was sent to {destination:?}, not to this integration"),
            ));
        }
    }
    issuer_matches(
        "response",
        response.issuer.as_ref().and_then(|i| i.value.as_deref()),
        ex,
    )?;
    not_in_future("response", response.issue_instant, ex)
}

fn check_assertion(
    assertion: &Assertion,
    ex: &Expectations,
) -> Result<(Option<String>, DateTime<Utc>), Refusal> {
    issuer_matches("assertion", assertion.issuer.value.as_deref(), ex)?;
    not_in_future("assertion", assertion.issue_instant, ex)?;

    let conditions = assertion.conditions.as_ref().ok_or_else(|| {
        Refusal::new(
            RefusalCode::AudienceMissing,
            "the assertion has no Conditions",
        )
    })?;
    if let Some(not_before) = conditions.not_before {
        if ex.now + ex.clock_skew < not_before {
            return Err(Refusal::new(
                RefusalCode::NotYetValid,
                format!("the assertion is valid only from {not_before}"),
            ));
        }
    }
    if let Some(not_on_or_after) = conditions.not_on_or_after {
        if ex.now - ex.clock_skew >= not_on_or_after {
            return Err(Refusal::new(
                RefusalCode::Expired,
                format!("the assertion expired at {not_on_or_after}"),
            ));
        }
    }
    let restrictions = conditions
        .audience_restrictions
        .as_deref()
        .unwrap_or_default();
    if restrictions.is_empty() {
        return Err(Refusal::new(
            RefusalCode::AudienceMissing,
            "the assertion names no Audience",
        ));
    }
    // Every AudienceRestriction must include us (SAML core 2.5.1.4).
    if let Some(other) = restrictions
        .iter()
        .find(|r| !r.audience.iter().any(|a| a.trim() == ex.sp_url))
    {
        return Err(Refusal::new(
            RefusalCode::AudienceMismatch,
            format!(
                "the assertion is meant for {:?}, not this integration",
                other.audience
            ),
        ));
    }

    let subject = assertion
        .subject
        .as_ref()
        .ok_or_else(|| Refusal::new(RefusalCode::NoSubject, "the assertion has no Subject"))?;
    let confirmations = subject.subject_confirmations.as_deref().unwrap_or_default();
    let bearers: Vec<_> = confirmations
        .iter()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .collect();
    if bearers.is_empty() {
        return Err(Refusal::new(
            RefusalCode::NoBearerConfirmation,
            "the assertion has no bearer SubjectConfirmation",
        ));
    }
    let mut last = Refusal::new(
        RefusalCode::RecipientMismatch,
        "no bearer SubjectConfirmation names this integration as Recipient",
    );
    for data in bearers {
        if data.recipient.as_deref().map(str::trim) != Some(ex.sp_url) {
            last = Refusal::new(
                RefusalCode::RecipientMismatch,
                format!(
                    "the assertion's Recipient is {:?}, not this integration",
                    data.recipient
                ),
            );
            continue;
        }
        let Some(until) = data.not_on_or_after else {
            last = Refusal::new(
                RefusalCode::ConfirmationExpired,
                "the bearer SubjectConfirmation has no NotOnOrAfter",
            );
            continue;
        };
        if ex.now - ex.clock_skew >= until {
            last = Refusal::new(
                RefusalCode::ConfirmationExpired,
                format!("the bearer confirmation expired at {until}"),
            );
            continue;
        }
        if data
            .not_before
            .is_some_and(|nb| ex.now + ex.clock_skew < nb)
        {
            last = Refusal::new(
                RefusalCode::NotYetValid,
                "the bearer confirmation is not valid yet",
            );
            continue;
        }
        let valid_until = conditions.not_on_or_after.map_or(until, |c| c.max(until));
        return Ok((data.in_response_to.clone(), valid_until));
    }
    Err(last)
}

fn first_attribute(assertion: &Assertion, names: &[&str]) -> Option<String> {
    let attributes = assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| &s.attributes);
    for wanted in names {
        for attribute in attributes.clone() {
            let matches = [
                attribute.name.as_deref(),
                attribute.friendly_name.as_deref(),
            ]
            .iter()
            .flatten()
            .any(|n| n.eq_ignore_ascii_case(wanted));
            if matches {
                if let Some(value) = attribute
                    .values
                    .iter()
                    .filter_map(|v| v.value.as_deref())
                    .map(str::trim)
                    .find(|v| !v.is_empty())
                {
                    return Some(value.to_string());
                }
            }
        }
    }
    None
}

const EMAIL_ATTRIBUTES: &[&str] = &[
    "email",
    "mail",
    "emailaddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
];
const GIVEN_NAME_ATTRIBUTES: &[&str] = &[
    "firstName",
    "givenName",
    "given_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "urn:oid:2.5.4.42",
];
const FAMILY_NAME_ATTRIBUTES: &[&str] = &[
    "lastName",
    "surname",
    "sn",
    "familyName",
    "family_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "urn:oid:2.5.4.4",
];
const DISPLAY_NAME_ATTRIBUTES: &[&str] = &[
    "displayName",
    "name",
    "http://schemas.microsoft.com/identity/claims/displayname",
    "urn:oid:2.16.840.1.113730.3.1.241",
];

/// The SessionIndex the IdP gave this login (its first AuthnStatement's).
fn session_index(assertion: &Assertion) -> Option<String> {
    assertion
        .authn_statements
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find_map(|s| s.session_index.clone())
        .filter(|s| !s.is_empty())
}

fn identity(assertion: &Assertion) -> Result<Identity, Refusal> {
    let name_id = assertion.subject.as_ref().and_then(|s| s.name_id.as_ref());
    let subject = name_id
        .map(|n| n.value.trim().to_string())
        .filter(|v| !v.is_empty());
    let name_id_email = name_id
        .filter(|n| n.format.as_deref() == Some(EMAIL_FORMAT) || n.value.contains('@'))
        .map(|n| n.value.trim().to_string());
    let email = name_id_email
        .filter(|e| e.contains('@'))
        .or_else(|| first_attribute(assertion, EMAIL_ATTRIBUTES));
    let subject = subject.or_else(|| email.clone()).ok_or_else(|| {
        Refusal::new(
            RefusalCode::NoSubject,
            "the assertion names nobody (no NameID, no email)",
        )
    })?;
    let saml = SamlLogin {
        name_id: subject.clone(),
        name_id_format: name_id.and_then(|n| n.format.clone()),
        session_index: session_index(assertion),
    };
    Ok(Identity {
        subject,
        email,
        profile: UserProfile {
            given_name: first_attribute(assertion, GIVEN_NAME_ATTRIBUTES),
            family_name: first_attribute(assertion, FAMILY_NAME_ATTRIBUTES),
            display_name: first_attribute(assertion, DISPLAY_NAME_ATTRIBUTES),
        },
        saml: Some(saml),
        attributes: all_attributes(assertion),
        ..Identity::default()
    })
}

/// A Single Logout message on the POST binding: the gate, then its
/// enveloped signature with the IdP's certificates. Returns the signed
/// part, which must be the whole message.
pub fn signed_logout_message(
    xml: &str,
    message: prefilter::Message,
    certificates: &[String],
) -> Result<String, Refusal> {
    prefilter::check_logout(xml, message)?;
    // Logout messages are rare: they keep the reduction they were tested with.
    let signed = signed_content(xml, certificates, ReduceMode::ValidateAndMarkNoAncestors)?;
    let expected = message.root();
    if root_name(&signed).as_deref() != Some(expected) {
        return Err(Refusal::new(
            RefusalCode::SignatureInvalid,
            format!("the signature does not cover the {expected}"),
        ));
    }
    Ok(signed)
}

/// Every attribute by Name with all its values, for settings that name
/// one (`groups_attribute`); the response size bounds them.
fn all_attributes(assertion: &Assertion) -> Vec<(String, Vec<String>)> {
    assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| &s.attributes)
        .filter_map(|a| {
            let values = a.values.iter().filter_map(|v| v.value.clone()).collect();
            Some((a.name.clone()?, values))
        })
        .collect()
}

/// The local name of the document's root element.
fn root_name(xml: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event().ok()? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

/// What the signature vouches for: the assertion, the Response's
/// InResponseTo, and whether the Response itself is signed.
struct Signed {
    assertion: Assertion,
    response_in_response_to: Option<String>,
    response_signed: bool,
}

/// The one refusal for everything that can go wrong between ciphertext
/// and a verified assertion (see `decrypt`).
fn undecryptable() -> Refusal {
    Refusal::new(
        RefusalCode::EncryptedRefused,
        "the encrypted assertion could not be decrypted and verified with this integration's keys \
         (is the IdP encrypting to the certificate in our current SP metadata, and signing?)",
    )
}

fn parse_envelope(xml: &str) -> Result<Response, Refusal> {
    xml.parse().map_err(|e| {
        Refusal::new(
            RefusalCode::NotAResponse,
            format!("not a SAML Response: {e}"),
        )
    })
}

/// Verifies the signature(s) of a document with a plain assertion and
/// reads what they cover; Response-level checks are done on the way.
fn verify_plain(xml: &str, ex: &Expectations, mode: ReduceMode) -> Result<Signed, Refusal> {
    // The whole message, as sent, for Response-level checks when only the
    // assertion is signed; identity never comes from it.
    let envelope = parse_envelope(xml)?;
    status_is_success(&envelope)?;
    let signed = signed_content(xml, ex.certificates, mode)?;
    read_signed(&signed, &envelope, ex)
}

/// Reads what a verified signature covers (`signed`, samael's reduction).
fn read_signed(signed: &str, envelope: &Response, ex: &Expectations) -> Result<Signed, Refusal> {
    // serde ignores the root element's name, so look at it before parsing.
    match root_name(signed).as_deref() {
        Some("Response") => {
            let response: Response = signed.parse().map_err(|e| {
                Refusal::new(
                    RefusalCode::SignatureInvalid,
                    format!("the signed response is unreadable: {e}"),
                )
            })?;
            check_response(&response, ex)?;
            let assertion = response.assertion.ok_or_else(|| {
                Refusal::new(
                    RefusalCode::AssertionCount,
                    "the signed response holds no assertion",
                )
            })?;
            Ok(Signed {
                assertion,
                response_in_response_to: response.in_response_to,
                response_signed: true,
            })
        }
        Some("Assertion") => {
            let assertion: Assertion = signed.parse().map_err(|e| {
                Refusal::new(
                    RefusalCode::SignatureInvalid,
                    format!("the signed assertion is unreadable: {e}"),
                )
            })?;
            check_response(envelope, ex)?;
            Ok(Signed {
                assertion,
                response_in_response_to: envelope.in_response_to.clone(),
                response_signed: false,
            })
        }
        _ => Err(Refusal::new(
            RefusalCode::SignatureInvalid,
            "the signature covers neither the Response nor the Assertion",
        )),
    }
}

/// `xml` with its EncryptedAssertion replaced by the assertion it holds.
fn decrypted_document(xml: &str, ex: &Expectations) -> Result<String, Refusal> {
    let encrypted = decrypt::find(xml).ok_or_else(undecryptable)?;
    let plaintext = decrypt::decrypt(&encrypted, ex.decryption_keys).ok_or_else(undecryptable)?;
    let (before, after) = (&xml[..encrypted.span.start], &xml[encrypted.span.end..]);
    Ok(format!("{before}{plaintext}{after}"))
}

/// Decrypts and verifies a document with an EncryptedAssertion.
fn verify_encrypted(
    xml: &str,
    shape: &prefilter::Shape,
    ex: &Expectations,
    mode: ReduceMode,
) -> Result<Signed, Refusal> {
    // samael reads the encryption elements too (an empty CipherValue is
    // unreadable to it): that is the same refusal as well.
    let envelope = parse_envelope(xml).map_err(|_| undecryptable())?;
    status_is_success(&envelope)?;
    // Encrypt-then-sign: a Response signature over the ciphertext. Only
    // what that signature covers (samael's reduction) is decrypted, so a
    // ciphertext slipped in beside the signed content is never read.
    if shape.signatures > 0 {
        if let Ok(signed) = signed_content(xml, ex.certificates, mode) {
            if root_name(&signed).as_deref() == Some("Response") {
                let document = decrypted_document(&signed, ex)?;
                // The decrypted assertion passes the same gate (DOCTYPE,
                // comments, one assertion …) as one that came plain.
                let shape = prefilter::structure(&document).map_err(|_| undecryptable())?;
                if shape.encrypted {
                    return Err(undecryptable());
                }
                let response: Response = document.parse().map_err(|_| undecryptable())?;
                check_response(&response, ex)?;
                let assertion = response.assertion.ok_or_else(undecryptable)?;
                return Ok(Signed {
                    assertion,
                    response_in_response_to: response.in_response_to,
                    response_signed: true,
                });
            }
        }
    }
    // Sign-then-encrypt: the signature is inside. The decrypted document
    // must verify as a plain one would; until it has, every failure is the
    // same refusal (a padding or parse error must not be told apart from a
    // bad signature).
    let document = decrypted_document(xml, ex)?;
    let shape = prefilter::check(&document).map_err(|_| undecryptable())?;
    let envelope = parse_envelope(&document).map_err(|_| undecryptable())?;
    if shape.encrypted {
        return Err(undecryptable());
    }
    let signed = signed_content(&document, ex.certificates, mode).map_err(|_| undecryptable())?;
    read_signed(&signed, &envelope, ex)
}

/// Runs every stateless step on a decoded response.
pub fn validate(xml: &str, ex: &Expectations) -> Result<Validated, Refusal> {
    validate_with(xml, ex, ReduceMode::PreDigest)
}

/// `validate`, reading what the signatures cover as `mode` returns it:
/// tests/saml_differential.rs runs the reduction the ACS used before
/// beside `PreDigest` on mutated responses.
pub fn validate_with(xml: &str, ex: &Expectations, mode: ReduceMode) -> Result<Validated, Refusal> {
    if xml.len() > ex.max_bytes {
        return Err(Refusal::new(
            RefusalCode::TooLarge,
            format!("the SAMLResponse is larger than {} bytes", ex.max_bytes),
        ));
    }
    let shape = prefilter::check(xml)?;
    let Signed {
        assertion,
        response_in_response_to: response_irt,
        response_signed,
    } = if shape.encrypted {
        verify_encrypted(xml, &shape, ex, mode)?
    } else if ex.require_encrypted {
        return Err(Refusal::new(
            RefusalCode::EncryptedRefused,
            "this integration requires encrypted assertions (require_encrypted_assertions); \
             turn assertion encryption on in the IdP",
        ));
    } else {
        verify_plain(xml, ex, mode)?
    };
    let (confirmation_irt, valid_until) = check_assertion(&assertion, ex)?;
    let in_response_to = match (response_irt, confirmation_irt) {
        (Some(a), Some(b)) if a != b => {
            return Err(Refusal::new(
                RefusalCode::InResponseToMismatch,
                "the response and the assertion answer different requests",
            ))
        }
        // Only the assertion is signed and it answers no request: an
        // InResponseTo on the unsigned envelope could be anyone's, so it
        // must not turn an unsolicited assertion into a solicited one.
        (Some(_), None) if !response_signed => {
            return Err(Refusal::new(
                RefusalCode::InResponseToMismatch,
                "the InResponseTo is not covered by the signature",
            ))
        }
        (a, b) => a.or(b),
    };
    Ok(Validated {
        assertion_id: assertion.id.clone(),
        in_response_to,
        valid_until,
        identity: identity(&assertion)?,
    })
}
