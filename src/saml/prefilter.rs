//! A structural gate every SAMLResponse passes before any XML security
//! library sees it.
//!
//! xmlsec resolves every `ds:Reference` (any URI scheme, any transform,
//! XSLT and XPath included) *before* it checks the signature value, libxml
//! honours DOCTYPEs and exotic encodings, and c14n drops comments (the
//! CVE-2017-11427 family). samael enables none of xmlsec's restrictions, so
//! this gate allows only the shapes real IdPs send: one Response holding
//! exactly one Assertion or one EncryptedAssertion, at most two enveloped
//! signatures with same-document references, the canonicalization
//! transforms, and SHA-2 algorithms. Inside an EncryptedAssertion the
//! encryption's own DigestMethod (OAEP, SHA-1 by default) and
//! RetrievalMethod (to a sibling EncryptedKey, never dereferenced) are
//! `decrypt`'s to judge; the decrypted document passes this gate again.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::signin::{Refusal, RefusalCode};

const ALLOWED_TRANSFORMS: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
];

/// Accepted SignatureMethod algorithms (SHA-1 and DSA are refused).
pub const ALLOWED_SIGNATURE_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];

const ALLOWED_DIGESTS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// What the gate learnt on the way through.
#[derive(Debug, Default)]
pub struct Shape {
    pub signatures: usize,
    /// The assertion is an EncryptedAssertion.
    pub encrypted: bool,
}

fn attr(e: &BytesStart, name: &str) -> Result<Option<String>, Refusal> {
    match e.try_get_attribute(name) {
        Ok(Some(a)) => a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(|v| Some(v.into_owned()))
            .map_err(|err| {
                Refusal::new(
                    RefusalCode::XmlMalformed,
                    format!("bad attribute {name}: {err}"),
                )
            }),
        Ok(None) => Ok(None),
        Err(err) => Err(Refusal::new(
            RefusalCode::XmlMalformed,
            format!("bad attribute: {err}"),
        )),
    }
}

/// An `#id` reference to an element of this document, and nothing else.
fn same_document_reference(uri: &str) -> bool {
    uri.strip_prefix('#').is_some_and(|id| {
        !id.is_empty()
            && id
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    })
}

/// The gate, refusing a message in which nothing is signed.
pub fn check(xml: &str) -> Result<Shape, Refusal> {
    let shape = structure(xml)?;
    // An encrypted assertion may carry its signature inside: the
    // decrypted document passes this gate again.
    if shape.signatures == 0 && !shape.encrypted {
        return Err(Refusal::new(
            RefusalCode::Unsigned,
            "neither the response nor the assertion is signed",
        ));
    }
    Ok(shape)
}

/// Which SAML message a document must be: its root element, and how many
/// assertions it holds (a Response one, a logout message none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Response,
    LogoutRequest,
    LogoutResponse,
}

impl Message {
    pub fn root(self) -> &'static str {
        match self {
            Message::Response => "Response",
            Message::LogoutRequest => "LogoutRequest",
            Message::LogoutResponse => "LogoutResponse",
        }
    }

    fn assertions(self) -> usize {
        match self {
            Message::Response => 1,
            Message::LogoutRequest | Message::LogoutResponse => 0,
        }
    }
}

/// The gate for a Single Logout message on the POST binding: the same
/// rules, one enveloped signature required.
pub fn check_logout(xml: &str, message: Message) -> Result<Shape, Refusal> {
    let shape = structure_of(xml, message)?;
    if shape.signatures != 1 {
        return Err(Refusal::new(
            RefusalCode::Unsigned,
            format!("the {} must carry exactly one signature", message.root()),
        ));
    }
    Ok(shape)
}

/// The gate without the signature count: for what a verified signature
/// already covers (samael's reduction drops the signature element itself).
pub fn structure(xml: &str) -> Result<Shape, Refusal> {
    structure_of(xml, Message::Response)
}

