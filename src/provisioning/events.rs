//! The lifecycle events of the rules in this module's siblings: each helper
//! reads what its event carries inside the rule's transaction and emits it
//! there, so the event commits (or rolls back) with the change.

use serde::Serialize;

use crate::events::{EventType, IntegrationData, MemberData, RemovalReason, TeamData};
use crate::store::{Integration, NewEvent, StoreError, Tx};

fn emit(tx: &mut Tx, org_id: &str, kind: EventType, data: impl Serialize) {
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
        emit(tx, org_id, kind, team);
    }
    Ok(team)
}

/// `team.purged`: the team is gone, so it was read just before.
pub(crate) fn team_purged(tx: &mut Tx, org_id: &str, team: TeamData) {
    emit(tx, org_id, EventType::TeamPurged, team);
}

#[derive(Serialize)]
struct TeamMembership<'a> {
    team: &'a TeamData,
    member: &'a MemberData,
}

/// `team.member_added` / `team.member_removed`, one per person.
pub(crate) fn team_membership(
    tx: &mut Tx,
    org_id: &str,
    kind: EventType,
    team: &TeamData,
    members: &[MemberData],
) {
    for member in members {
        emit(tx, org_id, kind, TeamMembership { team, member });
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
    if user_ids.is_empty() {
        return Ok(());
    }
    let mut members = tx.member_snapshots(org_id, user_ids).await?;
    // The order the change made them in, not the database's.
    members.sort_by_key(|m| user_ids.iter().position(|id| *id == m.user_id));
    team_membership(tx, org_id, kind, team, &members);
    Ok(())
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
