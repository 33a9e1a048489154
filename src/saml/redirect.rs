//! The SAML HTTP-Redirect binding (SAML Bindings §3.4.4), both ways: one
//! function builds a redirect URL for any message we send (AuthnRequest,
//! LogoutRequest, LogoutResponse), signed when asked; one verifies the
//! signature of a redirect we receive.
//!
//! The signature covers the URL-encoded query octets
//! `SAMLRequest=…&RelayState=…&SigAlg=…` (or `SAMLResponse=…`), not the XML,
//! which carries no `ds:Signature` on this binding (§3.4.4.1). A receiver
//! must check it over the octets exactly as they arrived: re-encoding the
//! decoded values may differ from how the sender encoded them (upper- or
//! lower-case hex, which characters get escaped).

use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::hash::MessageDigest;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::keys::SpSigningKey;

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// Accepted on what we receive only: IdPs still sign redirects with it.
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";

/// RFC 3986 unreserved characters stay; everything else is escaped.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Which message parameter the query carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectParam {
    /// `SAMLRequest`: AuthnRequest, LogoutRequest.
    Request,
    /// `SAMLResponse`: LogoutResponse.
    Response,
}

impl RedirectParam {
    pub fn name(self) -> &'static str {
        match self {
            RedirectParam::Request => "SAMLRequest",
            RedirectParam::Response => "SAMLResponse",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedirectError {
    #[error("the redirect query is malformed: {0}")]
    Malformed(String),
    #[error("the redirect carries no signature (SigAlg and Signature)")]
    Unsigned,
    #[error("the redirect's signature algorithm {0:?} is not accepted (RSA-SHA256 or RSA-SHA1)")]
    AlgorithmRefused(String),
    #[error("there is no certificate to verify the redirect's signature with")]
    NoCertificate,
    #[error("the redirect's signature does not verify with the peer's certificate")]
    SignatureInvalid,
    #[error("the message is larger than {0} bytes once inflated")]
    TooLarge(usize),
    #[error("cannot encode the message: {0}")]
    Encoding(String),
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Where to send the browser with `xml`: `endpoint` plus the DEFLATEd,
/// base64-encoded message, `RelayState` (when given and not empty) and,
/// with a `signer`, `SigAlg` (RSA-SHA256) and `Signature` over exactly the
/// octets before it. `endpoint` may carry a query of its own.
pub fn redirect_url(
    endpoint: &str,
    param: RedirectParam,
    xml: &str,
    relay_state: Option<&str>,
    signer: Option<&SpSigningKey>,
) -> Result<String, RedirectError> {
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater
        .write_all(xml.as_bytes())
        .map_err(|e| RedirectError::Encoding(e.to_string()))?;
    let deflated = deflater
        .finish()
        .map_err(|e| RedirectError::Encoding(e.to_string()))?;
    let mut query = format!("{}={}", param.name(), encode(&STANDARD.encode(deflated)));
    if let Some(relay) = relay_state.filter(|r| !r.is_empty()) {
        query.push_str("&RelayState=");
        query.push_str(&encode(relay));
    }
    if let Some(key) = signer {
        query.push_str("&SigAlg=");
        query.push_str(&encode(RSA_SHA256));
        let signature = key
            .sign_rsa_sha256(query.as_bytes())
            .map_err(|e| RedirectError::Encoding(e.to_string()))?;
        query.push_str("&Signature=");
        query.push_str(&encode(&STANDARD.encode(signature)));
    }
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{separator}{query}"))
}

/// A redirect whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRedirect {
    pub param: RedirectParam,
    /// The message parameter, URL-decoded: still base64 of DEFLATE (see
    /// [`inflate`]).
    pub message: String,
    pub relay_state: Option<String>,
    /// Which of the given certificates verified it.
    pub certificate_index: usize,
}

fn decoded(raw: &str) -> Result<String, RedirectError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| RedirectError::Malformed("a value is not UTF-8 once URL-decoded".into()))
}