fn structure_of(xml: &str, message: Message) -> Result<Shape, Refusal> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut shape = Shape::default();
    let (mut assertions, mut signed_infos, mut depth) = (0usize, 0usize, 0usize);
    let mut seen_root = false;
    // The depth at which the EncryptedAssertion, and an EncryptionMethod
    // in it, were opened.
    let (mut encrypted_at, mut method_at): (Option<usize>, Option<usize>) = (None, None);
    loop {
        let event = reader.read_event().map_err(|e| {
            Refusal::new(
                RefusalCode::XmlMalformed,
                format!("not well-formed XML: {e}"),
            )
        })?;
        let (element, opens) = match event {
            Event::DocType(_) => {
                return Err(Refusal::new(
                    RefusalCode::DoctypeRefused,
                    "a DOCTYPE (DTD, entities) is not allowed in SAML messages",
                ))
            }
            Event::Comment(_) => {
                return Err(Refusal::new(
                    RefusalCode::CommentRefused,
                    "XML comments are not allowed in SAML messages (comment injection)",
                ))
            }
            Event::PI(_) | Event::CData(_) => {
                return Err(Refusal::new(
                    RefusalCode::MarkupRefused,
                    "processing instructions and CDATA are not allowed in SAML messages",
                ))
            }
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(Refusal::new(
                            RefusalCode::EncodingRefused,
                            "only UTF-8 SAML messages are accepted",
                        ));
                    }
                }
                continue;
            }
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if encrypted_at == Some(depth) {
                    encrypted_at = None;
                }
                if method_at == Some(depth) {
                    method_at = None;
                }
                continue;
            }
            Event::Eof => break,
            Event::Text(_) | Event::GeneralRef(_) => continue,
        };
        let name = element.local_name();
        if depth == 0 {
            if seen_root || name.as_ref() != message.root().as_bytes() {
                return Err(Refusal::new(
                    RefusalCode::NotAResponse,
                    format!("the document is not a single SAML {}", message.root()),
                ));
            }
            seen_root = true;
        }
        match name.as_ref() {
            b"Assertion" => assertions += 1,
            b"EncryptedAssertion" if encrypted_at.is_none() => {
                shape.encrypted = true;
                assertions += 1;
                if opens {
                    encrypted_at = Some(depth);
                }
            }
            b"EncryptionMethod" if encrypted_at.is_some() && opens => method_at = Some(depth),
            b"DigestMethod" if method_at.is_some() => {}
            b"RetrievalMethod" if encrypted_at.is_some() => {}
            b"EncryptedAssertion" | b"EncryptedID" | b"EncryptedAttribute" => return Err(Refusal::new(
RefusalCode::EncryptedRefused,
                "encrypted NameIDs and attributes, and nested encrypted assertions, are not supported",
            )),
            b"Signature" => {
                shape.signatures += 1;
                if shape.signatures > 2 {
                    return Err(Refusal::new(
RefusalCode::SignatureStructureRefused,
                        "more than two signatures",
                    ));
                }
            }
            b"SignedInfo" => {
                signed_infos += 1;
                if signed_infos > shape.signatures {
                    return Err(Refusal::new(
RefusalCode::SignatureStructureRefused,
                        "a signature with more than one SignedInfo",
                    ));
                }
            }
            b"Object" | b"Manifest" | b"RetrievalMethod" => {
                return Err(Refusal::new(
RefusalCode::SignatureStructureRefused,
                    "ds:Object, ds:Manifest and RetrievalMethod are not allowed",
                ))
            }
            b"Reference" => {
                let uri = attr(&element, "URI")?.unwrap_or_default();
                if !same_document_reference(&uri) {
                    return Err(Refusal::new(RefusalCode::ReferenceRefused, format!("signature reference {uri:?} does not point at an element of this message")));
                }
            }
            b"Transform" => {
                let algorithm = attr(&element, "Algorithm")?.unwrap_or_default();
                if !ALLOWED_TRANSFORMS.contains(&algorithm.as_str()) {
                    return Err(Refusal::new(
RefusalCode::TransformRefused,
                        format!("signature transform {algorithm} is not allowed"),
                    ));
                }
            }
            b"SignatureMethod" => {
                let algorithm = attr(&element, "Algorithm")?.unwrap_or_default();
                if !ALLOWED_SIGNATURE_METHODS.contains(&algorithm.as_str()) {
                    return Err(Refusal::new(
RefusalCode::AlgorithmRefused,
                        format!(
                            "signature algorithm {algorithm} is not allowed (SHA-256 or stronger)"
                        ),
                    ));
                }
            }
            b"DigestMethod" => {
                let algorithm = attr(&element, "Algorithm")?.unwrap_or_default();
                if !ALLOWED_DIGESTS.contains(&algorithm.as_str()) {
                    return Err(Refusal::new(
RefusalCode::AlgorithmRefused,
                        format!(
                            "digest algorithm {algorithm} is not allowed (SHA-256 or stronger)"
                        ),
                    ));
                }
            }
            _ => {}
        }
        if opens {
            depth += 1;
        }
    }
    if !seen_root {
        return Err(Refusal::new(
            RefusalCode::NotAResponse,
            format!("the document is not a SAML {}", message.root()),
        ));
    }
    if depth != 0 {
        return Err(Refusal::new(
            RefusalCode::XmlMalformed,
            "the document ends inside an element",
        ));
    }
    if assertions != message.assertions() {
        return Err(Refusal::new(
            RefusalCode::AssertionCount,
            format!(
                "a {} holds {} assertion(s), found {assertions}",
                message.root(),
                message.assertions()
            ),
        ));
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r"><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_a"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></ds:Reference></ds:SignedInfo></ds:Signature></saml:Assertion></samlp:Response>"##;

    fn code(xml: &str) -> &'static str {
        check(xml).err().map_or("ok", |f| f.code.as_str())
    }

    #[test]
    fn accepts_the_shape_idps_send() {
        assert_eq!(code(OK), "ok");
        assert_eq!(
            code(&format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{OK}")),
            "ok"
        );
        // Encrypted, signature inside: the OAEP digest (SHA-1) is not a
        // signature digest, a RetrievalMethod there is not dereferenced.
        let encrypted = r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r"><saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:RetrievalMethod URI="#k"/></ds:KeyInfo></xenc:EncryptedData><xenc:EncryptedKey Id="k" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod></xenc:EncryptedKey></saml:EncryptedAssertion></samlp:Response>"##;
        assert!(check(encrypted).unwrap().encrypted);
        // Outside the encryption method, SHA-1 is still refused.
        assert_eq!(
            code(&encrypted.replace(
                "</xenc:EncryptionMethod></xenc:EncryptedKey>",
                "</xenc:EncryptionMethod><ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/></xenc:EncryptedKey>"
            )),
            "algorithm_refused"
        );
        // Beside a plain assertion: two assertions.
        assert_eq!(
            code(&encrypted.replace(
                "</samlp:Response>",
                "<saml:Assertion ID=\"_a\"/></samlp:Response>"
            )),
            "assertion_count"
        );
    }

    #[test]
    fn refuses_everything_else_by_name() {
        let cases = [
            (
                format!("<!DOCTYPE r [<!ENTITY x \"y\">]>{OK}"),
                "doctype_refused",
            ),
            (
                OK.replace("ID=\"_a\">", "ID=\"_a\"><!-- c -->"),
                "comment_refused",
            ),
            (
                OK.replace("ID=\"_a\">", "ID=\"_a\"><![CDATA[x]]>"),
                "markup_refused",
            ),
            (
                format!("<?xml version=\"1.0\" encoding=\"UTF-7\"?>{OK}"),
                "encoding_refused",
            ),
            (
                OK.replace("<samlp:Response", "<samlp:LogoutResponse")
                    .replace("</samlp:Response>", "</samlp:LogoutResponse>"),
                "not_a_response",
            ),
            (
                OK.replace(
                    "</saml:Assertion>",
                    "</saml:Assertion><saml:Assertion ID=\"_b\"/>",
                ),
                "assertion_count",
            ),
            (
                OK.replace(
                    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                ),
                "algorithm_refused",
            ),
            (
                OK.replace(
                    "http://www.w3.org/2001/04/xmlenc#sha256",
                    "http://www.w3.org/2000/09/xmldsig#sha1",
                ),
                "algorithm_refused",
            ),
            (
                OK.replace("URI=\"#_a\"", "URI=\"http://127.0.0.1/x\""),
                "reference_refused",
            ),
            (OK.replace("URI=\"#_a\"", "URI=\"\""), "reference_refused"),
            (
                OK.replace(
                    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
                    "http://www.w3.org/TR/1999/REC-xpath-19991116",
                ),
                "transform_refused",
            ),
            (
                OK.replace(
                    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
                    "http://www.w3.org/TR/1999/REC-xslt-19991116",
                ),
                "transform_refused",
            ),
            (
                OK.replace("</ds:SignedInfo>", "</ds:SignedInfo><ds:SignedInfo/>"),
                "signature_structure_refused",
            ),
            (
                OK.replace("</ds:SignedInfo>", "</ds:SignedInfo><ds:Object/>"),
                "signature_structure_refused",
            ),
            (
                OK.replace(
                    "<saml:Assertion",
                    "<saml:EncryptedAssertion><saml:Assertion",
                )
                .replace(
                    "</saml:Assertion>",
                    "</saml:Assertion></saml:EncryptedAssertion>",
                ),
                "assertion_count",
            ),
            (
                OK.replace("<saml:Assertion", "<saml:EncryptedID/><saml:Assertion"),
                "encrypted_refused",
            ),
            (
                "<samlp:Response ID=\"_r\"><saml:Assertion ID=\"_a\"/></samlp:Response>"
                    .to_string(),
                "unsigned",
            ),
            (
                "<samlp:Response><unclosed></samlp:Response>".to_string(),
                "xml_malformed",
            ),
            ("not xml at all".to_string(), "not_a_response"),
            (String::new(), "not_a_response"),
        ];
        for (xml, expected) in cases {
            assert_eq!(code(&xml), expected, "{xml}");
        }
    }
}
