//! The SCIM group rules: a group is a team of the organization whose
//! members are exactly the accounts of the group's SCIM users.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::events::{team_changed, team_event, team_membership_of};
use super::{audit_success, invalid, Actor, RuleError, RuleResult};
use crate::audit::AuditKind;
use crate::events::{EventType, TeamData};
use crate::store::{Integration, ScimGroupMember, Store, StoreError, Tx};

/// What a SCIM client asserts about a group (a team).
#[derive(Debug, Clone)]
pub struct ScimGroupFields {
    pub display_name: String,
    pub external_id: Option<String>,
    /// SCIM user ids, each listed once; the rule checks they are this
    /// integration's users.
    pub members: Vec<String>,
}

/// A group as a change to it reads it, inside the write that applies it.
pub struct ScimGroup {
    pub team: TeamData,
    /// SCIM user ids, in no particular order.
    pub members: Vec<String>,
}

/// A change to a group (a parsed PUT or PATCH), applied inside the write to
/// the group as it is then: Entra sends a group's member PATCHes from
/// several workers at once, and each must add to what the others wrote
/// rather than write a list read before they committed over it.
pub trait ScimGroupChange: Send + Sync + 'static {
    /// Why the client's change cannot be applied (a protocol error).
    type Refusal: Send + 'static;
    fn changed(&self, group: &ScimGroup) -> Result<ScimGroupFields, Self::Refusal>;
}

/// Group push: the group becomes a team of the organization
/// (group-committed, as user creates are).
pub async fn scim_create_group(
    store: &Store,
    integration: &Integration,
    fields: ScimGroupFields,
    actor: &Actor,
) -> RuleResult<String> {
    let name = super::orgs::validate_name("displayName", &fields.display_name)?;
    let owned = Arc::new((integration.clone(), actor.clone(), fields, name));
    store
        .group_write(move |tx| {
            let owned = owned.clone();
            Box::pin(async move {
                let (integration, actor, fields, name) = &*owned;
                create_group_in(tx, integration, name, fields, actor).await
            })
        })
        .await
}

async fn create_group_in(
    tx: &mut Tx,
    integration: &Integration,
    name: &str,
    fields: &ScimGroupFields,
    actor: &Actor,
) -> RuleResult<String> {
    let change = member_change(tx, integration, &[], &fields.members).await?;
    let team_id = match tx
        .insert_team(
            &integration.org_id,
            name,
            &[],
            Some((&integration.id, fields.external_id.as_deref())),
        )
        .await
    {
        Err(StoreError::Conflict) => return Err(group_name_taken(name)),
        other => other?,
    };
    let team = team_changed(tx, &integration.org_id, EventType::TeamCreated, &team_id)
        .await?
        .ok_or(RuleError::NotFound("group"))?;
    let (added, _) = sync_members(tx, integration, &team, &change).await?;
    let details = json!({ "operation": "POST /Groups", "name": name, "members_added": added });
    audit_success(
        tx,
        &integration.org_id,
        AuditKind::ScimGroupCreated,
        actor,
        Some(&team_id),
        details,
    )
    .await?;
    Ok(team_id)
}

/// PUT/PATCH of a group: name, externalId and the member list as `change`
/// makes them from the group read under a lock (group-committed). The
/// outer error is the rules' or the store's; the inner one is `change`'s
/// refusal, after which nothing is written.
pub async fn scim_change_group<C: ScimGroupChange>(
    store: &Store,
    integration: &Integration,
    team_id: &str,
    change: C,
    operation: &'static str,
    actor: &Actor,
) -> RuleResult<Result<(), C::Refusal>> {
    let owned = Arc::new((
        integration.clone(),
        actor.clone(),
        change,
        team_id.to_string(),
    ));
    store
        .group_write(move |tx| {
            let owned = owned.clone();
            Box::pin(async move {
                let (integration, actor, change, team_id) = &*owned;
                change_group_in(tx, integration, team_id, change, operation, actor).await
            })
        })
        .await
}

