//! Stored settings (JSON in `integrations.settings`): how they are built
//! from an admin's input, on top of the current ones for a change, and read back.

use serde::{Deserialize, Serialize};

use super::fields::{
    outbound_url, refuse_foreign_fields, required, validate_client_secret, validate_tenant,
};
use super::saml_source::{saml_settings, SamlSettings};
use super::{IntegrationInput, Kind};
use crate::config::Config;
use crate::oidc::provider::is_guid;
use crate::oidc::OidcSettings;
use crate::outbound::Outbound;
use crate::provisioning::idp_groups::{parse_groups_attribute, parse_role_mapping};
use crate::provisioning::limits::{bounded, EXTERNAL_ID};
use crate::provisioning::{invalid, GroupSettings, RuleError, RuleResult};
use crate::secrets::SecretBox;
use crate::store::Integration;

/// Stored settings (JSON in `integrations.settings`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum Settings {
    Saml(SamlSettings),
    Oidc(OidcSettings),
}

impl Settings {
    /// The group settings, whichever the protocol.
    pub fn groups(&self) -> &GroupSettings {
        match self {
            Settings::Saml(s) => &s.groups,
            Settings::Oidc(o) => &o.groups,
        }
    }

    fn groups_mut(&mut self) -> &mut GroupSettings {
        match self {
            Settings::Saml(s) => &mut s.groups,
            Settings::Oidc(o) => &mut o.groups,
        }
    }
}

/// Builds stored settings from input, on top of `current` for a change.
pub(super) async fn build_settings(
    config: &Config,
    secrets: &SecretBox,
    outbound: &Outbound,
    kind: Kind,
    input: &IntegrationInput,
    current: Option<Settings>,
) -> RuleResult<Settings> {
    let mut groups = current
        .as_ref()
        .map(|c| c.groups().clone())
        .unwrap_or_default();
    if let Some(name) = &input.groups_attribute {
        groups.groups_attribute = parse_groups_attribute(name)?;
    }
    if let Some(mapping) = &input.role_mapping {
        groups.role_mapping = parse_role_mapping(mapping)?;
    }
    let mut settings = protocol_settings(config, secrets, outbound, kind, input, current).await?;
    *settings.groups_mut() = groups;
    Ok(settings)
}

/// [`build_settings`] but for the group settings, which every protocol has.
async fn protocol_settings(
    config: &Config,
    secrets: &SecretBox,
    outbound: &Outbound,
    kind: Kind,
    input: &IntegrationInput,
    current: Option<Settings>,
) -> RuleResult<Settings> {
    refuse_foreign_fields(kind, input)?;
    if kind.is_saml() {
        let kept = match current {
            Some(Settings::Saml(kept)) => Some(kept),
            _ => None,
        };
        let settings = match (saml_settings(config, outbound, input).await?, &kept) {
            (Some(settings), _) => settings,
            (None, Some(kept)) => kept.clone(),
            (None, None) => {
                return Err(invalid(
                    "metadata_url",
                    "give metadata_url, metadata_xml, or sso_url + certificate_pem",
                ))
            }
        };
        return Ok(Settings::Saml(settings.with_switches(input, kept.as_ref())));
    }
    let current = match current {
        Some(Settings::Oidc(o)) => Some(o),
        _ => None,
    };
    let pick = |field: &'static str,
                given: Option<&String>,
                kept: Option<&String>|
     -> RuleResult<String> { required(field, given.or(kept).map(String::as_str)) };
    let client_id = pick(
        "client_id",
        input.client_id.as_ref(),
        current.as_ref().map(|c| &c.client_id),
    )?;
    bounded("client_id", &client_id, EXTERNAL_ID)?;
    let client_secret_sealed = match (&input.client_secret, &current) {
        (Some(secret), _) => secrets
            .seal(&validate_client_secret(secret)?)
            .map_err(|e| invalid("client_secret", e.to_string()))?,
        (None, Some(c)) => c.client_secret_sealed.clone(),
        (None, None) => return Err(invalid("client_secret", "is required")),
    };
    let (tenant, issuer) = match kind {
        Kind::Entra => {
            let tenant = pick(
                "tenant",
                input.tenant.as_ref(),
                current.as_ref().and_then(|c| c.tenant.as_ref()),
            )?;
            if !is_guid(client_id.trim()) {
                return Err(invalid(
                    "client_id",
                    "must be the Application (client) ID, a GUID",
                ));
            }
            (Some(validate_tenant(&tenant)?), None)
        }
        _ => {
            let issuer = pick(
                "issuer",
                input.issuer.as_ref(),
                current.as_ref().and_then(|c| c.issuer.as_ref()),
            )?;
            let issuer = outbound_url(config, "issuer", &issuer)?;
            (None, Some(issuer.trim_end_matches('/').to_string()))
        }
    };
    Ok(Settings::Oidc(OidcSettings {
        tenant,
        issuer,
        client_id,
        client_secret_sealed,
        groups: GroupSettings::default(),
    }))
}

