//! Single Logout messages (SAML Core §3.7), free of HTTP: reading an IdP's
//! LogoutRequest and LogoutResponse once their signature is verified, and
//! writing ours.
//!
//! Written here rather than with samael's types: samael reads SessionIndex
//! as an attribute (it is a repeatable element) and writes a LogoutRequest
//! without NameID or IssueInstant.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use quick_xml::escape::escape;
use rand::RngCore;
use serde::Deserialize;

use crate::session::SamlLogin;
use crate::signin::{Refusal, RefusalCode};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

#[derive(Deserialize)]
struct Text {
    #[serde(rename = "$text", default)]
    value: String,
}

#[derive(Deserialize)]
struct LogoutRequestXml {
    #[serde(rename = "@ID")]
    id: Option<String>,
    #[serde(rename = "@IssueInstant")]
    issue_instant: Option<DateTime<Utc>>,
    #[serde(rename = "@NotOnOrAfter")]
    not_on_or_after: Option<DateTime<Utc>>,
    #[serde(rename = "@Destination")]
    destination: Option<String>,
    #[serde(rename = "Issuer")]
    issuer: Option<Text>,
    #[serde(rename = "NameID")]
    name_id: Option<Text>,
    #[serde(rename = "EncryptedID")]
    encrypted_id: Option<serde::de::IgnoredAny>,
    #[serde(rename = "SessionIndex", default)]
    session_indexes: Vec<Text>,
}

#[derive(Deserialize)]
struct StatusCodeXml {
    #[serde(rename = "@Value")]
    value: Option<String>,
}

#[derive(Deserialize)]
struct StatusXml {
    #[serde(rename = "StatusCode")]
    code: Option<StatusCodeXml>,
}

#[derive(Deserialize)]
struct LogoutResponseXml {
    #[serde(rename = "@InResponseTo")]
    in_response_to: Option<String>,
    #[serde(rename = "@Destination")]
    destination: Option<String>,
    #[serde(rename = "Issuer")]
    issuer: Option<Text>,
    #[serde(rename = "Status")]
    status: Option<StatusXml>,
}

/// What an IdP's (verified) LogoutRequest asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpLogoutRequest {
    pub id: String,
    pub name_id: String,
    /// Empty: every session of that NameID.
    pub session_indexes: Vec<String>,
}

/// What an IdP's (verified) LogoutResponse says about ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpLogoutResponse {
    pub in_response_to: String,
    pub success: bool,
}

/// What a logout message must match: it is for us, from our IdP, and fresh.
pub struct LogoutExpectations<'a> {
    /// Our SLO endpoint (a message's Destination, when it has one).
    pub slo_url: &'a str,
    pub idp_entity_id: Option<&'a str>,
    pub clock_skew: Duration,
    pub now: DateTime<Utc>,
}

fn unreadable(what: &str, e: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        RefusalCode::XmlMalformed,
        format!("the {what} is unreadable: {e}"),
    )
}

fn root_is(xml: &str, expected: &str) -> Result<(), Refusal> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                return if e.local_name().as_ref() == expected.as_bytes() {
                    Ok(())
                } else {
                    Err(Refusal::new(
                        RefusalCode::NotAResponse,
                        format!("the message is not a SAML {expected}"),
                    ))
                };
            }
            Ok(quick_xml::events::Event::DocType(_)) => {
                return Err(Refusal::new(
                    RefusalCode::DoctypeRefused,
                    "a DOCTYPE (DTD, entities) is not allowed in SAML messages",
                ))
            }
            Ok(quick_xml::events::Event::Eof) => {
                return Err(unreadable(expected, "no root element"))
            }
            Ok(_) => {}
            Err(e) => return Err(unreadable(expected, e)),
        }
    }
}