async fn change_group_in<C: ScimGroupChange>(
    tx: &mut Tx,
    integration: &Integration,
    team_id: &str,
    change: &C,
    operation: &str,
    actor: &Actor,
) -> RuleResult<Result<(), C::Refusal>> {
    let org_id = &integration.org_id;
    let before = tx
        .lock_scim_team(org_id, &integration.id, team_id)
        .await?
        .ok_or(RuleError::NotFound("group"))?;
    let group = ScimGroup {
        members: tx.scim_group_member_ids(team_id).await?,
        team: before,
    };
    let fields = match change.changed(&group) {
        Ok(fields) => fields,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let name = super::orgs::validate_name("displayName", &fields.display_name)?;
    let members = member_change(tx, integration, &group.members, &fields.members).await?;
    // Also what lastModified says: the group changed now.
    match tx
        .update_scim_team(org_id, team_id, &name, fields.external_id.as_deref())
        .await
    {
        Err(StoreError::Conflict) => return Err(group_name_taken(&name)),
        Ok(false) => return Err(RuleError::NotFound("group")),
        other => other?,
    };
    // What was just written over what was read: not read back.
    let team = TeamData {
        name: name.clone(),
        external_id: fields.external_id.clone(),
        ..group.team.clone()
    };
    if group.team != team {
        team_event(tx, org_id, EventType::TeamUpdated, &team);
    }
    let (added, removed) = sync_members(tx, integration, &team, &members).await?;
    let details = json!({ "operation": operation, "name": name, "members_added": added, "members_removed": removed });
    audit_success(
        tx,
        org_id,
        AuditKind::ScimGroupUpdated,
        actor,
        Some(team_id),
        details,
    )
    .await?;
    Ok(Ok(()))
}

/// Who a write adds to a group's SCIM member list and who it takes off.
struct MemberChange {
    joining: Vec<ScimGroupMember>,
    leaving: Vec<ScimGroupMember>,
}

/// The difference between the group's members `before` and the `wanted`
/// list, with the accounts of those who join or leave: only they are read
/// (by key), never the whole group. Members new to the group must be users
/// of this integration.
async fn member_change(
    tx: &mut Tx,
    integration: &Integration,
    before: &[String],
    wanted: &[String],
) -> RuleResult<MemberChange> {
    let listed: HashSet<&str> = before.iter().map(String::as_str).collect();
    let kept: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    let new: HashSet<&str> = kept.difference(&listed).copied().collect();
    let changed: Vec<&str> = before
        .iter()
        .map(String::as_str)
        .filter(|id| !kept.contains(id))
        .chain(new.iter().copied())
        .collect();
    let looked_up = if changed.is_empty() {
        Vec::new()
    } else {
        tx.known_scim_users(&integration.id, &changed).await?
    };
    let (joining, leaving): (Vec<_>, Vec<_>) = looked_up
        .into_iter()
        .partition(|member| new.contains(member.id.as_str()));
    if joining.len() < new.len() {
        let known: HashSet<&str> = joining.iter().map(|member| member.id.as_str()).collect();
        if let Some(unknown) = wanted
            .iter()
            .find(|id| new.contains(id.as_str()) && !known.contains(id.as_str()))
        {
            return Err(invalid(
                "members",
                format!("{unknown:?} is not a user of this tenant"),
            ));
        }
    }
    Ok(MemberChange { joining, leaving })
}

/// Writes `change` to the group's SCIM member list and the same change to
/// the team: the joining users' accounts join it, the leaving users'
/// accounts leave it (deactivated or email-less users have none yet);
/// returns how many joined and left. Only the changed members are read
/// and written, never the whole group: a sync's PATCHes add ten members
/// at a time to groups of a hundred. Members an admin or a pre-approved
/// domain brought in are not touched unless the group names them.
async fn sync_members(
    tx: &mut Tx,
    integration: &Integration,
    team: &TeamData,
    change: &MemberChange,
) -> Result<(usize, usize), StoreError> {
    let team_id = team.id.as_str();
    let ids = |members: &[ScimGroupMember]| -> Vec<String> {
        members.iter().map(|member| member.id.clone()).collect()
    };
    tx.change_scim_group_members(team_id, &ids(&change.leaving), &ids(&change.joining))
        .await?;
    let joining: Vec<&String> = change
        .joining
        .iter()
        .filter_map(|member| member.account.as_ref())
        .collect();
    let added = tx
        .add_organization_members_to_team(&integration.org_id, team_id, &joining)
        .await?;
    // A joining account that was in the team already may hold that
    // membership by the IdP-groups mapping; it holds it by SCIM now, so the
    // mapping no longer takes it away.
    if joining.len() > added.len() {
        tx.claim_scim_team_members(team_id).await?;
    }
    let leaving: Vec<&str> = change
        .leaving
        .iter()
        .filter_map(|member| member.account.as_deref())
        .collect();
    let removed = if leaving.is_empty() {
        Vec::new()
    } else {
        tx.remove_scim_team_members(team_id, &leaving).await?
    };
    let org_id = &integration.org_id;
    let added_ids: Vec<&str> = added.iter().map(String::as_str).collect();
    let removed_ids: Vec<&str> = removed.iter().map(String::as_str).collect();
    team_membership_of(tx, org_id, EventType::TeamMemberAdded, team, &added_ids).await?;
    team_membership_of(tx, org_id, EventType::TeamMemberRemoved, team, &removed_ids).await?;
    Ok((added.len(), removed.len()))
}

fn group_name_taken(name: &str) -> RuleError {
    RuleError::Conflict(format!("a group named {name:?} already exists"))
}
