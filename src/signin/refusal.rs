//! Why a sign-in was refused, as a type: a stable code for the audit log
//! and metrics, the exact detail for the admin, and the class of page the
//! person sees. No HTTP here: the web layer alone turns a class into a
//! status and a page (`web::sign_in`).

/// Which kind of answer a refusal calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The identity provider's answer was not acceptable: retry, then ask the admin.
    Verification,
    /// The request itself is malformed, or uses a construct refused for safety.
    Malformed,
    /// The request is larger than we read.
    TooLarge,
    /// The identity provider could not be reached.
    ProviderDown,
    /// The person is verified but not admitted to this organization.
    NotAdmitted,
    /// Our side (database, cache) is temporarily down.
    Unavailable,
    /// No such sign-in link.
    UnknownIntegration,
}

/// Every reason a sign-in can be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
    /// The account belongs to another organization and nothing here
    /// (verified domain, invitation, former membership) lets this one attach it.
    AccountElsewhere,
    AlgorithmRefused,
    AssertionCount,
    AudienceMismatch,
    AudienceMissing,
    BadForm,
    BadSignature,
    BrowserMismatch,
    CodeMissing,
    CodeRefused,
    CommentRefused,
    ConfirmationExpired,
    DestinationMismatch,
    DiscoveryFailed,
    DoctypeRefused,
    EmailUnverified,
    EncodingRefused,
    EncryptedRefused,
    Expired,
    InResponseToMismatch,
    InResponseToUnknown,
    InResponseToOtherIntegration,
    IssuedInFuture,
    IssuerMismatch,
    MarkupRefused,
    MissingResponse,
    NoBearerConfirmation,
    NoCertificate,
    NoEmail,
    NoIdToken,
    NoSubject,
    NonceMismatch,
    NotAResponse,
    NotBase64,
    NotUtf8,
    NotConfigured,
    NotPreapproved,
    NotYetValid,
    ProviderError,
    ProviderUnreachable,
    RecipientMismatch,
    ReferenceRefused,
    Replayed,
    RequestFailed,
    SignatureInvalid,
    SignatureStructureRefused,
    Stale,
    StateMissing,
    StateUnknown,
    StatusNotSuccess,
    TokenRefused,
    TokenUnreadable,
    TooLarge,
    TransformRefused,
    Unavailable,
    UnknownIntegration,
    Unsigned,
    UnsolicitedRefused,
    UserinfoMismatch,
    UserinfoUnreadable,
    WrongAudience,
    WrongIssuer,
    WrongTenant,
    XmlMalformed,
}

impl RefusalCode {
    pub const ALL: [RefusalCode; 64] = [
        RefusalCode::AccountElsewhere,
        RefusalCode::AlgorithmRefused,
        RefusalCode::AssertionCount,
        RefusalCode::AudienceMismatch,
        RefusalCode::AudienceMissing,
        RefusalCode::BadForm,
        RefusalCode::BadSignature,
        RefusalCode::BrowserMismatch,
        RefusalCode::CodeMissing,
        RefusalCode::CodeRefused,
        RefusalCode::CommentRefused,
        RefusalCode::ConfirmationExpired,
        RefusalCode::DestinationMismatch,
        RefusalCode::DiscoveryFailed,
        RefusalCode::DoctypeRefused,
        RefusalCode::EmailUnverified,
        RefusalCode::EncodingRefused,
        RefusalCode::EncryptedRefused,
        RefusalCode::Expired,
        RefusalCode::InResponseToMismatch,
        RefusalCode::InResponseToUnknown,
        RefusalCode::InResponseToOtherIntegration,
        RefusalCode::IssuedInFuture,
        RefusalCode::IssuerMismatch,
        RefusalCode::MarkupRefused,
        RefusalCode::MissingResponse,
        RefusalCode::NoBearerConfirmation,
        RefusalCode::NoCertificate,
        RefusalCode::NoEmail,
        RefusalCode::NoIdToken,
        RefusalCode::NoSubject,
        RefusalCode::NonceMismatch,
        RefusalCode::NotAResponse,
        RefusalCode::NotBase64,
        RefusalCode::NotUtf8,
        RefusalCode::NotConfigured,
        RefusalCode::NotPreapproved,
        RefusalCode::NotYetValid,
        RefusalCode::ProviderError,
        RefusalCode::ProviderUnreachable,
        RefusalCode::RecipientMismatch,
        RefusalCode::ReferenceRefused,
        RefusalCode::Replayed,
        RefusalCode::RequestFailed,
        RefusalCode::SignatureInvalid,
        RefusalCode::SignatureStructureRefused,
        RefusalCode::Stale,
        RefusalCode::StateMissing,
        RefusalCode::StateUnknown,
        RefusalCode::StatusNotSuccess,
        RefusalCode::TokenRefused,
        RefusalCode::TokenUnreadable,
        RefusalCode::TooLarge,
        RefusalCode::TransformRefused,
        RefusalCode::Unavailable,
        RefusalCode::UnknownIntegration,
        RefusalCode::Unsigned,
        RefusalCode::UnsolicitedRefused,
        RefusalCode::UserinfoMismatch,
        RefusalCode::UserinfoUnreadable,
        RefusalCode::WrongAudience,
        RefusalCode::WrongIssuer,
        RefusalCode::WrongTenant,
        RefusalCode::XmlMalformed,
    ];

