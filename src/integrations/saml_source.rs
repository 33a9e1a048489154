//! A SAML integration's IdP: where its description came from (a metadata
//! URL, pasted metadata XML, or fields entered by hand) and resolving it.

use serde::{Deserialize, Serialize};

use super::fields::{check_size, outbound_url, parse_certificates, required};
use super::IntegrationInput;
use crate::config::Config;
use crate::outbound::Outbound;
use crate::provisioning::limits::{bounded, URL};
use crate::provisioning::{invalid, GroupSettings, RuleResult};
use crate::saml::{parse_idp_metadata, IdpDescriptor};
use crate::store::now_ms;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamlSettings {
    pub source: SamlSource,
    /// The IdP as last resolved (from metadata, or entered by hand). A failed
    /// refresh keeps this last good copy.
    pub idp: IdpDescriptor,
    /// When the metadata URL was last fetched successfully (unix ms).
    pub metadata_fetched_at: Option<i64>,
    /// Why the last refresh failed, if it did.
    pub metadata_error: Option<String>,
    #[serde(flatten)]
    pub groups: GroupSettings,
    /// Sign AuthnRequests even when the IdP metadata does not ask for it.
    #[serde(default)]
    pub sign_requests: bool,
    /// Refuse assertions that arrive unencrypted.
    #[serde(default)]
    pub require_encrypted_assertions: bool,
}

impl SamlSettings {
    /// Whether our AuthnRequests are signed: the admin asked, or the IdP's
    /// metadata does. SP metadata says the same (`AuthnRequestsSigned`),
    /// since an IdP that reads it then refuses unsigned ones.
    pub fn signs_requests(&self) -> bool {
        self.sign_requests || self.idp.want_authn_requests_signed
    }

    /// The SAML switches (`sign_requests`, `require_encrypted_assertions`):
    /// as given, else as they were, else off.
    pub(super) fn with_switches(
        mut self,
        input: &IntegrationInput,
        kept: Option<&SamlSettings>,
    ) -> Self {
        self.sign_requests = input
            .sign_requests
            .or(kept.map(|k| k.sign_requests))
            .unwrap_or(false);
        self.require_encrypted_assertions = input
            .require_encrypted_assertions
            .or(kept.map(|k| k.require_encrypted_assertions))
            .unwrap_or(false);
        self
    }
}

/// Where the IdP's description came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SamlSource {
    MetadataUrl { url: String },
    MetadataXml,
    Manual,
}

/// Resolves the SAML input into settings: fetches a metadata URL (through
/// the outbound policy), parses metadata XML, or takes the manual fields.
/// `None` when the input names no source (a change of name only).
pub(super) async fn saml_settings(
    config: &Config,
    outbound: &Outbound,
    input: &IntegrationInput,
) -> RuleResult<Option<SamlSettings>> {
    let max = config.outbound.max_response_bytes;
    let manual =
        input.sso_url.is_some() || input.certificate_pem.is_some() || input.idp_entity_id.is_some();
    let given = [
        input.metadata_url.is_some(),
        input.metadata_xml.is_some(),
        manual,
    ];
    match given.iter().filter(|g| **g).count() {
        0 => return Ok(None),
        1 => {}
        _ => {
            return Err(invalid(
                "metadata_url",
                "give exactly one of metadata_url, metadata_xml, or sso_url + certificate_pem",
            ))
        }
    }
    if let Some(url) = &input.metadata_url {
        let url = outbound_url(config, "metadata_url", url)?;
        let idp = fetch_metadata(outbound, &url)
            .await
            .map_err(|message| invalid("metadata_url", message))?;
        return Ok(Some(SamlSettings {
            source: SamlSource::MetadataUrl { url },
            idp,
            metadata_fetched_at: Some(now_ms()),
            metadata_error: None,
            groups: GroupSettings::default(),
            sign_requests: false,
            require_encrypted_assertions: false,
        }));
    }
    if let Some(xml) = &input.metadata_xml {
        check_size("metadata_xml", xml, max)?;
        let idp = parse_idp_metadata(xml).map_err(|e| invalid("metadata_xml", e.to_string()))?;
        return Ok(Some(SamlSettings {
            source: SamlSource::MetadataXml,
            idp,
            metadata_fetched_at: None,
            metadata_error: None,
            groups: GroupSettings::default(),
            sign_requests: false,
            require_encrypted_assertions: false,
        }));
    }
    let sso_url = outbound_url(
        config,
        "sso_url",
        &required("sso_url", input.sso_url.as_deref())?,
    )?;
    let pem = required("certificate_pem", input.certificate_pem.as_deref())?;
    let entity_id = input
        .idp_entity_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|id| bounded("idp_entity_id", id, URL).map(str::to_string))
        .transpose()?;
    Ok(Some(SamlSettings {
        source: SamlSource::Manual,
        idp: IdpDescriptor {
            entity_id,
            sso_url,
            certificates: parse_certificates(&pem)?,
            // Manual set-up has no metadata to ask; `sign_requests` can.
            want_authn_requests_signed: false,
            // Nor an SLO endpoint: sign-out stays local.
            slo_url: None,
            slo_response_url: None,
        },
        metadata_fetched_at: None,
        metadata_error: None,
        groups: GroupSettings::default(),
        sign_requests: false,
        require_encrypted_assertions: false,
    }))
}

/// Fetches and reads IdP metadata; the error names what failed, for the admin.
pub async fn fetch_metadata(outbound: &Outbound, url: &str) -> Result<IdpDescriptor, String> {
    let body = outbound
        .get(url)
        .await
        .map_err(|e| format!("could not fetch the metadata: {e}"))?;
    let text = String::from_utf8(body).map_err(|_| "the metadata is not UTF-8 text".to_string())?;
    parse_idp_metadata(&text).map_err(|e| format!("{url} did not return usable metadata: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(json: serde_json::Value) -> RuleResult<Option<SamlSettings>> {
        let config = Config::load(None).unwrap();
        let input = serde_json::from_value(json).unwrap();
        saml_settings(&config, &Outbound::new(&config.outbound).unwrap(), &input).await
    }

    #[tokio::test]
    async fn an_over_long_metadata_url_or_entity_id_is_refused_naming_it() {
        // Refused before anything is fetched.
        let url = format!("https://acme.okta.com/{}", "m".repeat(URL));
        let refusal = resolve(serde_json::json!({ "metadata_url": url })).await;
        assert_eq!(
            refusal.unwrap_err().to_string(),
            "metadata_url: must be at most 2048 characters"
        );

        let cert = include_str!("../../fixtures/certs/idp-cert.pem");
        let manual = |entity_id: String| {
            serde_json::json!({
                "sso_url": "https://idp.example.com/sso",
                "certificate_pem": cert,
                "idp_entity_id": entity_id,
            })
        };
        let entity_id = |len: usize| format!("urn:{}", "e".repeat(len - 4));
        let at_limit = resolve(manual(entity_id(URL))).await.unwrap().unwrap();
        assert_eq!(at_limit.idp.entity_id, Some(entity_id(URL)));
        let refusal = resolve(manual(entity_id(URL + 1))).await;
        assert_eq!(
            refusal.unwrap_err().to_string(),
            "idp_entity_id: must be at most 2048 characters"
        );
    }
}