fn check_common(
    issuer: Option<&str>,
    destination: Option<&str>,
    ex: &LogoutExpectations<'_>,
) -> Result<(), Refusal> {
    if let (Some(expected), Some(given)) = (ex.idp_entity_id, issuer) {
        if given.trim() != expected {
            return Err(Refusal::new(
                RefusalCode::IssuerMismatch,
                format!("the logout message comes from {given:?}, not this integration's IdP"),
            ));
        }
    }
    if ex.idp_entity_id.is_some() && issuer.is_none() {
        return Err(Refusal::new(
            RefusalCode::IssuerMismatch,
            "the logout message names no Issuer",
        ));
    }
    if let Some(destination) = destination {
        if destination.trim() != ex.slo_url {
            return Err(Refusal::new(
                RefusalCode::DestinationMismatch,
                format!("the logout message is for {destination:?}, not this integration"),
            ));
        }
    }
    Ok(())
}

/// Reads a verified LogoutRequest and checks it is ours to act on.
pub fn read_logout_request(
    xml: &str,
    ex: &LogoutExpectations<'_>,
) -> Result<IdpLogoutRequest, Refusal> {
    root_is(xml, "LogoutRequest")?;
    let request: LogoutRequestXml =
        quick_xml::de::from_str(xml).map_err(|e| unreadable("LogoutRequest", e))?;
    check_common(
        request.issuer.as_ref().map(|i| i.value.as_str()),
        request.destination.as_deref(),
        ex,
    )?;
    if let Some(issued) = request.issue_instant {
        if issued > ex.now + ex.clock_skew {
            return Err(Refusal::new(
                RefusalCode::IssuedInFuture,
                "the LogoutRequest is issued in the future",
            ));
        }
        if issued + Duration::minutes(10) + ex.clock_skew < ex.now {
            return Err(Refusal::new(
                RefusalCode::Stale,
                "the LogoutRequest is more than 10 minutes old",
            ));
        }
    }
    if request
        .not_on_or_after
        .is_some_and(|deadline| deadline + ex.clock_skew <= ex.now)
    {
        return Err(Refusal::new(
            RefusalCode::Expired,
            "the LogoutRequest has expired",
        ));
    }
    if request.encrypted_id.is_some() {
        return Err(Refusal::new(
            RefusalCode::EncryptedRefused,
            "an encrypted NameID in a LogoutRequest is not supported",
        ));
    }
    let id = request
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| unreadable("LogoutRequest", "no ID"))?;
    let name_id = request
        .name_id
        .map(|n| n.value.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            Refusal::new(
                RefusalCode::NoSubject,
                "the LogoutRequest names nobody (no NameID)",
            )
        })?;
    Ok(IdpLogoutRequest {
        id,
        name_id,
        session_indexes: request
            .session_indexes
            .into_iter()
            .map(|s| s.value.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

/// Reads a verified LogoutResponse (the IdP's answer to ours).
pub fn read_logout_response(
    xml: &str,
    ex: &LogoutExpectations<'_>,
) -> Result<IdpLogoutResponse, Refusal> {
    root_is(xml, "LogoutResponse")?;
    let response: LogoutResponseXml =
        quick_xml::de::from_str(xml).map_err(|e| unreadable("LogoutResponse", e))?;
    check_common(
        response.issuer.as_ref().map(|i| i.value.as_str()),
        response.destination.as_deref(),
        ex,
    )?;
    let in_response_to = response
        .in_response_to
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Refusal::new(
                RefusalCode::InResponseToUnknown,
                "the LogoutResponse answers no request",
            )
        })?;
    let success = response
        .status
        .and_then(|s| s.code)
        .and_then(|c| c.value)
        .is_some_and(|v| v == SUCCESS);
    Ok(IdpLogoutResponse {
        in_response_to,
        success,
    })
}

/// A fresh message ID (must start with a letter or underscore: xs:ID).
pub fn new_message_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("_{}", hex::encode(bytes))
}

fn instant(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Our LogoutRequest to the IdP for one of its logins.
pub fn logout_request_xml(
    id: &str,
    sp_entity_id: &str,
    destination: &str,
    login: &SamlLogin,
    now: DateTime<Utc>,
) -> String {
    let format = login
        .name_id_format
        .as_deref()
        .map(|f| format!(r#" Format="{}""#, escape(f)))
        .unwrap_or_default();
    let session_index = login
        .session_index
        .as_deref()
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(s)))
        .unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID{format}>{name_id}</saml:NameID>{session_index}</samlp:LogoutRequest>"#,
        id = escape(id),
        at = instant(now),
        dest = escape(destination),
        issuer = escape(sp_entity_id),
        name_id = escape(&login.name_id),
    )
}