/// Checks the signature of a received redirect over the query octets as
/// they arrived (`raw_query`: the URL after `?`, undecoded), with any of
/// `certificates` (base64 DER, as `IdpDescriptor` keeps them). RSA-SHA256
/// and RSA-SHA1 are accepted; any other `SigAlg`, a missing signature, a
/// repeated parameter or both SAMLRequest and SAMLResponse are refused.
pub fn verify_redirect_signature(
    raw_query: &str,
    certificates: &[String],
) -> Result<VerifiedRedirect, RedirectError> {
    let (mut message, mut relay, mut sig_alg, mut signature) = (None, None, None, None);
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "SAMLRequest" | "SAMLResponse" => &mut message,
            "RelayState" => &mut relay,
            "SigAlg" => &mut sig_alg,
            "Signature" => &mut signature,
            // Other parameters are not signed and not ours to read.
            _ => continue,
        };
        if slot.is_some() {
            return Err(RedirectError::Malformed(format!(
                "{} appears more than once",
                if name.starts_with("SAML") {
                    "the SAML message"
                } else {
                    name
                }
            )));
        }
        *slot = Some((name, value));
    }
    let (name, raw_message) =
        message.ok_or_else(|| RedirectError::Malformed("no SAMLRequest or SAMLResponse".into()))?;
    let param = if name == "SAMLRequest" {
        RedirectParam::Request
    } else {
        RedirectParam::Response
    };
    let (Some((_, raw_alg)), Some((_, raw_signature))) = (sig_alg, signature) else {
        return Err(RedirectError::Unsigned);
    };
    let digest = match decoded(raw_alg)?.as_str() {
        RSA_SHA256 => MessageDigest::sha256(),
        RSA_SHA1 => MessageDigest::sha1(),
        other => return Err(RedirectError::AlgorithmRefused(other.to_string())),
    };
    // The order is fixed by §3.4.4.1, whatever order the query had.
    let mut signed = format!("{name}={raw_message}");
    if let Some((_, raw_relay)) = relay {
        signed.push_str("&RelayState=");
        signed.push_str(raw_relay);
    }
    signed.push_str("&SigAlg=");
    signed.push_str(raw_alg);
    let compact: String = decoded(raw_signature)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let signature = STANDARD
        .decode(compact)
        .map_err(|_| RedirectError::Malformed("the Signature is not base64".into()))?;
    if certificates.is_empty() {
        return Err(RedirectError::NoCertificate);
    }
    let verifies = |b64: &String| -> bool {
        let Some(key) = STANDARD
            .decode(b64)
            .ok()
            .and_then(|der| openssl::x509::X509::from_der(&der).ok())
            .and_then(|cert| cert.public_key().ok())
        else {
            return false;
        };
        openssl::sign::Verifier::new(digest, &key)
            .and_then(|mut v| {
                v.update(signed.as_bytes())?;
                v.verify(&signature)
            })
            .unwrap_or(false)
    };
    let certificate_index = certificates
        .iter()
        .position(verifies)
        .ok_or(RedirectError::SignatureInvalid)?;
    Ok(VerifiedRedirect {
        param,
        message: decoded(raw_message)?,
        relay_state: relay.map(|(_, raw)| decoded(raw)).transpose()?,
        certificate_index,
    })
}

