//! The userinfo fallback (OIDC Core 5.3): a generic provider that keeps
//! email and profile out of the ID token is asked at its userinfo endpoint,
//! and its answer must name the same `sub`.

use serde::Deserialize;

use super::id_token::{claimed_groups, VerifiedClaims};
use super::{clipped, Oidc};
use crate::outbound::FetchError;
use crate::signin::{Identity, Refusal, RefusalCode};

/// What we read from a userinfo answer (OIDC Core 5.3.2).
#[derive(Debug, Default, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    sub: String,
    email: Option<String>,
    /// A boolean by the spec; some providers send "true"/"false".
    email_verified: Option<serde_json::Value>,
    given_name: Option<String>,
    family_name: Option<String>,
    name: Option<String>,
    /// The rest, for the groups claim when the ID token had none.
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// At most this much of a userinfo answer is read.
const USERINFO_LIMIT: usize = 64 * 1024;

/// GETs the userinfo endpoint with the access token (redirects are not
/// followed: they would carry the token elsewhere).
pub(super) async fn userinfo(
    oidc: &Oidc,
    url: &str,
    access_token: &str,
) -> Result<UserInfo, Refusal> {
    let (content_type, body) = oidc
        .outbound
        .get_with_bearer(url, access_token, USERINFO_LIMIT)
        .await
        .map_err(|e| match e {
            FetchError::TooLarge { .. } => {
                Refusal::new(RefusalCode::UserinfoUnreadable, e.to_string())
            }
            other => Refusal::new(
                RefusalCode::ProviderUnreachable,
                format!("userinfo endpoint: {other}"),
            ),
        })?;
    let unreadable = |detail: String| Refusal::new(RefusalCode::UserinfoUnreadable, detail);
    if content_type.starts_with("application/jwt") {
        return Err(unreadable(
            "the userinfo endpoint answered with a signed JWT; only plain JSON userinfo is supported"
                .into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| {
        unreadable(format!(
            "the userinfo answer is not a JSON object of claims: {e}"
        ))
    })
}

/// Fills what the ID token left out from a userinfo answer about the same
/// person: its `sub` must equal the ID token's, or it is ignored with a refusal.
pub fn complete_from_userinfo(
    identity: &mut Identity,
    claims: &VerifiedClaims,
    info: UserInfo,
    groups_claim: &str,
) -> Result<(), Refusal> {
    if info.sub != claims.subject().as_str() {
        return Err(Refusal::new(
            RefusalCode::UserinfoMismatch,
            format!(
                "the userinfo endpoint describes subject {:?}, the ID token {:?}",
                clipped(&info.sub),
                clipped(claims.subject().as_str())
            ),
        ));
    }
    let unverified = match &info.email_verified {
        Some(serde_json::Value::Bool(b)) => !b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("false"),
        _ => false,
    };
    if unverified && info.email.is_some() {
        return Err(Refusal::new(
            RefusalCode::EmailUnverified,
            "the identity provider says this email address is not verified",
        ));
    }
    identity.email = info.email;
    let profile = &mut identity.profile;
    profile.given_name = profile.given_name.take().or(info.given_name);
    profile.family_name = profile.family_name.take().or(info.family_name);
    profile.display_name = profile.display_name.take().or(info.name);
    if identity.groups.is_none() && !identity.groups_overage {
        let (groups, overage) = claimed_groups(&info.other, groups_claim);
        identity.groups = groups;
        identity.groups_overage = overage;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::id_token::ProviderClaims;
    use crate::store::UserProfile;
    use chrono::Utc;
    use openidconnect::IdTokenClaims;
    use openidconnect::{Audience, IssuerUrl, StandardClaims, SubjectIdentifier};

    fn claims(sub: &str) -> VerifiedClaims {
        let now = Utc::now();
        IdTokenClaims::new(
            IssuerUrl::new("https://id.example.com".into()).unwrap(),
            vec![Audience::new("app".into())],
            now + chrono::Duration::minutes(5),
            now,
            StandardClaims::new(SubjectIdentifier::new(sub.into())),
            ProviderClaims::default(),
        )
    }

    fn answer(json: serde_json::Value) -> UserInfo {
        serde_json::from_value(json).unwrap()
    }

    fn nobody() -> Identity {
        Identity {
            subject: "https://id.example.com 248289761001".into(),
            email: None,
            profile: UserProfile::default(),
            ..Identity::default()
        }
    }

    #[test]
    fn userinfo_fills_in_what_the_id_token_left_out() {
        let mut identity = nobody();
        let info = answer(
            serde_json::json!({"sub": "248289761001", "email": "jane@example.com",
            "email_verified": "true", "given_name": "Jane"}),
        );
        complete_from_userinfo(&mut identity, &claims("248289761001"), info, "groups").unwrap();
        assert_eq!(identity.email.as_deref(), Some("jane@example.com"));
        assert_eq!(identity.profile.given_name.as_deref(), Some("Jane"));
    }

    #[test]
    fn userinfo_about_someone_else_or_unverified_is_refused() {
        let other = answer(serde_json::json!({"sub": "someone-else", "email": "boss@example.com"}));
        let refused =
            complete_from_userinfo(&mut nobody(), &claims("248289761001"), other, "groups");
        assert_eq!(refused.unwrap_err().code.as_str(), "userinfo_mismatch");
        let missing = answer(serde_json::json!({"email": "boss@example.com"}));
        let refused =
            complete_from_userinfo(&mut nobody(), &claims("248289761001"), missing, "groups");
        assert_eq!(refused.unwrap_err().code.as_str(), "userinfo_mismatch");
        for flag in [serde_json::json!(false), serde_json::json!("False")] {
            let info = answer(
                serde_json::json!({"sub": "248289761001", "email": "jane@example.com", "email_verified": flag}),
            );
            let refused =
                complete_from_userinfo(&mut nobody(), &claims("248289761001"), info, "groups");
            assert_eq!(refused.unwrap_err().code.as_str(), "email_unverified");
        }
    }
}
