//! The audit log's vocabulary: what happened ([`AuditKind`]), how it ended
//! ([`Outcome`]) and who asked ([`Actor`]). Typed here, written as the same
//! strings the audit API has always returned, and read back through the one
//! parser beside each printer.

use std::fmt;
use std::str::FromStr;

/// What happened. `as_str` is the stored and served name; `label` is how
/// the admin UI says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    SignIn,
    OrganizationCreated,
    OrganizationRenamed,
    AdminTokenRotated,
    IntegrationCreated,
    IntegrationUpdated,
    IntegrationDeleted,
    IntegrationCertificatesChanged,
    IntegrationCertificateExpiring,
    ProvisioningEnabled,
    ProvisioningTokenRotated,
    ProvisioningDisabled,
    TeamCreated,
    TeamUpdated,
    TeamDeleted,
    TeamRestored,
    MemberJoined,
    MemberRoleChanged,
    MemberDeprovisioned,
    ScimUserCreated,
    ScimUserUpdated,
    ScimUserDeactivated,
    ScimUserReactivated,
    ScimUserDeleted,
    ScimGroupCreated,
    ScimGroupUpdated,
    SetupLinkCreated,
    SetupLinkUsed,
    WebhookCreated,
    WebhookDeleted,
    WebhookSecretRotated,
    WebhookRedeliveryQueued,
    DomainClaimed,
    DomainVerified,
    DomainRecordMissing,
    DomainUnverified,
    DomainRemoved,
    MemberInvited,
    SingleLogout,
}

impl AuditKind {
    pub const ALL: [AuditKind; 39] = [
        AuditKind::SignIn,
        AuditKind::OrganizationCreated,
        AuditKind::OrganizationRenamed,
        AuditKind::AdminTokenRotated,
        AuditKind::IntegrationCreated,
        AuditKind::IntegrationUpdated,
        AuditKind::IntegrationDeleted,
        AuditKind::IntegrationCertificatesChanged,
        AuditKind::IntegrationCertificateExpiring,
        AuditKind::ProvisioningEnabled,
        AuditKind::ProvisioningTokenRotated,
        AuditKind::ProvisioningDisabled,
        AuditKind::TeamCreated,
        AuditKind::TeamUpdated,
        AuditKind::TeamDeleted,
        AuditKind::TeamRestored,
        AuditKind::MemberJoined,
        AuditKind::MemberRoleChanged,
        AuditKind::MemberDeprovisioned,
        AuditKind::ScimUserCreated,
        AuditKind::ScimUserUpdated,
        AuditKind::ScimUserDeactivated,
        AuditKind::ScimUserReactivated,
        AuditKind::ScimUserDeleted,
        AuditKind::ScimGroupCreated,
        AuditKind::ScimGroupUpdated,
        AuditKind::SetupLinkCreated,
        AuditKind::SetupLinkUsed,
        AuditKind::WebhookCreated,
        AuditKind::WebhookDeleted,
        AuditKind::WebhookSecretRotated,
        AuditKind::WebhookRedeliveryQueued,
        AuditKind::DomainClaimed,
        AuditKind::DomainVerified,
        AuditKind::DomainRecordMissing,
        AuditKind::DomainUnverified,
        AuditKind::DomainRemoved,
        AuditKind::MemberInvited,
        AuditKind::SingleLogout,
    ];

