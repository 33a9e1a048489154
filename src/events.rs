//! The lifecycle events' vocabulary: which changes the host product hears
//! about ([`EventType`]), the objects they carry, and how an event id reads.
//!
//! Events are written by the provisioning rules in the same transaction as
//! the change (see `store::Tx::emit`), so this module only names and shapes
//! them. Nothing here may carry a secret: the payloads are built from these
//! structs alone, which have no field for one.

use std::fmt;

use serde::Serialize;

/// A kind of change. `as_str` is the `type` of the envelope, stable forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    MemberAdded,
    MemberUpdated,
    MemberRemoved,
    TeamCreated,
    TeamUpdated,
    TeamDeleted,
    TeamRestored,
    TeamPurged,
    TeamMemberAdded,
    TeamMemberRemoved,
    IntegrationCreated,
    IntegrationUpdated,
    IntegrationDeleted,
    IntegrationCertificateExpiring,
    ProvisioningEnabled,
    ProvisioningDisabled,
    DomainVerified,
    DomainUnverified,
}

impl EventType {
    pub const ALL: [EventType; 18] = [
        EventType::MemberAdded,
        EventType::MemberUpdated,
        EventType::MemberRemoved,
        EventType::TeamCreated,
        EventType::TeamUpdated,
        EventType::TeamDeleted,
        EventType::TeamRestored,
        EventType::TeamPurged,
        EventType::TeamMemberAdded,
        EventType::TeamMemberRemoved,
        EventType::IntegrationCreated,
        EventType::IntegrationUpdated,
        EventType::IntegrationDeleted,
        EventType::IntegrationCertificateExpiring,
        EventType::ProvisioningEnabled,
        EventType::ProvisioningDisabled,
        EventType::DomainVerified,
        EventType::DomainUnverified,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::MemberAdded => "member.added",
            EventType::MemberUpdated => "member.updated",
            EventType::MemberRemoved => "member.removed",
            EventType::TeamCreated => "team.created",
            EventType::TeamUpdated => "team.updated",
            EventType::TeamDeleted => "team.deleted",
            EventType::TeamRestored => "team.restored",
            EventType::TeamPurged => "team.purged",
            EventType::TeamMemberAdded => "team.member_added",
            EventType::TeamMemberRemoved => "team.member_removed",
            EventType::IntegrationCreated => "integration.created",
            EventType::IntegrationUpdated => "integration.updated",
            EventType::IntegrationDeleted => "integration.deleted",
            EventType::IntegrationCertificateExpiring => "integration.certificate_expiring",
            EventType::ProvisioningEnabled => "provisioning.enabled",
            EventType::ProvisioningDisabled => "provisioning.disabled",
            EventType::DomainVerified => "domain.verified",
            EventType::DomainUnverified => "domain.unverified",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// A comma-separated filter (`member.added,team.deleted`); an unknown
    /// name is an error naming it, so a typo never silently matches nothing.
    pub fn parse_list(list: &str) -> Result<Vec<EventType>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| EventType::parse(name).ok_or_else(|| name.to_string()))
            .collect()
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event id as the API shows it: `evt_` and the deployment-wide sequence
/// number, zero-padded so that ids also sort as strings.
pub fn format_event_id(sequence: i64) -> String {
    format!("evt_{sequence:016}")
}

/// The sequence number of an id [`format_event_id`] wrote.
pub fn parse_event_id(id: &str) -> Option<i64> {
    let digits = id.strip_prefix("evt_")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n >= 0)
}

/// How a person came to be a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberSource {
    /// Admitted at sign-in by a pre-approved domain.
    Jit,
    /// Provisioned by an IdP's SCIM client.
    Scim,
    Admin,
    Invite,
    /// Put into a team by the IdP-groups mapping at sign-in.
    Idp,
}

impl MemberSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            MemberSource::Jit => "jit",
            MemberSource::Scim => "scim",
            MemberSource::Admin => "admin",
            MemberSource::Invite => "invite",
            MemberSource::Idp => "idp",
        }
    }

    pub fn parse(name: &str) -> Option<MemberSource> {
        [
            MemberSource::Jit,
            MemberSource::Scim,
            MemberSource::Admin,
            MemberSource::Invite,
            MemberSource::Idp,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// Why a person stopped being a member (`member.removed`'s `data.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    ScimDeactivated,
    ScimDeleted,
    AdminRemoved,
}

/// A member as events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberData {
    pub user_id: String,
    pub email: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub role: String,
    pub source: MemberSource,
}

/// A team as events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamData {
    pub id: String,
    pub name: String,
    /// The SCIM group id, for a team an IdP pushed.
    pub scim_id: Option<String>,
    pub external_id: Option<String>,
    /// Email domains whose people join on first sign-in.
    pub preapproved_domains: Vec<String>,
}

/// An integration as events carry it: what it is, never its settings (they
/// hold client secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrationData {
    pub id: String,
    pub kind: String,
    pub name: String,
    /// For `integration.updated`: the names of the settings changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// A domain as events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainData {
    pub domain: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_reads_back_and_names_are_unique() {
        let mut names: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
        assert_eq!(
            EventType::parse_list("member.added, team.deleted,"),
            Ok(vec![EventType::MemberAdded, EventType::TeamDeleted])
        );
        assert_eq!(
            EventType::parse_list("member.added,member.exploded"),
            Err("member.exploded".to_string())
        );
    }

    #[test]
    fn event_ids_sort_as_strings_and_read_back() {
        assert_eq!(format_event_id(42), "evt_0000000000000042");
        assert!(format_event_id(9) < format_event_id(10));
        assert_eq!(parse_event_id(&format_event_id(123_456)), Some(123_456));
        for bad in ["", "evt_", "evt_-1", "evt_12a", "42", "evt_+5", "evt_ 1"] {
            assert_eq!(parse_event_id(bad), None, "{bad:?}");
        }
    }
}
