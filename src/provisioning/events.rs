//! The lifecycle events of the rules in this module's siblings: each helper
//! reads what its event carries inside the rule's transaction and emits it
//! there, so the event commits (or rolls back) with the change.

use serde::Serialize;

use crate::events::{
    DomainData, EventType, IntegrationData, MemberData, MemberSource, RemovalReason, TeamData,
};
use crate::store::{Integration, NewEvent, StoreError, Tx};

/// Buffers an event on `tx`; every helper below goes through here (and the
/// certificate-expiry pass, whose payload is its own).
pub fn emit(tx: &mut Tx, org_id: &str, kind: EventType, data: impl Serialize) {
    // Serializing these plain structs cannot fail; should it ever, the
    // event still goes out, with what could be said.
    let data = serde_json::to_value(data).unwrap_or_default();
    tx.emit(NewEvent {
        org_id: org_id.to_string(),
        kind,
        data,
    });
}

/// The member as they are now, or `None` if they are not one.
pub(crate) async fn member_snapshot(
    tx: &mut Tx,
    org_id: &str,
    user_id: &str,
) -> Result<Option<MemberData>, StoreError> {
    Ok(tx.member_snapshots(org_id, &[user_id]).await?.pop())
}

/// `member.added` / `member.updated`, with the member as the change left them.
pub(crate) async fn member_changed(
    tx: &mut Tx,
    org_id: &str,
    kind: EventType,
    user_id: &str,
) -> Result<(), StoreError> {
    if let Some(member) = member_snapshot(tx, org_id, user_id).await? {
        emit(tx, org_id, kind, member);
    }
    Ok(())
}

#[derive(Serialize)]
struct Removed {
    #[serde(flatten)]
    member: MemberData,
    reason: RemovalReason,
    /// Whether the global account went too (member nowhere else).
    account_deleted: bool,
}

/// `member.removed`, with the member as they were (read before the removal).
pub(crate) fn member_removed(
    tx: &mut Tx,
    org_id: &str,
    member: MemberData,
    reason: RemovalReason,
    account_deleted: bool,
) {
    let removed = Removed {
        member,
        reason,
        account_deleted,
    };
    emit(tx, org_id, EventType::MemberRemoved, removed);
}

/// A `team.*` event with the team as it is now; returns it for the
/// membership events that may follow.
pub(crate) async fn team_changed(
    tx: &mut Tx,
    org_id: &str,
    kind: EventType,
    team_id: &str,
) -> Result<Option<TeamData>, StoreError> {
    let team = tx.team_snapshot(org_id, team_id).await?;
    if let Some(team) = &team {
        team_event(tx, org_id, kind, team);
    }
    Ok(team)
}

/// A `team.*` event with the team as the caller already read it (after an
/// update; `team.purged`: just before it went).
pub(crate) fn team_event(tx: &mut Tx, org_id: &str, kind: EventType, team: &TeamData) {
    emit(tx, org_id, kind, team);
}

#[derive(Serialize)]
struct TeamMembership<'a> {
    team: &'a TeamData,
    member: &'a MemberData,
    /// What granted or took the team membership, when it is not what
    /// brought the member in (`idp`: the IdP-groups mapping).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<MemberSource>,
}

/// `team.member_added` / `team.member_removed`, one per person.
pub(crate) fn team_membership(
    tx: &mut Tx,
    org_id: &str,
    kind: EventType,
    team: &TeamData,
    members: &[MemberData],
) {
    team_membership_via(tx, org_id, kind, team, members, None);
}

/// As [`team_membership`], naming what made the change (`source`).
pub(crate) fn team_membership_via(
    tx: &mut Tx,
    org_id: &str,
    kind: EventType,
    team: &TeamData,
    members: &[MemberData],
    source: Option<MemberSource>,
) {
    for member in members {
        emit(
            tx,
            org_id,
            kind,
            TeamMembership {
                team,
                member,
                source,
            },
        );
    }
}

/// As [`team_membership`], reading the people (still members) by id.
pub(crate) async fn team_membership_of(
    tx: &mut Tx,
    org_id: &str,
    kind: EventType,
    team: &TeamData,
    user_ids: &[&str],
) -> Result<(), StoreError> {
    team_membership_of_via(tx, org_id, kind, team, user_ids, None).await
}

/// As [`team_membership_of`], naming what made the change (`source`).
pub(crate) async fn team_membership_of_via(
    tx: &mut Tx,
    org_id: &str,
    kind: EventType,
    team: &TeamData,
    user_ids: &[&str],
    source: Option<MemberSource>,
) -> Result<(), StoreError> {
    if user_ids.is_empty() {
        return Ok(());
    }
    let mut members = tx.member_snapshots(org_id, user_ids).await?;
    // The order the change made them in, not the database's.
    members.sort_by_key(|m| user_ids.iter().position(|id| *id == m.user_id));
    team_membership_via(tx, org_id, kind, team, &members, source);
    Ok(())
}