    /// The stored name: dotted, `area.what`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::SignIn => "sign_in",
            AuditKind::OrganizationCreated => "organization.created",
            AuditKind::OrganizationRenamed => "organization.renamed",
            AuditKind::AdminTokenRotated => "admin_token.rotated",
            AuditKind::IntegrationCreated => "integration.created",
            AuditKind::IntegrationUpdated => "integration.updated",
            AuditKind::IntegrationDeleted => "integration.deleted",
            AuditKind::IntegrationCertificatesChanged => "integration.certificates_changed",
            AuditKind::IntegrationCertificateExpiring => "integration.certificate_expiring",
            AuditKind::ProvisioningEnabled => "provisioning.enabled",
            AuditKind::ProvisioningTokenRotated => "provisioning.token_rotated",
            AuditKind::ProvisioningDisabled => "provisioning.disabled",
            AuditKind::TeamCreated => "team.created",
            AuditKind::TeamUpdated => "team.updated",
            AuditKind::TeamDeleted => "team.deleted",
            AuditKind::TeamRestored => "team.restored",
            AuditKind::MemberJoined => "member.joined",
            AuditKind::MemberRoleChanged => "member.role_changed",
            AuditKind::MemberDeprovisioned => "member.deprovisioned",
            AuditKind::ScimUserCreated => "scim.user.created",
            AuditKind::ScimUserUpdated => "scim.user.updated",
            AuditKind::ScimUserDeactivated => "scim.user.deactivated",
            AuditKind::ScimUserReactivated => "scim.user.reactivated",
            AuditKind::ScimUserDeleted => "scim.user.deleted",
            AuditKind::ScimGroupCreated => "scim.group.created",
            AuditKind::ScimGroupUpdated => "scim.group.updated",
            AuditKind::SetupLinkCreated => "setup_link.created",
            AuditKind::SetupLinkUsed => "setup_link.used",
            AuditKind::WebhookCreated => "webhook.created",
            AuditKind::WebhookDeleted => "webhook.deleted",
            AuditKind::WebhookSecretRotated => "webhook.secret_rotated",
            AuditKind::WebhookRedeliveryQueued => "webhook.redelivery_queued",
            AuditKind::DomainClaimed => "domain.claimed",
            AuditKind::DomainVerified => "domain.verified",
            AuditKind::DomainRecordMissing => "domain.record_missing",
            AuditKind::DomainUnverified => "domain.unverified",
            AuditKind::DomainRemoved => "domain.removed",
            AuditKind::MemberInvited => "member.invited",
            AuditKind::SingleLogout => "single_logout",
        }
    }

    /// What happened, for people.
    pub const fn label(self) -> &'static str {
        match self {
            AuditKind::SignIn => "Sign-in",
            AuditKind::OrganizationCreated => "Organization created",
            AuditKind::OrganizationRenamed => "Organization renamed",
            AuditKind::AdminTokenRotated => "Admin token rotated",
            AuditKind::IntegrationCreated => "Integration connected",
            AuditKind::IntegrationUpdated => "Integration settings changed",
            AuditKind::IntegrationDeleted => "Integration deleted",
            AuditKind::IntegrationCertificatesChanged => {
                "IdP certificates changed (metadata refresh)"
            }
            AuditKind::IntegrationCertificateExpiring => "IdP signing certificate expires soon",
            AuditKind::ProvisioningEnabled => "Provisioning turned on",
            AuditKind::ProvisioningTokenRotated => "Provisioning token rotated",
            AuditKind::ProvisioningDisabled => "Provisioning turned off",
            AuditKind::TeamCreated => "Team created",
            AuditKind::TeamUpdated => "Team changed",
            AuditKind::TeamDeleted => "Team deleted",
            AuditKind::TeamRestored => "Team restored",
            AuditKind::MemberJoined => "Member joined (JIT)",
            AuditKind::MemberRoleChanged => "Member role changed",
            AuditKind::MemberDeprovisioned => "Member removed",
            AuditKind::ScimUserCreated => "SCIM: user created",
            AuditKind::ScimUserUpdated => "SCIM: user updated",
            AuditKind::ScimUserDeactivated => "SCIM: user deactivated",
            AuditKind::ScimUserReactivated => "SCIM: user reactivated",
            AuditKind::ScimUserDeleted => "SCIM: user deleted",
            AuditKind::ScimGroupCreated => "SCIM: group pushed (team created)",
            AuditKind::ScimGroupUpdated => "SCIM: group updated",
            AuditKind::SetupLinkCreated => "Setup link created",
            AuditKind::SetupLinkUsed => "Setup link used (admin signed in)",
            AuditKind::WebhookCreated => "Webhook endpoint registered",
            AuditKind::WebhookDeleted => "Webhook endpoint deleted",
            AuditKind::WebhookSecretRotated => "Webhook signing secret rotated",
            AuditKind::WebhookRedeliveryQueued => "Webhook event queued for redelivery",
            AuditKind::DomainClaimed => "Domain added (awaiting verification)",
            AuditKind::DomainVerified => "Domain verified (DNS TXT record found)",
            AuditKind::DomainRecordMissing => {
                "Domain's TXT record is missing (grace period started)"
            }
            AuditKind::DomainUnverified => "Domain lost its verification (TXT record gone)",
            AuditKind::DomainRemoved => "Domain removed",
            AuditKind::MemberInvited => "Member invited by an admin",
            AuditKind::SingleLogout => "Single Logout",
        }
    }

    pub fn parse(name: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    pub fn parse(name: &str) -> Option<Outcome> {
        match name {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        }
    }
}