/// Our LogoutResponse to an IdP's LogoutRequest.
pub fn logout_response_xml(
    id: &str,
    in_response_to: &str,
    sp_entity_id: &str,
    destination: &str,
    now: DateTime<Utc>,
) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{SUCCESS}"/></samlp:Status></samlp:LogoutResponse>"#,
        id = escape(id),
        at = instant(now),
        dest = escape(destination),
        irt = escape(in_response_to),
        issuer = escape(sp_entity_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLO: &str = "https://sso.example.com/users/sign-in/sso/okta/i1/slo";
    const IDP: &str = "http://www.okta.com/exk1";

    fn ex(now: DateTime<Utc>) -> LogoutExpectations<'static> {
        LogoutExpectations {
            slo_url: SLO,
            idp_entity_id: Some(IDP),
            clock_skew: Duration::seconds(60),
            now,
        }
    }

    fn request(issuer: &str, destination: &str, issued: DateTime<Utc>, extra: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="{}" Destination="{destination}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">ada@example.com</saml:NameID>{extra}</samlp:LogoutRequest>"#,
            instant(issued)
        )
    }

    #[test]
    fn reads_name_id_and_every_session_index() {
        let now = Utc::now();
        let xml = request(
            IDP,
            SLO,
            now,
            "<samlp:SessionIndex>s1</samlp:SessionIndex><samlp:SessionIndex>s2</samlp:SessionIndex>",
        );
        let read = read_logout_request(&xml, &ex(now)).unwrap();
        assert_eq!(read.id, "_r1");
        assert_eq!(read.name_id, "ada@example.com");
        assert_eq!(read.session_indexes, vec!["s1", "s2"]);
        let all = read_logout_request(&request(IDP, SLO, now, ""), &ex(now)).unwrap();
        assert!(all.session_indexes.is_empty());
    }

    #[test]
    fn refuses_another_issuer_destination_or_a_stale_or_future_request() {
        let now = Utc::now();
        let code = |xml: String| read_logout_request(&xml, &ex(now)).unwrap_err().code;
        assert_eq!(
            code(request("http://evil.example", SLO, now, "")),
            RefusalCode::IssuerMismatch
        );
        assert_eq!(
            code(request(
                IDP,
                "https://sso.example.com/users/sign-in/sso/okta/other/slo",
                now,
                ""
            )),
            RefusalCode::DestinationMismatch
        );
        assert_eq!(
            code(request(IDP, SLO, now - Duration::minutes(30), "")),
            RefusalCode::Stale
        );
        assert_eq!(
            code(request(IDP, SLO, now + Duration::minutes(30), "")),
            RefusalCode::IssuedInFuture
        );
        assert_eq!(
            code(format!(
                "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
                request(IDP, SLO, now, "")
            )),
            RefusalCode::DoctypeRefused
        );
        assert_eq!(
            code(request(IDP, SLO, now, "").replace("LogoutRequest", "AuthnRequest")),
            RefusalCode::NotAResponse
        );
        let nobody = request(IDP, SLO, now, "").replace(
            r#"<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">ada@example.com</saml:NameID>"#,
            "",
        );
        assert_eq!(code(nobody), RefusalCode::NoSubject);
    }

    #[test]
    fn our_messages_read_back_and_escape_what_they_carry() {
        let now = Utc::now();
        let login = SamlLogin {
            name_id: "a<b>&\"c@example.com".into(),
            name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
            session_index: Some("s&1".into()),
        };
        let ours = logout_request_xml("_x1", "https://sp", SLO, &login, now);
        let ex = LogoutExpectations {
            idp_entity_id: Some("https://sp"),
            ..ex(now)
        };
        let read = read_logout_request(&ours, &ex).unwrap();
        assert_eq!(read.name_id, login.name_id);
        assert_eq!(read.session_indexes, vec!["s&1"]);

        let answer = logout_response_xml("_x2", "_r\"1", "https://sp", SLO, now);
        let read = read_logout_response(&answer, &ex).unwrap();
        assert_eq!(read.in_response_to, "_r\"1");
        assert!(read.success);
    }
}
