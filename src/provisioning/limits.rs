//! How long a stored string may be. Every entry point (SCIM, the admin API,
//! the admin UI, sign-in) checks its input against these before a rule
//! writes it, so one oversized value is refused with a clear message instead
//! of being stored and echoed back forever.

use super::{invalid, RuleResult};

/// An email address (RFC 5321 caps a path at 256 octets; 320 leaves room
/// for the local part + domain limits some IdPs quote).
pub const EMAIL: usize = 320;
/// A SCIM `userName` (Okta and Entra send the email or a UPN).
pub const USER_NAME: usize = 320;
/// Person names and display names, team and organization names.
pub const NAME: usize = 200;
/// An identifier another system assigned (`externalId`, IdP subject).
pub const EXTERNAL_ID: usize = 512;
/// Any other short attribute value (titles, phone numbers, locales …).
pub const ATTRIBUTE: usize = 1024;
/// A URL or URI (IdP metadata and sign-on links, issuers, SAML entity IDs):
/// 2048 is what browsers and servers commonly accept.
pub const URL: usize = 2048;
/// Pasted PEM certificates: a signing certificate, its rollover successor
/// or a short chain is a few KiB each.
pub const CERTIFICATE: usize = 64 * 1024;

/// Groups one setting may list (a team's `idp_groups`, a `role_mapping` role).
pub const IDP_GROUPS_PER_SETTING: usize = 100;
/// Groups of one sign-in that are read; more are cut (and the cut audited),
/// never refused. Entra sends at most 200 in a token, 150 in SAML.
pub const IDP_GROUPS_ASSERTED: usize = 500;

/// `value` if it is at most `max` characters long, else an `Invalid` naming `field`.
pub fn bounded<'a>(field: &'static str, value: &'a str, max: usize) -> RuleResult<&'a str> {
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_at_the_limit_passes_and_one_more_is_refused() {
        let at = "é".repeat(NAME);
        assert!(bounded("name", &at, NAME).is_ok());
        let over = format!("{at}x");
        let err = bounded("name", &over, NAME).unwrap_err().to_string();
        assert_eq!(err, "name: must be at most 200 characters");
    }
}