/// `domain.verified` / `domain.unverified`.
pub(crate) fn domain_changed(tx: &mut Tx, org_id: &str, kind: EventType, domain: &str) {
    let data = DomainData {
        domain: domain.to_string(),
    };
    emit(tx, org_id, kind, data);
}

/// An `integration.*` / `provisioning.*` event: what the integration is
/// and which settings changed (`changed`, names only), never their values.
pub fn integration_changed(
    tx: &mut Tx,
    kind: EventType,
    integration: &Integration,
    changed: &[&str],
) {
    let data = IntegrationData {
        id: integration.id.clone(),
        kind: integration.kind.as_str().to_string(),
        name: integration.name.clone(),
        changed: changed.iter().map(|c| c.to_string()).collect(),
    };
    emit(tx, &integration.org_id, kind, data);
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::audit::Actor;
    use crate::provisioning::{
        admit_on_sign_in, create_organization, create_team, deprovision_member, set_member_role,
        RuleError,
    };
    use crate::store::testing::test_store;
    use crate::store::{EventFilter, Role, Store, UserProfile};

    async fn stream(store: &Store) -> Vec<(String, Value)> {
        let end = store.last_event_id().await.unwrap();
        store
            .events_after(0, end, &EventFilter::default(), 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, serde_json::from_str(&e.data).unwrap()))
            .collect()
    }

    #[tokio::test]
    async fn sign_in_and_removal_tell_the_whole_story_in_order() {
        let t = test_store().await;
        let store = &t.store;
        let org = create_organization(store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        create_team(store, &org.id, "Eng", &["acme.com".into()], &Actor::Cli)
            .await
            .unwrap();
        let profile = UserProfile {
            given_name: Some("Ada".into()),
            ..Default::default()
        };
        let sso = Actor::Sso("i".into());
        let user = admit_on_sign_in(store, &org.id, "ada@acme.com", &profile, &sso)
            .await
            .unwrap()
            .user;
        // A second sign-in with the same names is no change: no event.
        admit_on_sign_in(store, &org.id, "ada@acme.com", &profile, &sso)
            .await
            .unwrap();
        set_member_role(store, &org.id, &user.id, Role::Admin, &Actor::Cli)
            .await
            .unwrap();
        set_member_role(store, &org.id, &user.id, Role::Admin, &Actor::Cli)
            .await
            .unwrap();
        deprovision_member(store, &org.id, &user.id, &Actor::Cli)
            .await
            .unwrap();

        let events = stream(store).await;
        let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            types,
            [
                "team.created",
                "member.added",
                "team.member_added",
                "member.updated",
                "team.member_removed",
                "member.removed"
            ]
        );
        let added = &events[1].1;
        assert_eq!(added["email"], "ada@acme.com");
        assert_eq!(added["given_name"], "Ada");
        assert_eq!(added["source"], "jit");
        assert_eq!(added["role"], "member");
        assert_eq!(events[2].1["team"]["name"], "Eng");
        assert_eq!(events[2].1["team"]["preapproved_domains"][0], "acme.com");
        assert_eq!(events[2].1["member"]["user_id"], user.id.as_str());
        assert_eq!(events[3].1["role"], "admin");
        let removed = &events[5].1;
        assert_eq!(removed["reason"], "admin_removed");
        assert_eq!(removed["account_deleted"], true);
        assert_eq!(removed["email"], "ada@acme.com");
    }

    #[tokio::test]
    async fn a_refused_or_rolled_back_change_emits_nothing() {
        let t = test_store().await;
        let store = &t.store;
        let org = create_organization(store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        create_team(store, &org.id, "Eng", &[], &Actor::Cli)
            .await
            .unwrap();
        let before = store.last_event_id().await.unwrap();
        let dup = create_team(store, &org.id, "eng", &[], &Actor::Cli).await;
        assert!(matches!(dup, Err(RuleError::Conflict(_))));
        let mut tx = store.write_tx().await.unwrap();
        tx.insert_team(&org.id, "Ops", &[], None).await.unwrap();
        tx.emit(crate::store::NewEvent {
            org_id: org.id.clone(),
            kind: crate::events::EventType::TeamCreated,
            data: serde_json::json!({}),
        });
        tx.rollback().await.unwrap();
        assert_eq!(store.last_event_id().await.unwrap(), before);
        assert_eq!(stream(store).await.len(), 1);
    }

    /// Ids are handed out in commit order: concurrent writers leave no gap
    /// and no event appears below one already readable.
    #[tokio::test]
    async fn concurrent_writers_get_contiguous_ids() {
        let t = test_store().await;
        let store = t.store.clone();
        let org = create_organization(&store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (store, org_id) = (store.clone(), org.id.clone());
                tokio::spawn(async move {
                    create_team(&store, &org_id, &format!("T{i}"), &[], &Actor::Cli).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let end = store.last_event_id().await.unwrap();
        let ids: Vec<i64> = store
            .events_after(0, end, &EventFilter::default(), 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, (1..=12).collect::<Vec<_>>());
    }
}
