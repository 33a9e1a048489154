//! IdP metadata in, SP metadata out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{
    EncryptionMethod, Endpoint, EntityDescriptor, KeyDescriptor, HTTP_POST_BINDING,
    HTTP_REDIRECT_BINDING,
};
use samael::service_provider::ServiceProviderBuilder;
use samael::traits::ToXml;
use serde::{Deserialize, Serialize};

use super::decrypt::{CONTENT_ALGORITHMS, KEY_TRANSPORT_ALGORITHMS};
use super::keys::{KeySet, Purpose, SpKey};
use crate::store::now_ms;

/// What we keep of an identity provider: enough to send people there and to
/// check what comes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpDescriptor {
    /// The IdP's entity ID, the expected Issuer (unknown for a manual set-up
    /// that did not give it).
    pub entity_id: Option<String>,
    /// Where AuthnRequests go (HTTP-Redirect binding).
    pub sso_url: String,
    /// Every signing certificate (several during a rollover), base64 DER.
    pub certificates: Vec<String>,
    /// The metadata's `WantAuthnRequestsSigned="true"` (descriptors stored
    /// before this was read have none: false).
    #[serde(default)]
    pub want_authn_requests_signed: bool,
    /// Single Logout (HTTP-Redirect binding): where our LogoutRequests go,
    /// and where our LogoutResponses go when the IdP names another place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_response_url: Option<String>,
}

impl IdpDescriptor {
    /// Where our LogoutResponse to the IdP's LogoutRequest goes.
    pub fn slo_response_url(&self) -> Option<&str> {
        self.slo_response_url.as_deref().or(self.slo_url.as_deref())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("the metadata is not XML: {0}")]
    NotXml(String),
    #[error("the metadata must not contain a DOCTYPE or entity declarations")]
    Doctype,
    #[error("the document is not SAML IdP metadata (no IDPSSODescriptor)")]
    NotIdpMetadata,
    #[error("the metadata names no HTTP-Redirect single sign-on URL")]
    NoRedirectSso,
    #[error("the metadata has no signing certificate, so no response could be verified")]
    NoSigningCertificate,
    #[error("a certificate in the metadata is not a valid X.509 certificate")]
    BadCertificate,
}

fn refuse_doctype(xml: &str) -> Result<(), MetadataError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::DocType(_)) => return Err(MetadataError::Doctype),
            Ok(quick_xml::events::Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(MetadataError::NotXml(e.to_string())),
        }
    }
}

/// Reads IdP metadata; refuses metadata we could not safely use.
pub fn parse_idp_metadata(xml: &str) -> Result<IdpDescriptor, MetadataError> {
    refuse_doctype(xml)?;
    let descriptor: EntityDescriptor =
        xml.parse()
            .map_err(|e: <EntityDescriptor as std::str::FromStr>::Err| {
                MetadataError::NotXml(e.to_string())
            })?;
    let idps = descriptor
        .idp_sso_descriptors
        .as_deref()
        .unwrap_or_default();
    if idps.is_empty() {
        return Err(MetadataError::NotIdpMetadata);
    }
    let sso_url = idps
        .iter()
        .flat_map(|d| &d.single_sign_on_services)
        .find(|s| s.binding == HTTP_REDIRECT_BINDING)
        .map(|s| s.location.trim().to_string())
        .ok_or(MetadataError::NoRedirectSso)?;
    let mut certificates = Vec::new();
    for key in idps.iter().flat_map(|d| &d.key_descriptors) {
        if !matches!(key.key_use.as_deref(), None | Some("") | Some("signing")) {
            continue;
        }
        for encoded in key.key_info.x509_data.iter().flat_map(|x| &x.certificates) {
            let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
            let der = STANDARD
                .decode(&compact)
                .map_err(|_| MetadataError::BadCertificate)?;
            x509_parser::parse_x509_certificate(&der).map_err(|_| MetadataError::BadCertificate)?;
            let b64 = STANDARD.encode(&der);
            if !certificates.contains(&b64) {
                certificates.push(b64);
            }
        }
    }
    if certificates.is_empty() {
        return Err(MetadataError::NoSigningCertificate);
    }
    let slo = idps
        .iter()
        .flat_map(|d| &d.single_logout_services)
        .find(|s| s.binding == HTTP_REDIRECT_BINDING);
    Ok(IdpDescriptor {
        slo_url: slo.map(|s| s.location.trim().to_string()),
        slo_response_url: slo
            .and_then(|s| s.response_location.as_deref())
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty()),
        entity_id: descriptor.entity_id.filter(|e| !e.trim().is_empty()),
        sso_url,
        certificates,
        want_authn_requests_signed: idps
            .iter()
            .any(|d| d.want_authn_requests_signed == Some(true)),
    })
}