    /// The stable name in the audit log, metrics and tests.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalCode::AlgorithmRefused => "algorithm_refused",
            RefusalCode::AssertionCount => "assertion_count",
            RefusalCode::AudienceMismatch => "audience_mismatch",
            RefusalCode::AudienceMissing => "audience_missing",
            RefusalCode::BadForm => "bad_form",
            RefusalCode::BadSignature => "bad_signature",
            RefusalCode::BrowserMismatch => "browser_mismatch",
            RefusalCode::CodeMissing => "code_missing",
            RefusalCode::CodeRefused => "code_refused",
            RefusalCode::CommentRefused => "comment_refused",
            RefusalCode::ConfirmationExpired => "confirmation_expired",
            RefusalCode::DestinationMismatch => "destination_mismatch",
            RefusalCode::DiscoveryFailed => "discovery_failed",
            RefusalCode::DoctypeRefused => "doctype_refused",
            RefusalCode::EmailUnverified => "email_unverified",
            RefusalCode::EncodingRefused => "encoding_refused",
            RefusalCode::EncryptedRefused => "encrypted_refused",
            RefusalCode::AccountElsewhere => "account_elsewhere",
            RefusalCode::Expired => "expired",
            RefusalCode::InResponseToMismatch => "in_response_to_mismatch",
            RefusalCode::InResponseToUnknown => "in_response_to_unknown",
            RefusalCode::InResponseToOtherIntegration => "in_response_to_other_integration",
            RefusalCode::IssuedInFuture => "issued_in_future",
            RefusalCode::IssuerMismatch => "issuer_mismatch",
            RefusalCode::MarkupRefused => "markup_refused",
            RefusalCode::MissingResponse => "missing_response",
            RefusalCode::NoBearerConfirmation => "no_bearer_confirmation",
            RefusalCode::NoCertificate => "no_certificate",
            RefusalCode::NoEmail => "no_email",
            RefusalCode::NoIdToken => "no_id_token",
            RefusalCode::NoSubject => "no_subject",
            RefusalCode::NonceMismatch => "nonce_mismatch",
            RefusalCode::NotAResponse => "not_a_response",
            RefusalCode::NotBase64 => "not_base64",
            RefusalCode::NotUtf8 => "not_utf8",
            RefusalCode::NotConfigured => "not_configured",
            RefusalCode::NotPreapproved => "not_preapproved",
            RefusalCode::NotYetValid => "not_yet_valid",
            RefusalCode::ProviderError => "provider_error",
            RefusalCode::ProviderUnreachable => "provider_unreachable",
            RefusalCode::RecipientMismatch => "recipient_mismatch",
            RefusalCode::ReferenceRefused => "reference_refused",
            RefusalCode::Replayed => "replayed",
            RefusalCode::RequestFailed => "request_failed",
            RefusalCode::SignatureInvalid => "signature_invalid",
            RefusalCode::SignatureStructureRefused => "signature_structure_refused",
            RefusalCode::Stale => "stale",
            RefusalCode::StateMissing => "state_missing",
            RefusalCode::StateUnknown => "state_unknown",
            RefusalCode::StatusNotSuccess => "status_not_success",
            RefusalCode::TokenRefused => "token_refused",
            RefusalCode::TokenUnreadable => "token_unreadable",
            RefusalCode::TooLarge => "too_large",
            RefusalCode::TransformRefused => "transform_refused",
            RefusalCode::Unavailable => "unavailable",
            RefusalCode::UnknownIntegration => "unknown_integration",
            RefusalCode::Unsigned => "unsigned",
            RefusalCode::UnsolicitedRefused => "unsolicited_refused",
            RefusalCode::UserinfoMismatch => "userinfo_mismatch",
            RefusalCode::UserinfoUnreadable => "userinfo_unreadable",
            RefusalCode::WrongAudience => "wrong_audience",
            RefusalCode::WrongIssuer => "wrong_issuer",
            RefusalCode::WrongTenant => "wrong_tenant",
            RefusalCode::XmlMalformed => "xml_malformed",
        }
    }

    pub fn parse(code: &str) -> Option<RefusalCode> {
        RefusalCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    pub const fn class(self) -> Class {
        match self {
            RefusalCode::AlgorithmRefused
            | RefusalCode::AssertionCount
            | RefusalCode::BadForm
            | RefusalCode::CommentRefused
            | RefusalCode::DoctypeRefused
            | RefusalCode::EncodingRefused
            | RefusalCode::EncryptedRefused
            | RefusalCode::MarkupRefused
            | RefusalCode::MissingResponse
            | RefusalCode::NotAResponse
            | RefusalCode::NotBase64
            | RefusalCode::NotUtf8
            | RefusalCode::ReferenceRefused
            | RefusalCode::SignatureStructureRefused
            | RefusalCode::TransformRefused
            | RefusalCode::Unsigned
            | RefusalCode::XmlMalformed => Class::Malformed,
            RefusalCode::TooLarge => Class::TooLarge,
            RefusalCode::DiscoveryFailed | RefusalCode::ProviderUnreachable => Class::ProviderDown,
            RefusalCode::NotPreapproved | RefusalCode::AccountElsewhere => Class::NotAdmitted,
            RefusalCode::Unavailable => Class::Unavailable,
            RefusalCode::UnknownIntegration => Class::UnknownIntegration,
            _ => Class::Verification,
        }
    }

    /// What it means and what to do, in words an admin can act on.
    pub const fn explanation(self) -> &'static str {
        match self {
            RefusalCode::AudienceMismatch | RefusalCode::AudienceMissing | RefusalCode::DestinationMismatch | RefusalCode::RecipientMismatch => {
                "The response was addressed to another application. In the IdP, the Audience / ACS URL must be this integration's ACS URL."
            }
            RefusalCode::BrowserMismatch | RefusalCode::InResponseToMismatch | RefusalCode::InResponseToUnknown | RefusalCode::InResponseToOtherIntegration | RefusalCode::Stale => {
                "The response did not match a sign-in started in this browser (expired, or started elsewhere). Start the sign-in again."
            }
            RefusalCode::ConfirmationExpired | RefusalCode::Expired | RefusalCode::IssuedInFuture | RefusalCode::NotYetValid => {
                "The response was outside its validity window. Check the clocks of the identity provider and this server, then sign in again."
            }
            RefusalCode::IssuerMismatch => {
                "The response came from a different identity provider (Issuer) than the one connected. Check that the metadata link belongs to this application."
            }
            RefusalCode::NoCertificate | RefusalCode::SignatureInvalid | RefusalCode::Unsigned => {
                "The response's signature did not verify against this integration's certificate. The IdP may have a new signing certificate: refresh the metadata link or paste the new certificate."
            }
            RefusalCode::NoEmail => {
                "The identity provider sent no usable email address. In the IdP, set the application username / NameID format to Email."
            }
            RefusalCode::NotConfigured => {
                "The integration's settings could not be read; save them again."
            }
            RefusalCode::NotPreapproved => {
                "The identity provider vouched for the person, but they are not a member and no team pre-approves their email domain. Add the domain to a team (Teams → ⋯ → Configure) or provision them by SCIM."
            }
            RefusalCode::AccountElsewhere => {
                "The person's account already belongs to another organization. This organization's identity provider may attach it only once this organization has verified the email domain (Domains), or an admin has invited the person, or they were a member here before."
            }
            RefusalCode::Replayed => {
                "This exact response had already been used once; a copy was refused."
            }
            RefusalCode::StatusNotSuccess => {
                "The identity provider reported that it did not sign the person in (for example, not assigned to the application)."
            }
            RefusalCode::Unavailable => {
                "Part of this service was unavailable (database or cache); the person can simply try again."
            }
            RefusalCode::UnknownIntegration => {
                "The sign-in link names no integration (removed or mistyped)."
            }
            RefusalCode::UnsolicitedRefused => {
                "Sign-in started at the identity provider (its app tile) is turned off here. Start from the sign-in URL instead."
            }
            _ => "The identity provider's answer was malformed or used a feature that is refused for safety (see the technical detail).",
        }
    }
}