pub fn stored_settings(integration: &Integration) -> RuleResult<Settings> {
    serde_json::from_str(&integration.settings).map_err(codec_error)
}

/// The settings as stored: the inverse of [`stored_settings`].
pub fn encoded(settings: &Settings) -> RuleResult<String> {
    serde_json::to_string(settings).map_err(codec_error)
}

fn codec_error(e: serde_json::Error) -> RuleError {
    RuleError::Store(crate::store::StoreError::Other(sqlx::Error::Decode(
        e.into(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::load(None).unwrap()
    }

    fn secret_box() -> (SecretBox, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let sb = SecretBox::load(&crate::config::SecretsConfig {
            encryption_key: String::new(),
            key_file: dir.path().join("k"),
        })
        .unwrap();
        (sb, dir)
    }

    async fn build(kind: Kind, json: serde_json::Value) -> RuleResult<Settings> {
        let c = config();
        let (sb, _dir) = secret_box();
        let input = serde_json::from_value(json).unwrap();
        build_settings(
            &c,
            &sb,
            &Outbound::new(&c.outbound).unwrap(),
            kind,
            &input,
            None,
        )
        .await
    }

    #[tokio::test]
    async fn an_over_long_client_id_is_refused_naming_it_and_one_at_the_limit_passes() {
        let oidc = |client_id: String| {
            serde_json::json!({
                "issuer": "https://id.example.com",
                "client_id": client_id,
                "client_secret": "s",
            })
        };
        assert!(build(Kind::Oidc, oidc("c".repeat(EXTERNAL_ID)))
            .await
            .is_ok());
        let refusal = build(Kind::Oidc, oidc("c".repeat(EXTERNAL_ID + 1))).await;
        assert_eq!(
            refusal.unwrap_err().to_string(),
            "client_id: must be at most 512 characters"
        );
    }

    #[tokio::test]
    async fn settings_are_validated_per_kind() {
        let c = config();
        let (sb, _dir) = secret_box();
        let outbound = Outbound::new(&c.outbound).unwrap();
        let input =
            |json: serde_json::Value| -> IntegrationInput { serde_json::from_value(json).unwrap() };
        let cert = include_str!("../../fixtures/certs/idp-cert.pem");
        let entra = serde_json::json!({
            "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "client_id": "00000000-0000-0000-0000-000000000001",
            "client_secret": "s3cret",
        });
        let with = |extra: serde_json::Value| {
            let mut v = entra.clone();
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        let refusals = [
            (
                Kind::Okta,
                serde_json::json!({"metadata_url": "https://127.0.0.1/app/exk1/sso/saml/metadata"}),
                "private",
            ),
            (
                Kind::Okta,
                serde_json::json!({"metadata_url": "http://acme.okta.com/m"}),
                "https",
            ),
            (Kind::Okta, serde_json::json!({}), "metadata_url"),
            (
                Kind::Saml,
                serde_json::json!({"metadata_url": "https://a/m", "metadata_xml": "<x/>"}),
                "exactly one",
            ),
            (
                Kind::Saml,
                serde_json::json!({"metadata_xml": "<!DOCTYPE x><EntityDescriptor/>"}),
                "DOCTYPE",
            ),
            (
                Kind::Saml,
                serde_json::json!({"sso_url": "https://idp/sso"}),
                "certificate_pem",
            ),
            (
                Kind::Okta,
                serde_json::json!({"client_id": "x", "metadata_url": "https://a/m"}),
                "client_id",
            ),
            (
                Kind::Entra,
                with(serde_json::json!({"tenant": "not a tenant"})),
                "tenant",
            ),
            (
                Kind::Entra,
                with(serde_json::json!({"client_id": "abc"})),
                "client_id",
            ),
            (
                Kind::Entra,
                with(serde_json::json!({"issuer": "https://x"})),
                "issuer",
            ),
            (
                Kind::Oidc,
                serde_json::json!({"issuer": "https://id.example.com", "client_id": "c"}),
                "client_secret",
            ),
        ];
        for (kind, json, expected) in refusals {
            let err = build_settings(&c, &sb, &outbound, kind, &input(json.clone()), None)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }

        let manual = input(
            serde_json::json!({"sso_url": "https://idp.example.com/sso", "certificate_pem": cert}),
        );
        let Settings::Saml(saml) = build_settings(&c, &sb, &outbound, Kind::Saml, &manual, None)
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(saml.idp.sso_url, "https://idp.example.com/sso");
        assert_eq!(saml.idp.certificates.len(), 1);

        let Settings::Oidc(o) =
            build_settings(&c, &sb, &outbound, Kind::Entra, &input(entra.clone()), None)
                .await
                .unwrap()
        else {
            panic!()
        };
        assert_ne!(o.client_secret_sealed, "s3cret");
        assert_eq!(sb.open(&o.client_secret_sealed).unwrap(), "s3cret");
    }
}