/// Who asked for a change; written into the audit log as `kind:id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    AdminToken(String),
    /// The host product, with a platform API key (its id).
    ApiKey(String),
    /// A member with the owner/admin role, in the admin UI (their email).
    AdminUser(String),
    Cli,
    Scim(String),
    /// Whoever opened a setup link (its id), and their admin session.
    SetupLink(String),
    Sso(String),
    System,
}

impl Actor {
    /// Who did it, for people.
    pub fn label(&self) -> String {
        match self {
            Actor::AdminToken(_) => "Admin token".into(),
            Actor::ApiKey(id) => format!("Platform API key {}", short(id)),
            Actor::AdminUser(email) => format!("Admin {email}"),
            Actor::Scim(id) => format!("SCIM client of integration {}", short(id)),
            Actor::SetupLink(id) => format!("Admin via setup link {}", short(id)),
            Actor::Sso(id) => format!("Single sign-on via integration {}", short(id)),
            Actor::Cli => "Command line".into(),
            Actor::System => "The gateway".into(),
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::AdminToken(id) => write!(f, "admin_token:{id}"),
            Actor::ApiKey(id) => write!(f, "api_key:{id}"),
            Actor::AdminUser(email) => write!(f, "admin_user:{email}"),
            Actor::Cli => f.write_str("cli"),
            Actor::Scim(integration) => write!(f, "scim:{integration}"),
            Actor::SetupLink(id) => write!(f, "setup_link:{id}"),
            Actor::Sso(integration) => write!(f, "sso:{integration}"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// The inverse of `Display`, for rows read back from the log.
impl FromStr for Actor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.split_once(':') {
            Some(("admin_token", id)) => Ok(Actor::AdminToken(id.into())),
            Some(("api_key", id)) => Ok(Actor::ApiKey(id.into())),
            Some(("admin_user", email)) => Ok(Actor::AdminUser(email.into())),
            Some(("scim", id)) => Ok(Actor::Scim(id.into())),
            Some(("setup_link", id)) => Ok(Actor::SetupLink(id.into())),
            Some(("sso", id)) => Ok(Actor::Sso(id.into())),
            None if s == "cli" => Ok(Actor::Cli),
            None if s == "system" => Ok(Actor::System),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_itself_and_names_are_unique() {
        let mut names: Vec<_> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditKind::ALL.len());
        assert_eq!(AuditKind::parse("team.*"), None);
    }

    #[test]
    fn actors_read_back_as_written_and_as_people() {
        for actor in [
            Actor::AdminToken("t1".into()),
            Actor::AdminUser("a@b.c".into()),
            Actor::ApiKey("0123456789".into()),
            Actor::Cli,
            Actor::Scim("0123456789".into()),
            Actor::SetupLink("0123456789".into()),
            Actor::Sso("0123456789".into()),
            Actor::System,
        ] {
            assert_eq!(actor.to_string().parse::<Actor>(), Ok(actor));
        }
        assert_eq!("nobody".parse::<Actor>(), Err(()));
        assert_eq!(Actor::AdminToken("x".into()).label(), "Admin token");
        assert_eq!(Actor::AdminUser("a@b.c".into()).label(), "Admin a@b.c");
        assert!(Actor::Sso("0123456789".into())
            .label()
            .ends_with("01234567"));
        assert_eq!(Actor::Cli.label(), "Command line");
        assert_eq!(
            Actor::ApiKey("0123456789".into()).label(),
            "Platform API key 01234567"
        );
        assert_eq!(
            Actor::SetupLink("0123456789".into()).label(),
            "Admin via setup link 01234567"
        );
    }
}