/// The XML of a redirect's message parameter (base64 of raw DEFLATE),
/// refusing more than `max_bytes` once inflated (a DEFLATE bomb stops there).
pub fn inflate(message: &str, max_bytes: usize) -> Result<String, RedirectError> {
    let compact: String = message
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let raw = STANDARD
        .decode(compact)
        .map_err(|_| RedirectError::Malformed("the message is not base64".into()))?;
    let mut xml = Vec::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut xml)
        .map_err(|_| RedirectError::Malformed("the message is not DEFLATE data".into()))?;
    if xml.len() > max_bytes {
        return Err(RedirectError::TooLarge(max_bytes));
    }
    String::from_utf8(xml).map_err(|_| RedirectError::Malformed("the message is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::keys::testing::{key, key_with_certificate};

    const XML: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0"/>"#;

    fn query(url: &str) -> &str {
        url.split_once('?').unwrap().1
    }

    #[test]
    fn a_signed_redirect_verifies_and_gives_the_message_back() {
        let (signer, certificate) = key_with_certificate();
        let url = redirect_url(
            "https://idp.example.com/sso",
            RedirectParam::Request,
            XML,
            Some("/after?x=1&y=2"),
            Some(&signer),
        )
        .unwrap();
        let q = query(&url);
        assert!(q.starts_with("SAMLRequest="), "{q}");
        assert!(q.contains("&RelayState=%2Fafter%3Fx%3D1%26y%3D2&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature="));
        let verified =
            verify_redirect_signature(q, &["bm90IGEgY2VydA==".into(), certificate]).unwrap();
        assert_eq!(verified.param, RedirectParam::Request);
        assert_eq!(verified.relay_state.as_deref(), Some("/after?x=1&y=2"));
        assert_eq!(verified.certificate_index, 1);
        assert_eq!(inflate(&verified.message, 10_000).unwrap(), XML);
        // The XML itself carries no signature on this binding.
        assert!(!inflate(&verified.message, 10_000)
            .unwrap()
            .contains("Signature"));
    }

    #[test]
    fn the_exact_received_octets_are_what_is_verified() {
        let (signer, certificate) = key_with_certificate();
        let certs = [certificate];
        let url = redirect_url(
            "https://idp.example.com/slo?tenant=a",
            RedirectParam::Response,
            XML,
            Some("r"),
            Some(&signer),
        )
        .unwrap();
        assert!(url.starts_with("https://idp.example.com/slo?tenant=a&SAMLResponse="));
        let q = query(&url);
        // Unsigned extra parameters and another order are fine.
        let sig_at = q.find("&Signature=").unwrap();
        let reordered = format!("Signature={}&tenant=a&{}", &q[sig_at + 11..], &q[..sig_at]);
        assert_eq!(
            verify_redirect_signature(&reordered, &certs).unwrap().param,
            RedirectParam::Response
        );
        // Re-encoding the same value differently is other octets: refused.
        let lower = q.replace("%2F", "%2f");
        assert_eq!(
            verify_redirect_signature(&lower, &certs),
            Err(RedirectError::SignatureInvalid)
        );
        let tampered_relay = q.replace("RelayState=r", "RelayState=s");
        assert_eq!(
            verify_redirect_signature(&tampered_relay, &certs),
            Err(RedirectError::SignatureInvalid)
        );
        let dropped_relay = q.replace("&RelayState=r", "");
        assert_eq!(
            verify_redirect_signature(&dropped_relay, &certs),
            Err(RedirectError::SignatureInvalid)
        );
        let as_request = q.replace("SAMLResponse=", "SAMLRequest=");
        assert_eq!(
            verify_redirect_signature(&as_request, &certs),
            Err(RedirectError::SignatureInvalid)
        );
        // Another key's certificate does not verify it.
        let (_, other) = key_with_certificate();
        assert_eq!(
            verify_redirect_signature(q, &[other]),
            Err(RedirectError::SignatureInvalid)
        );
        assert_eq!(
            verify_redirect_signature(q, &[]),
            Err(RedirectError::NoCertificate)
        );
    }

    #[test]
    fn rsa_sha1_is_accepted_and_other_algorithms_or_no_signature_are_refused() {
        let (signer, certificate) = key_with_certificate();
        let certs = [certificate];
        let unsigned =
            redirect_url("https://i/s", RedirectParam::Request, XML, None, None).unwrap();
        assert_eq!(
            verify_redirect_signature(query(&unsigned), &certs),
            Err(RedirectError::Unsigned)
        );
        let sign_with = |alg: &str, digest: MessageDigest| {
            let mut q = format!("{}&SigAlg={}", query(&unsigned), encode(alg));
            let mut s = openssl::sign::Signer::new(digest, &signer.private_key).unwrap();
            s.update(q.as_bytes()).unwrap();
            q.push_str("&Signature=");
            q.push_str(&encode(&STANDARD.encode(s.sign_to_vec().unwrap())));
            q
        };
        assert!(
            verify_redirect_signature(&sign_with(RSA_SHA1, MessageDigest::sha1()), &certs).is_ok()
        );
        let dsa = "http://www.w3.org/2000/09/xmldsig#dsa-sha1";
        assert_eq!(
            verify_redirect_signature(&sign_with(dsa, MessageDigest::sha1()), &certs),
            Err(RedirectError::AlgorithmRefused(dsa.into()))
        );
        // A SigAlg that says SHA-256 over a SHA-1 signature does not verify.
        let mismatched = sign_with(RSA_SHA1, MessageDigest::sha1())
            .replace(&encode(RSA_SHA1), &encode(RSA_SHA256));
        assert_eq!(
            verify_redirect_signature(&mismatched, &certs),
            Err(RedirectError::SignatureInvalid)
        );
    }

    #[test]
    fn malformed_queries_are_refused_by_name_never_a_panic() {
        let signer = key();
        let url = redirect_url(
            "https://i/s",
            RedirectParam::Request,
            XML,
            None,
            Some(&signer),
        )
        .unwrap();
        let q = query(&url);
        let certs = ["x".to_string()];
        let malformed = |q: &str| {
            matches!(
                verify_redirect_signature(q, &certs),
                Err(RedirectError::Malformed(_))
            )
        };
        assert!(malformed(""));
        assert!(malformed("RelayState=x&SigAlg=a&Signature=b"));
        assert!(malformed(&format!("{q}&SAMLRequest=again")));
        assert!(malformed(&format!("SAMLResponse=x&{q}")));
        assert!(malformed(&format!("{q}&SigAlg=again")));
        assert!(malformed(&q.replace("&Signature=", "&Signature=%%%")));
        assert!(malformed(&q.replace("&Signature=", "&Signature=%FF")));
        assert!(matches!(
            inflate("not base64!", 10),
            Err(RedirectError::Malformed(_))
        ));
        assert!(matches!(
            inflate("AAAA", 10),
            Err(RedirectError::Malformed(_))
        ));
        // A DEFLATE bomb stops at the limit.
        let mut bomb = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        bomb.write_all(&vec![b'<'; 1_000_000]).unwrap();
        let bomb = STANDARD.encode(bomb.finish().unwrap());
        assert_eq!(inflate(&bomb, 1000), Err(RedirectError::TooLarge(1000)));
    }
}