fn key_descriptor(
    key_use: &str,
    key: &SpKey,
    methods: Option<Vec<EncryptionMethod>>,
) -> KeyDescriptor {
    KeyDescriptor {
        key_use: Some(key_use.to_string()),
        key_info: KeyInfo {
            id: None,
            x509_data: Some(X509Data {
                certificates: vec![key.certificate.clone()],
            }),
        },
        encryption_methods: methods,
    }
}

/// Our metadata for the IdP: entity ID and ACS URL are both the
/// integration's sign-in URL (SPEC). It publishes our signing keys
/// (current and next) and encryption keys (current, next, previous) each
/// with its `use`, the encryption algorithms we accept, whether our
/// AuthnRequests are signed, and that assertions must be. The KeyDescriptors
/// are ours, not samael's (its builder marks an encryption key
/// `use="signing"` and has one certificate only).
pub fn sp_metadata_xml(
    sp_url: &str,
    keys: &KeySet,
    signs_requests: bool,
) -> Result<String, String> {
    let sp = ServiceProviderBuilder::default()
        .entity_id(sp_url.to_string())
        .acs_url(sp_url.to_string())
        .slo_url(super::slo::slo_url(sp_url))
        .metadata_valid_duration(Some(chrono::Duration::days(365)))
        .build()
        .map_err(|e| e.to_string())?;
    let mut metadata = sp.metadata().map_err(|e| e.to_string())?;
    let now = now_ms();
    let methods: Vec<EncryptionMethod> = CONTENT_ALGORITHMS
        .iter()
        .chain(KEY_TRANSPORT_ALGORITHMS)
        .map(|a| EncryptionMethod {
            algorithm: a.to_string(),
        })
        .collect();
    let descriptors: Vec<KeyDescriptor> = keys
        .published(Purpose::Signing, now)
        .iter()
        .map(|k| key_descriptor("signing", k, None))
        .chain(
            keys.published(Purpose::Encryption, now)
                .iter()
                .map(|k| key_descriptor("encryption", k, Some(methods.clone()))),
        )
        .collect();
    for descriptor in metadata.sp_sso_descriptors.iter_mut().flatten() {
        descriptor.key_descriptors = Some(descriptors.clone());
        descriptor.authn_requests_signed = Some(signs_requests);
        // Single Logout takes both bindings at one URL (samael lists POST only).
        let slo = super::slo::slo_url(sp_url);
        descriptor.single_logout_services = Some(
            [HTTP_REDIRECT_BINDING, HTTP_POST_BINDING]
                .into_iter()
                .map(|binding| Endpoint {
                    binding: binding.to_string(),
                    location: slo.clone(),
                    response_location: None,
                })
                .collect(),
        );
        descriptor.want_assertions_signed = Some(true);
    }
    metadata.to_string().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("../../fixtures/certs/idp-cert.pem");

    fn cert_b64() -> String {
        CERT.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    fn metadata(keys: &str, sso: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="http://www.okta.com/exk1">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>{sso}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    fn key(usage: &str, b64: &str) -> String {
        format!(
            r#"<md:KeyDescriptor{usage}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        )
    }

    const SSO: &str = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://acme.okta.com/app/acme_x/exk1/sso/saml"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://acme.okta.com/app/acme_x/exk1/sso/saml"/>"#;

    #[test]
    fn reads_okta_shaped_metadata() {
        let idp =
            parse_idp_metadata(&metadata(&key(" use=\"signing\"", &cert_b64()), SSO)).unwrap();
        assert_eq!(idp.entity_id.as_deref(), Some("http://www.okta.com/exk1"));
        assert_eq!(
            idp.sso_url,
            "https://acme.okta.com/app/acme_x/exk1/sso/saml"
        );
        assert_eq!(idp.certificates.len(), 1);
        // Rollover: two signing keys are both kept; an unmarked key counts as signing.
        let wrapped: String = cert_b64()
            .chars()
            .collect::<Vec<_>>()
            .chunks(64)
            .map(|c| c.iter().collect::<String>() + "\n")
            .collect();
        let two = parse_idp_metadata(&metadata(
            &format!(
                "{}{}",
                key("", &wrapped),
                key(" use=\"signing\"", &cert_b64())
            ),
            SSO,
        ))
        .unwrap();
        assert_eq!(
            two.certificates.len(),
            1,
            "the same certificate twice is kept once"
        );
    }

    #[test]
    fn refuses_metadata_it_could_not_use_safely() {
        let encryption_only = metadata(&key(" use=\"encryption\"", &cert_b64()), SSO);
        assert_eq!(
            parse_idp_metadata(&encryption_only),
            Err(MetadataError::NoSigningCertificate)
        );
        assert_eq!(
            parse_idp_metadata(&metadata("", SSO)),
            Err(MetadataError::NoSigningCertificate)
        );
        let post_only = SSO.split("/><").next().unwrap().to_string() + "/>";
        assert_eq!(
            parse_idp_metadata(&metadata(&key("", &cert_b64()), &post_only)),
            Err(MetadataError::NoRedirectSso)
        );
        assert_eq!(
            parse_idp_metadata(&metadata(&key("", "bm90IGEgY2VydA=="), SSO)),
            Err(MetadataError::BadCertificate)
        );
        let doctype = format!(
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
            metadata(&key("", &cert_b64()), SSO)
        );
        assert_eq!(parse_idp_metadata(&doctype), Err(MetadataError::Doctype));
        assert!(matches!(
            parse_idp_metadata("<html><body>Sign in</body></html>"),
            Err(MetadataError::NotXml(_) | MetadataError::NotIdpMetadata)
        ));
        assert!(matches!(
            parse_idp_metadata("{\"json\": true}"),
            Err(MetadataError::NotXml(_) | MetadataError::NotIdpMetadata)
        ));
    }

    #[test]
    fn sp_metadata_names_entity_and_acs() {
        let set = crate::saml::keys::testing::key_set();
        let xml = sp_metadata_xml(
            "https://sso.example.com/users/sign-in/sso/okta/abc",
            &set,
            true,
        )
        .unwrap();
        assert!(xml.contains("entityID=\"https://sso.example.com/users/sign-in/sso/okta/abc\""));
        assert!(xml.contains("AssertionConsumerService"));
        assert!(xml.contains("Location=\"https://sso.example.com/users/sign-in/sso/okta/abc\""));
        assert!(xml.contains("AuthnRequestsSigned=\"true\""), "{xml}");
        assert!(xml.contains("WantAssertionsSigned=\"true\""), "{xml}");
        assert!(xml.contains("SingleLogoutService"), "{xml}");
        // Read back as an IdP would: signing current+next, encryption
        // current+next+previous (current first), each with its use.
        let parsed: EntityDescriptor = xml.parse().unwrap();
        let sp = &parsed.sp_sso_descriptors.as_ref().unwrap()[0];
        let descriptors = sp.key_descriptors.as_ref().unwrap();
        let published = |usage: &str| -> Vec<String> {
            descriptors
                .iter()
                .filter(|k| k.key_use.as_deref() == Some(usage))
                .map(|k| k.key_info.x509_data.as_ref().unwrap().certificates[0].clone())
                .collect()
        };
        let expected = |purpose| -> Vec<String> {
            set.published(purpose, now_ms())
                .iter()
                .map(|k| k.certificate.clone())
                .collect()
        };
        assert_eq!(published("signing"), expected(Purpose::Signing));
        assert_eq!(published("encryption"), expected(Purpose::Encryption));
        assert_eq!(
            (published("signing").len(), published("encryption").len()),
            (2, 3)
        );
        assert_eq!(descriptors.len(), 5, "no key without a use");
        for k in descriptors
            .iter()
            .filter(|k| k.key_use.as_deref() == Some("encryption"))
        {
            let methods: Vec<&str> = k
                .encryption_methods
                .iter()
                .flatten()
                .map(|m| m.algorithm.as_str())
                .collect();
            assert!(methods.contains(&"http://www.w3.org/2009/xmlenc11#aes256-gcm"));
            assert!(methods.contains(&"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"));
            assert!(!methods.iter().any(|m| m.contains("rsa-1_5")));
        }
    }

    #[test]
    fn want_authn_requests_signed_is_read_and_old_descriptors_still_load() {
        let signed = metadata(&key("", &cert_b64()), SSO).replace(
            "<md:IDPSSODescriptor ",
            "<md:IDPSSODescriptor WantAuthnRequestsSigned=\"true\" ",
        );
        assert!(
            parse_idp_metadata(&signed)
                .unwrap()
                .want_authn_requests_signed
        );
        let plain = parse_idp_metadata(&metadata(&key("", &cert_b64()), SSO)).unwrap();
        assert!(!plain.want_authn_requests_signed);
        // Stored before the field existed.
        let stored = r#"{"entity_id":null,"sso_url":"https://i/s","certificates":[]}"#;
        let old: IdpDescriptor = serde_json::from_str(stored).unwrap();
        assert!(!old.want_authn_requests_signed);
    }
}