/// The organization and domain a not-admitted person is told about.
#[derive(Debug, Clone)]
pub struct NotAdmitted {
    pub org_name: String,
    pub domain: String,
}

/// A refused sign-in.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: RefusalCode,
    pub detail: String,
    /// Set for the [`Class::NotAdmitted`] codes: what the page names.
    pub not_admitted: Option<NotAdmitted>,
}

impl Refusal {
    pub fn new(code: RefusalCode, detail: impl Into<String>) -> Self {
        Refusal {
            code,
            detail: detail.into(),
            not_admitted: None,
        }
    }

    /// Our side failed (database, cache, a worker): the person may retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Refusal::new(RefusalCode::Unavailable, detail)
    }

    pub fn not_admitted(detail: impl Into<String>, org_name: String, domain: String) -> Self {
        Refusal {
            not_admitted: Some(NotAdmitted { org_name, domain }),
            ..Refusal::new(RefusalCode::NotPreapproved, detail)
        }
    }

    /// The account belongs to another organization (see
    /// [`RefusalCode::AccountElsewhere`]).
    pub fn account_elsewhere(detail: impl Into<String>, org_name: String, domain: String) -> Self {
        Refusal {
            not_admitted: Some(NotAdmitted { org_name, domain }),
            ..Refusal::new(RefusalCode::AccountElsewhere, detail)
        }
    }

    /// The audit log's `reason`: `code: detail`, as the audit API has always served it.
    pub fn reason(&self) -> String {
        format!("{}: {}", self.code.as_str(), self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_itself_and_codes_are_unique() {
        let mut names: Vec<_> = RefusalCode::ALL.iter().map(|c| c.as_str()).collect();
        for code in RefusalCode::ALL {
            assert_eq!(RefusalCode::parse(code.as_str()), Some(code));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RefusalCode::ALL.len());
    }

    #[test]
    fn refusals_explain_themselves_to_the_admin() {
        assert!(RefusalCode::NotPreapproved
            .explanation()
            .contains("pre-approves"));
        assert_eq!(RefusalCode::XmlMalformed.class(), Class::Malformed);
        assert_eq!(RefusalCode::Expired.class(), Class::Verification);
        let refusal = Refusal::new(RefusalCode::Replayed, "used twice");
        assert_eq!(refusal.reason(), "replayed: used twice");
    }
}
