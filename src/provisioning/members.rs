//! Who may become a member: JIT admission on sign-in, and the rule for
//! attaching an account that already belongs to another organization.

use serde_json::json;

use super::events::{member_changed, team_membership_of};
use super::{audit_success, email_domain, Actor};
use crate::audit::AuditKind;
use crate::events::{EventType, MemberSource};
use crate::store::{Role, Store, StoreError, Tx, User, UserProfile};

/// A person let in by a sign-in.
#[derive(Debug, Clone)]
pub struct Admission {
    pub user: User,
    /// True when this sign-in made them a member (JIT).
    pub joined: bool,
}

/// Why a sign-in did not admit the person, in words fit for them.
#[derive(Debug, thiserror::Error)]
pub enum SignInRefusal {
    #[error("the identity provider sent no usable email address")]
    NoEmail,
    #[error("{email} is not a member of this organization, and no team pre-approves the domain {domain}")]
    DomainNotPreapproved { email: String, domain: String },
    #[error("{email} already belongs to another organization, and this one has neither verified {domain} nor invited them")]
    AccountElsewhere { email: String, domain: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SignInRefusal {
    fn from(e: sqlx::Error) -> Self {
        SignInRefusal::Store(e.into())
    }
}

/// The JIT rule, for every sign-in path: an existing member signs in; anyone
/// else (a known account or a new email) joins the organization — and every
/// live team pre-approving their email domain — only if such a team exists.
/// The identity provider vouched for this organization alone, so nothing
/// here ever touches another organization.
pub async fn admit_on_sign_in(
    store: &Store,
    org_id: &str,
    email: &str,
    profile: &UserProfile,
    actor: &Actor,
) -> Result<Admission, SignInRefusal> {
    let email = email.trim();
    let domain = email_domain(email).ok_or(SignInRefusal::NoEmail)?;
    // Most sign-ins are by members whose names have not changed: answer
    // those without taking the database's write lock.
    if let Some((user, member)) =
        Store::user_and_membership_by_email(store.pool(), org_id, email).await?
    {
        if member && !renames(&user, profile) {
            return Ok(Admission {
                user,
                joined: false,
            });
        }
    }
    let mut tx = store.write_tx().await?;
    if let Some(user) = Store::user_by_email(&mut *tx, email).await? {
        if Store::membership_role(&mut *tx, org_id, &user.id)
            .await?
            .is_some()
        {
            refresh_profile(&mut tx, org_id, &user, profile).await?;
            tx.commit().await?;
            return Ok(Admission {
                user,
                joined: false,
            });
        }
    }
    let teams = tx.live_teams_preapproving(org_id, &domain).await?;
    if teams.is_empty() {
        return Err(SignInRefusal::DomainNotPreapproved {
            email: email.to_string(),
            domain,
        });
    }
    let (user, created) = tx.ensure_user(email, profile).await?;
    if !created && !may_attach(&mut tx, org_id, &user).await? {
        return Err(SignInRefusal::AccountElsewhere {
            email: email.to_string(),
            domain,
        });
    }
    tx.upsert_membership(org_id, &user.id, Role::Member, MemberSource::Jit)
        .await?;
    member_changed(&mut tx, org_id, EventType::MemberAdded, &user.id).await?;
    for team_id in &teams {
        tx.add_team_member(team_id, &user.id).await?;
        joined_team(&mut tx, org_id, team_id, &user.id).await?;
    }
    audit_success(
        &mut tx,
        org_id,
        AuditKind::MemberJoined,
        actor,
        Some(&user.email),
        json!({ "via": "preapproved_domain", "domain": domain, "teams": teams }),
    )
    .await?;
    tx.commit().await?;
    Ok(Admission { user, joined: true })
}

/// The rule for attaching an existing account that is not yet a member
/// here, for every entry point (JIT, SCIM): an account that belongs to no
/// other organization may be attached; one that does only if this
/// organization has verified its email domain or had it as a member before
/// (re-provisioning re-attaches). Invitations need no check: they make the
/// membership first. Otherwise an IdP could assert `ceo@bigcorp.com` and
/// take over that global account.
pub(crate) async fn may_attach(tx: &mut Tx, org_id: &str, user: &User) -> Result<bool, StoreError> {
    if tx.other_memberships(org_id, &user.id).await? == 0 {
        return Ok(true);
    }
    if let Some(domain) = email_domain(&user.email) {
        if Store::verified_domain_owner(&mut **tx, &domain)
            .await?
            .as_deref()
            == Some(org_id)
        {
            return Ok(true);
        }
    }
    tx.was_member(org_id, &user.email).await
}

/// Whether `profile` would change any of the account's names (an absent
/// name changes nothing).
fn renames(user: &User, profile: &UserProfile) -> bool {
    [
        (&profile.given_name, &user.given_name),
        (&profile.family_name, &user.family_name),
        (&profile.display_name, &user.display_name),
    ]
    .iter()
    .any(|(new, old)| new.is_some() && new != old)
}

/// Names belong to the global account, so an identity provider may change
/// them only while its organization is the account's sole home: otherwise
/// one organization's IdP could rename another organization's people. A
/// rename is a `member.updated` for the organization.
pub(crate) async fn refresh_profile(
    tx: &mut Tx,
    org_id: &str,
    user: &User,
    profile: &UserProfile,
) -> Result<(), StoreError> {
    if renames(user, profile) && tx.membership_count(&user.id).await? <= 1 {
        tx.update_user_profile(&user.id, profile).await?;
        member_changed(tx, org_id, EventType::MemberUpdated, &user.id).await?;
    }
    Ok(())
}

/// `team.member_added` for one person who just joined a team.
pub(crate) async fn joined_team(
    tx: &mut Tx,
    org_id: &str,
    team_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    if let Some(team) = tx.team_snapshot(org_id, team_id).await? {
        team_membership_of(tx, org_id, EventType::TeamMemberAdded, &team, &[user_id]).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::{
        create_organization, create_team, delete_team, deprovision_member, invite_member,
    };
    use crate::store::testing::test_store;
    use crate::store::Role;

    fn profile(given: &str) -> UserProfile {
        UserProfile {
            given_name: Some(given.into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn jit_admits_only_preapproved_domains_into_matching_teams() {
        let t = test_store().await;
        let store = &t.store;
        let org = create_organization(store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let sso = Actor::Sso("integration-1".into());

        let refused =
            admit_on_sign_in(store, &org.id, "eve@other.com", &profile("Eve"), &sso).await;
        assert!(
            matches!(refused, Err(SignInRefusal::DomainNotPreapproved { ref domain, .. }) if domain == "other.com")
        );
        assert!(
            Store::user_by_email(store.pool(), "eve@other.com")
                .await
                .unwrap()
                .is_none(),
            "no account for a refusal"
        );

        let eng = create_team(store, &org.id, "Eng", &["acme.com".into()], &Actor::Cli)
            .await
            .unwrap();
        let ops = create_team(store, &org.id, "Ops", &["acme.com".into()], &Actor::Cli)
            .await
            .unwrap();
        let _other = create_team(store, &org.id, "Other", &["acme.org".into()], &Actor::Cli)
            .await
            .unwrap();
        let admitted = admit_on_sign_in(store, &org.id, "Alice@ACME.com", &profile("Alice"), &sso)
            .await
            .unwrap();
        assert!(admitted.joined);
        let member = store
            .member(&org.id, &admitted.user.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(member.role, Role::Member);
        let mut teams: Vec<_> = member.teams.iter().map(|t| t.id.clone()).collect();
        teams.sort();
        let mut expected = vec![eng.id.clone(), ops.id.clone()];
        expected.sort();
        assert_eq!(teams, expected);

        // A member signs in again even once the domain is no longer approved.
        delete_team(store, &org.id, &eng.id, &Actor::Cli)
            .await
            .unwrap();
        delete_team(store, &org.id, &ops.id, &Actor::Cli)
            .await
            .unwrap();
        let again = admit_on_sign_in(store, &org.id, "alice@acme.com", &profile("Alice"), &sso)
            .await
            .unwrap();
        assert!(!again.joined);
        assert_eq!(again.user.id, admitted.user.id);
        assert!(
            admit_on_sign_in(store, &org.id, "not-an-email", &profile("x"), &sso)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn another_organizations_membership_never_admits_here() {
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
        create_team(store, &a.id, "Eng", &["shared.com".into()], &Actor::Cli)
            .await
            .unwrap();
        admit_on_sign_in(
            store,
            &a.id,
            "bob@shared.com",
            &profile("Bob"),
            &Actor::Sso("a".into()),
        )
        .await
        .unwrap();
        let refused = admit_on_sign_in(
            store,
            &b.id,
            "bob@shared.com",
            &profile("Bob"),
            &Actor::Sso("b".into()),
        )
        .await;
        assert!(matches!(
            refused,
            Err(SignInRefusal::DomainNotPreapproved { .. })
        ));
    }

    /// Verifies `domain` for `org_id`, as a found TXT record would.
    async fn verified(store: &Store, org_id: &str, domain: &str) {
        let mut tx = store.write_tx().await.unwrap();
        tx.insert_org_domain(&crate::store::OrgDomain {
            org_id: org_id.into(),
            domain: domain.into(),
            challenge: "c".into(),
            created_at: 0,
            verified_at: None,
            last_checked_at: None,
            failing_since: None,
        })
        .await
        .unwrap();
        assert!(tx.set_domain_verified(org_id, domain).await.unwrap());
        tx.commit().await.unwrap();
    }

    /// The nOAuth rule: another organization's IdP asserting an email it
    /// does not own cannot take the existing account.
    #[tokio::test]
    async fn an_account_of_another_organization_is_attached_only_when_allowed() {
        let t = test_store().await;
        let store = &t.store;
        let home = create_organization(store, "BigCorp", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let evil = create_organization(store, "Evil", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let friend = create_organization(store, "Friend", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        for org in [&home, &evil, &friend] {
            create_team(store, &org.id, "All", &["bigcorp.com".into()], &Actor::Cli)
                .await
                .unwrap();
        }
        let sso = Actor::Sso("i".into());
        let ceo = admit_on_sign_in(store, &home.id, "ceo@bigcorp.com", &profile("Ceo"), &sso)
            .await
            .unwrap()
            .user;

        // Pre-approving the domain is not owning it.
        let taken = admit_on_sign_in(
            store,
            &evil.id,
            "ceo@bigcorp.com",
            &profile("Mallory"),
            &sso,
        )
        .await;
        assert!(
            matches!(taken, Err(SignInRefusal::AccountElsewhere { ref domain, .. }) if domain == "bigcorp.com")
        );
        assert!(store.member(&evil.id, &ceo.id).await.unwrap().is_none());
        let account = Store::user_by_email(store.pool(), "ceo@bigcorp.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            account.given_name.as_deref(),
            Some("Ceo"),
            "nothing of the account changed"
        );
        // Someone new at the domain is still admitted by JIT.
        assert!(
            admit_on_sign_in(store, &evil.id, "new@bigcorp.com", &profile("N"), &sso)
                .await
                .is_ok()
        );

        // The organization that verified the domain may attach it.
        verified(store, &friend.id, "bigcorp.com").await;
        let joined = admit_on_sign_in(store, &friend.id, "ceo@bigcorp.com", &profile("Ceo"), &sso)
            .await
            .unwrap();
        assert!(joined.joined);
        // A former member is re-attached (re-provisioning), even without it.
        deprovision_member(store, &friend.id, &ceo.id, &Actor::Cli)
            .await
            .unwrap();
        let mut tx = store.write_tx().await.unwrap();
        tx.set_domain_unverified(&friend.id, "bigcorp.com")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            admit_on_sign_in(store, &friend.id, "ceo@bigcorp.com", &profile("Ceo"), &sso)
                .await
                .unwrap()
                .joined
        );
        // An invitation lets Evil's IdP sign the person in: the admin vouched.
        invite_member(
            store,
            &evil.id,
            "ceo@bigcorp.com",
            Role::Member,
            &[],
            &Actor::Cli,
        )
        .await
        .unwrap();
        assert!(
            admit_on_sign_in(store, &evil.id, "ceo@bigcorp.com", &profile("Ceo"), &sso)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn concurrent_first_sign_ins_make_one_account() {
        let t = test_store().await;
        let store = t.store.clone();
        let org = create_organization(&store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        create_team(&store, &org.id, "Eng", &["acme.com".into()], &Actor::Cli)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (store, org_id) = (store.clone(), org.id.clone());
                tokio::spawn(async move {
                    admit_on_sign_in(
                        &store,
                        &org_id,
                        "dan@acme.com",
                        &UserProfile::default(),
                        &Actor::Sso("i".into()),
                    )
                    .await
                    .map(|a| a.user.id)
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap().unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1);
        assert_eq!(store.members(&org.id, None, 10).await.unwrap().len(), 1);
    }
}
