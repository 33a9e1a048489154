//! Provisioning rules: the one place that decides who belongs where.
//!
//! Every entry point — SAML and OIDC sign-in (JIT), SCIM, the admin API, the
//! admin UI, the CLI, the host product's platform API key — changes organizations, members and teams only through
//! these functions, so the rules (pre-approved domains, deprovisioning,
//! restorable team deletion) and their audit trail hold whichever way a
//! change arrives.

mod domains;
mod events;
pub mod idp_groups;
pub mod limits;
mod members;
mod membership;
mod orgs;
mod platform;
mod scim;
mod scim_groups;
mod teams;
mod verified_domains;

pub use domains::{email_domain, normalize_domains};
pub use events::{emit as emit_event, integration_changed};
pub use idp_groups::{apply_idp_groups, GroupSettings, RoleMapping};
pub use members::{admit_on_sign_in, Admission, SignInRefusal};
pub use membership::{deprovision_member, invite_member, set_member_role, Deprovisioned};
pub use orgs::{create_organization, rename_organization, rotate_admin_token, NewOrganization};
pub use platform::{
    check_setup_link, create_api_key, create_setup_link, revoke_api_key, use_setup_link,
    verify_api_key, NewApiKey, NewSetupLink, SetupLinkRefusal, UsedSetupLink,
    SETUP_LINK_MAX_SECONDS, SETUP_LINK_MIN_SECONDS,
};
pub use scim::{
    scim_create_user, scim_delete_user, scim_patch_user, scim_replace_user, ScimUserFacts,
    ScimUserPatch, ScimUserWrite,
};
pub use scim_groups::{
    scim_change_group, scim_create_group, ScimGroup, ScimGroupChange, ScimGroupFields,
};
pub use teams::{
    create_team, create_team_with, delete_team, purge_expired_teams, restore_team, update_team,
    TeamChanges,
};
pub use verified_domains::{
    claim_domain, is_verified, recheck_verified_domains, remove_domain, txt_record, verify_domain,
    vouches_for,
};

pub use crate::audit::Actor;
use crate::audit::{AuditKind, Outcome};
use crate::store::{NewAuditEvent, StoreError, Tx};

/// Why a rule refused a change.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// The record changed since the caller read it (read-modify-write lost
    /// a race); the caller may read again and retry.
    #[error("{0} was changed concurrently; retry")]
    Stale(&'static str),
    /// The rules do not allow it, whoever asks (not an input mistake).
    #[error("{0}")]
    Refused(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type RuleResult<T> = Result<T, RuleError>;

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> RuleError {
    RuleError::Invalid {
        field,
        message: message.into(),
    }
}

/// A successful change, recorded in the same transaction as the change.
pub async fn audit_success(
    tx: &mut Tx,
    org_id: &str,
    kind: AuditKind,
    actor: &Actor,
    subject: Option<&str>,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    tx.record_audit(&NewAuditEvent {
        org_id: org_id.to_string(),
        kind,
        outcome: Outcome::Success,
        actor: actor.clone(),
        subject: subject.map(str::to_string),
        reason: None,
        details,
    })
    .await
}

impl From<sqlx::Error> for RuleError {
    fn from(e: sqlx::Error) -> Self {
        RuleError::Store(e.into())
    }
}
