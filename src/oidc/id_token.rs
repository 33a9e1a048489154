//! The ID token: the claims we read beyond the standard ones, the
//! algorithms we accept, and every check on a token (pure, so each can be
//! tested with a crafted token), down to the [`Identity`] it vouches for.

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IdTokenClaims, Nonce,
    SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

use super::provider::Provider;
use super::OidcSettings;
use crate::signin::pending;
use crate::signin::{Identity, Refusal, RefusalCode};
use crate::store::UserProfile;

/// Claims beyond the standard ones that we read: Entra's tenant and object
/// ids and UPN, and `nbf`, which openidconnect does not check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderClaims {
    tid: Option<String>,
    oid: Option<String>,
    upn: Option<String>,
    nbf: Option<i64>,
    /// The rest, for the claim an integration names (`groups_attribute`)
    /// and Entra's group-overage signal. Read only: serialized, it would
    /// repeat the standard claims.
    #[serde(flatten, skip_serializing)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// The groups listed in `claim` of a claims object: `(groups, overage)`.
/// Entra leaves a person's groups out when there are too many and names
/// the claim in `_claim_names` (a distributed claim) instead — or, in the
/// implicit flow, says `hasgroups: true`: then the groups are unknown.
/// Values that are not strings are ignored.
pub fn claimed_groups(
    claims: &serde_json::Map<String, serde_json::Value>,
    claim: &str,
) -> (Option<Vec<String>>, bool) {
    if let Some(list) = claims.get(claim).and_then(|v| v.as_array()) {
        let groups = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        return (Some(groups), false);
    }
    let distributed = claims
        .get("_claim_names")
        .and_then(|names| names.get(claim))
        .is_some();
    let has_groups = claims.get("hasgroups") == Some(&serde_json::Value::Bool(true));
    (None, distributed || has_groups)
}
impl AdditionalClaims for ProviderClaims {}

type ProviderIdToken = IdToken<
    ProviderClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type VerifiedClaims = IdTokenClaims<ProviderClaims, CoreGenderClaim>;

/// Asymmetric algorithms only: `none` is never accepted, and an HMAC
/// algorithm would let anyone holding the provider's *public* key (or the
/// client secret) mint tokens.
const ALLOWED_ALGORITHMS: [CoreJwsSigningAlgorithm; 8] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

/// Why an ID token was refused.
#[derive(Debug)]
pub enum Verification {
    /// Signed by a key the provider does not (yet) publish: worth re-fetching keys.
    UnknownKey(String),
    Refused {
        code: RefusalCode,
        detail: String,
    },
}

impl Verification {
    fn refused(code: RefusalCode, detail: impl Into<String>) -> Self {
        Verification::Refused {
            code,
            detail: detail.into(),
        }
    }

    pub(super) fn into_failure(self) -> Refusal {
        match self {
            Verification::UnknownKey(detail) => Refusal::new(RefusalCode::BadSignature, detail),
            Verification::Refused { code, detail } => Refusal::new(code, detail),
        }
    }
}

