//! Changes to an existing membership: an admin's invitation and role
//! changes, and deprovisioning (SCIM deactivation and DELETE, an admin's
//! removal) — the one rule that takes a person out.

use serde_json::json;

use super::events::{member_changed, member_removed, member_snapshot, team_membership};
use super::members::joined_team;
use super::{audit_success, email_domain, Actor, RuleError, RuleResult};
use crate::audit::AuditKind;
use crate::events::{EventType, MemberSource, RemovalReason};
use crate::store::{Role, Store, StoreError, Tx, User, UserProfile};

/// What deprovisioning did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deprovisioned {
    /// Still a member elsewhere: only detached from this organization.
    Detached,
    /// Member nowhere else: the account is gone.
    Deleted,
}

/// Removes the person from the organization and its teams; deletes the
/// account unless another organization still has them.
pub async fn deprovision_member(
    store: &Store,
    org_id: &str,
    user_id: &str,
    actor: &Actor,
) -> RuleResult<Deprovisioned> {
    let mut tx = store.write_tx().await?;
    let outcome = deprovision_in(&mut tx, org_id, user_id, RemovalReason::AdminRemoved)
        .await?
        .ok_or(RuleError::NotFound("member"))?;
    audit_deprovisioned(&mut tx, org_id, user_id, outcome, actor).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The deprovisioning rule inside the caller's transaction; `None` when the
/// person was not a member. Emits `team.member_removed` for each live team
/// they leave, then `member.removed`.
pub(crate) async fn deprovision_in(
    tx: &mut Tx,
    org_id: &str,
    user_id: &str,
    reason: RemovalReason,
) -> Result<Option<Deprovisioned>, StoreError> {
    // Serializes with any other organization deprovisioning the same
    // account, so the last one out deletes it.
    if !tx.lock_user(user_id).await? {
        return Ok(None);
    }
    let Some(member) = member_snapshot(tx, org_id, user_id).await? else {
        return Ok(None);
    };
    let mut teams = Vec::new();
    for team_id in tx.live_team_ids_of_member(org_id, user_id).await? {
        teams.extend(tx.team_snapshot(org_id, &team_id).await?);
    }
    if !tx.remove_from_organization(org_id, user_id).await? {
        return Ok(None);
    }
    tx.remember_former_member(org_id, &member.email).await?;
    for team in &teams {
        team_membership(
            tx,
            org_id,
            EventType::TeamMemberRemoved,
            team,
            std::slice::from_ref(&member),
        );
    }
    let outcome = if tx.membership_count(user_id).await? == 0 {
        tx.delete_user(user_id).await?;
        Deprovisioned::Deleted
    } else {
        Deprovisioned::Detached
    };
    member_removed(
        tx,
        org_id,
        member,
        reason,
        outcome == Deprovisioned::Deleted,
    );
    Ok(Some(outcome))
}

pub(crate) async fn audit_deprovisioned(
    tx: &mut Tx,
    org_id: &str,
    user_id: &str,
    outcome: Deprovisioned,
    actor: &Actor,
) -> Result<(), StoreError> {
    let account = match outcome {
        Deprovisioned::Detached => "detached",
        Deprovisioned::Deleted => "deleted",
    };
    audit_success(
        tx,
        org_id,
        AuditKind::MemberDeprovisioned,
        actor,
        Some(user_id),
        json!({ "account": account }),
    )
    .await
}

/// An admin adds a person by email, with a role and teams: the account is
/// created if there is none and becomes a member at once (`source:
/// invite`). This is the admin's word for the person, so it is also what
/// lets this organization's IdP sign in an account that belongs to another
/// organization too.
pub async fn invite_member(
    store: &Store,
    org_id: &str,
    email: &str,
    role: Role,
    team_ids: &[String],
    actor: &Actor,
) -> RuleResult<User> {
    let email = super::limits::bounded("email", email.trim(), super::limits::EMAIL)?;
    if email_domain(email).is_none() {
        return Err(super::invalid(
            "email",
            format!("{email:?} is not an email address"),
        ));
    }
    let mut tx = store.write_tx().await?;
    for team_id in team_ids {
        if !tx.team_is_live(org_id, team_id).await? {
            return Err(super::invalid(
                "teams",
                format!("{team_id:?} is not a team of this organization"),
            ));
        }
    }
    let (user, _) = tx.ensure_user(email, &UserProfile::default()).await?;
    if !tx
        .upsert_membership(org_id, &user.id, role, MemberSource::Invite)
        .await?
    {
        return Err(RuleError::Conflict(format!(
            "{email} is already a member of this organization"
        )));
    }
    member_changed(&mut tx, org_id, EventType::MemberAdded, &user.id).await?;
    for team_id in team_ids {
        if tx.add_team_member(team_id, &user.id).await? {
            joined_team(&mut tx, org_id, team_id, &user.id).await?;
        }
    }
    audit_success(
        &mut tx,
        org_id,
        AuditKind::MemberInvited,
        actor,
        Some(&user.email),
        json!({ "role": role, "teams": team_ids }),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn set_member_role(
    store: &Store,
    org_id: &str,
    user_id: &str,
    role: Role,
    actor: &Actor,
) -> RuleResult<()> {
    let mut tx = store.write_tx().await?;
    let before = member_snapshot(&mut tx, org_id, user_id)
        .await?
        .ok_or(RuleError::NotFound("member"))?;
    if !tx
        .set_member_role(org_id, user_id, role, Some(crate::store::BY_ADMIN))
        .await?
    {
        return Err(RuleError::NotFound("member"));
    }
    if before.role != role.as_str() {
        member_changed(&mut tx, org_id, EventType::MemberUpdated, user_id).await?;
    }
    audit_success(
        &mut tx,
        org_id,
        AuditKind::MemberRoleChanged,
        actor,
        Some(user_id),
        json!({ "role": role }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::{admit_on_sign_in, create_organization, create_team, delete_team};
    use crate::store::testing::test_store;

    fn profile(given: &str) -> UserProfile {
        UserProfile {
            given_name: Some(given.into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn deprovisioning_detaches_or_deletes_the_account() {
        let t = test_store().await;
        let store = &t.store;
        let a = create_organization(store, "A", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let b = create_organization(store, "B", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let team_a = create_team(store, &a.id, "Eng", &["corp.com".into()], &Actor::Cli)
            .await
            .unwrap();
        create_team(store, &b.id, "Eng", &["corp.com".into()], &Actor::Cli)
            .await
            .unwrap();
        let sso = Actor::Sso("x".into());
        let user = admit_on_sign_in(store, &a.id, "carol@corp.com", &profile("Carol"), &sso)
            .await
            .unwrap()
            .user;
        // Carol's account belongs to A, so B attaches it only by invitation
        // (or a verified domain, see below).
        invite_member(
            store,
            &b.id,
            "carol@corp.com",
            Role::Member,
            &[],
            &Actor::Cli,
        )
        .await
        .unwrap();

        let scim = Actor::Scim("okta".into());
        assert_eq!(
            deprovision_member(store, &a.id, &user.id, &scim)
                .await
                .unwrap(),
            Deprovisioned::Detached
        );
        assert!(store.member(&a.id, &user.id).await.unwrap().is_none());
        assert_eq!(
            store
                .team(&a.id, &team_a.id)
                .await
                .unwrap()
                .unwrap()
                .member_count,
            0
        );
        assert!(store.member(&b.id, &user.id).await.unwrap().is_some());
        assert!(matches!(
            deprovision_member(store, &a.id, &user.id, &scim).await,
            Err(RuleError::NotFound(_))
        ));

        assert_eq!(
            deprovision_member(store, &b.id, &user.id, &scim)
                .await
                .unwrap(),
            Deprovisioned::Deleted
        );
        assert!(Store::user_by_email(store.pool(), "carol@corp.com")
            .await
            .unwrap()
            .is_none());

        // Provisioning again re-attaches (here: JIT creates the account anew).
        let back = admit_on_sign_in(store, &a.id, "carol@corp.com", &profile("Carol"), &sso)
            .await
            .unwrap();
        assert!(back.joined);
    }

    /// `/auth/verify` reads members from memory on a single instance: every
    /// committed change must show at the next read, deprovisioning above all.
    #[tokio::test]
    async fn remembered_members_show_every_committed_change() {
        use crate::provisioning::{update_team, TeamChanges};
        use crate::store::Member;
        let t = test_store().await;
        let store = &t.store.clone().remember_reads(crate::cache::Cache::Memory(
            crate::cache::MemoryCache::new(100),
        ));
        let org = create_organization(store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let team = create_team(store, &org.id, "Eng", &["corp.com".into()], &Actor::Cli)
            .await
            .unwrap();
        let sso = Actor::Sso("x".into());
        let user = admit_on_sign_in(store, &org.id, "dan@corp.com", &profile("Dan"), &sso)
            .await
            .unwrap()
            .user;
        let read = || async { store.member(&org.id, &user.id).await.unwrap() };
        let team_names = |m: Option<Member>| -> Vec<String> {
            m.unwrap().teams.into_iter().map(|t| t.name).collect()
        };
        assert_eq!(team_names(read().await), ["Eng"]);
        assert_eq!(team_names(read().await), ["Eng"], "the remembered view");

        let rename = TeamChanges {
            name: Some("Platform".into()),
            ..Default::default()
        };
        update_team(store, &org.id, &team.id, &rename, &Actor::Cli)
            .await
            .unwrap();
        assert_eq!(team_names(read().await), ["Platform"]);

        set_member_role(store, &org.id, &user.id, Role::Admin, &Actor::Cli)
            .await
            .unwrap();
        assert_eq!(read().await.unwrap().role, Role::Admin);

        // A rolled-back write changes nothing and the view stays right.
        let mut tx = store.write_tx().await.unwrap();
        tx.set_member_role(&org.id, &user.id, Role::Member, None)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(read().await.unwrap().role, Role::Admin);

        delete_team(store, &org.id, &team.id, &Actor::Cli)
            .await
            .unwrap();
        assert!(team_names(read().await).is_empty());

        deprovision_member(store, &org.id, &user.id, &Actor::Scim("okta".into()))
            .await
            .unwrap();
        assert!(read().await.is_none(), "deprovisioned: gone at once");
    }
}