/// Every check on the ID token. Pure, so each can be tested with a crafted token.
pub fn verify(
    provider: &Provider,
    settings: &OidcSettings,
    raw: &str,
    nonce: &str,
    now: DateTime<Utc>,
    skew: chrono::Duration,
) -> Result<VerifiedClaims, Verification> {
    let token: ProviderIdToken = raw.parse().map_err(|e| {
        Verification::refused(
            RefusalCode::TokenUnreadable,
            format!("the ID token is not a JWT: {e}"),
        )
    })?;
    let max_age = chrono::Duration::from_std(pending::LIFETIME).unwrap_or_default() + skew;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(settings.client_id.clone()),
        provider.metadata.issuer().clone(),
        provider.metadata.jwks().clone(),
    )
    .set_allowed_algs(ALLOWED_ALGORITHMS)
    // exp is checked against "now", so moving now back by the skew tolerates
    // a provider whose clock runs behind.
    .set_time_fn(move || now - skew)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + skew {
            Err(format!("issued in the future ({iat})"))
        } else if iat < now - max_age {
            Err(format!(
                "issued too long ago ({iat}) to answer this sign-in"
            ))
        } else {
            Ok(())
        }
    });
    let claims = token
        .into_claims(&verifier, &Nonce::new(nonce.to_string()))
        .map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ) => Verification::UnknownKey(
                "the ID token is signed by a key the provider does not publish".into(),
            ),
            ClaimsVerificationError::SignatureVerification(e) => Verification::refused(
                RefusalCode::BadSignature,
                format!("the ID token's signature is not acceptable: {e}"),
            ),
            ClaimsVerificationError::InvalidIssuer(e) => Verification::refused(
                RefusalCode::WrongIssuer,
                format!("the ID token's issuer is wrong: {e}"),
            ),
            ClaimsVerificationError::InvalidAudience(e) => Verification::refused(
                RefusalCode::WrongAudience,
                format!("the ID token is not for this application: {e}"),
            ),
            ClaimsVerificationError::Expired(e) => Verification::refused(
                RefusalCode::Expired,
                format!("the ID token is expired or not current: {e}"),
            ),
            ClaimsVerificationError::InvalidNonce(e) => Verification::refused(
                RefusalCode::NonceMismatch,
                format!("the ID token does not answer this sign-in (nonce): {e}"),
            ),
            other => Verification::refused(
                RefusalCode::TokenRefused,
                format!("the ID token is not acceptable: {other}"),
            ),
        })?;
    if let Some(nbf) = claims.additional_claims().nbf {
        if nbf > (now + skew).timestamp() {
            return Err(Verification::refused(
                RefusalCode::NotYetValid,
                format!("the ID token is not valid before {nbf}"),
            ));
        }
    }
    if let Some(tenant_id) = &provider.entra_tenant_id {
        let tid = claims.additional_claims().tid.as_deref().unwrap_or("");
        if !tid.eq_ignore_ascii_case(tenant_id) {
            return Err(Verification::refused(
                RefusalCode::WrongTenant,
                format!("the ID token is from tenant {tid:?}, expected {tenant_id}"),
            ));
        }
    }
    Ok(claims)
}

/// Who the verified token vouches for. Entra keys people by tenant + object
/// id (its `sub` is per application); others by issuer + subject.
pub(super) fn identity(
    provider: &Provider,
    claims: &VerifiedClaims,
    groups_claim: &str,
) -> Result<Identity, Refusal> {
    let extra = claims.additional_claims();
    let (groups, groups_overage) = claimed_groups(&extra.other, groups_claim);
    let subject = match &provider.entra_tenant_id {
        Some(tenant_id) => {
            let oid = extra
                .oid
                .as_deref()
                .filter(|o| !o.is_empty())
                .ok_or_else(|| {
                    Refusal::new(
                        RefusalCode::NoSubject,
                        "the Entra ID token carries no oid (object id)",
                    )
                })?;
            format!("entra:{tenant_id}:{oid}")
        }
        None => format!("{} {}", claims.issuer().as_str(), claims.subject().as_str()),
    };
    if claims.email_verified() == Some(false) && provider.entra_tenant_id.is_none() {
        return Err(Refusal::new(
            RefusalCode::EmailUnverified,
            "the identity provider says this email address is not verified",
        ));
    }
    // Entra's `email` is optional and admin-editable; its preferred_username
    // and upn are the sign-in name, usually the address. Either way the
    // provider only vouches inside its own organization.
    let email = claims.email().map(|e| e.as_str().to_string()).or_else(|| {
        provider.entra_tenant_id.as_ref().and_then(|_| {
            claims
                .preferred_username()
                .map(|p| p.as_str().to_string())
                .filter(|p| p.contains('@'))
                .or_else(|| extra.upn.clone())
        })
    });
    Ok(Identity {
        subject,
        email,
        profile: UserProfile {
            given_name: claims
                .given_name()
                .and_then(|c| c.get(None))
                .map(|v| (**v).clone()),
            family_name: claims
                .family_name()
                .and_then(|c| c.get(None))
                .map(|v| (**v).clone()),
            display_name: claims
                .name()
                .and_then(|c| c.get(None))
                .map(|v| (**v).clone()),
        },
        saml: None,
        groups,
        groups_overage,
        attributes: Vec::new(),
    })
}
