//! The SCIM group rules: a group is a team of the organization whose
//! members are exactly the accounts of the group's SCIM users.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::events::{team_changed, team_event, team_membership_of};
use super::{audit_success, invalid, Actor, RuleError, RuleResult};
use crate::audit::AuditKind;
use crate::events::{EventType, TeamData};
use crate::store::{Integration, Store, StoreError, Tx};

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
    /// SCIM user ids, in the order they are listed.
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
        .scim_write(move |tx| {
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
    check_members(tx, integration, &[], &fields.members).await?;
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
    let (added, _) = sync_members(tx, integration, &team, &[], &fields.members).await?;
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
        .scim_write(move |tx| {
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
        members: Store::scim_group_members(&mut **tx, team_id).await?,
        team: before,
    };
    let fields = match change.changed(&group) {
        Ok(fields) => fields,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let name = super::orgs::validate_name("displayName", &fields.display_name)?;
    check_members(tx, integration, &group.members, &fields.members).await?;
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
    let (added, removed) =
        sync_members(tx, integration, &team, &group.members, &fields.members).await?;
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

/// Members the group did not have before must be users of this
/// integration. Only those are looked up: checking the whole list made
/// every PATCH of a 100-member group read 100 rows to add 10.
async fn check_members(
    tx: &mut Tx,
    integration: &Integration,
    before: &[String],
    wanted: &[String],
) -> RuleResult<()> {
    let before: HashSet<&String> = before.iter().collect();
    let new: Vec<&str> = wanted
        .iter()
        .filter(|id| !before.contains(id))
        .map(String::as_str)
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let known = tx.known_scim_user_ids(&integration.id, &new).await?;
    match new.iter().find(|id| !known.contains(**id)) {
        Some(unknown) => Err(invalid(
            "members",
            format!("{unknown:?} is not a user of this tenant"),
        )),
        None => Ok(()),
    }
}

/// Records the group's SCIM members (`before` → `members`) and makes the
/// team's members exactly the accounts among them (deactivated or
/// email-less users have none yet); returns how many joined and left.
async fn sync_members(
    tx: &mut Tx,
    integration: &Integration,
    team: &TeamData,
    before: &[String],
    members: &[String],
) -> Result<(usize, usize), StoreError> {
    let team_id = team.id.as_str();
    tx.set_scim_group_members(team_id, before, members).await?;
    // Only the listed users and the team's current members are read, never
    // the integration's whole directory (one group PATCH of a 100k-user
    // tenant read all 100k rows).
    let wanted: Vec<String> = tx
        .scim_group_accounts(&integration.id, team_id)
        .await?
        .into_iter()
        .map(|(_, user_id)| user_id)
        .collect();
    let current = tx.scim_team_members(&integration.id, team_id).await?;
    let current_set: HashSet<&String> = current.iter().map(|m| &m.user_id).collect();
    let wanted_set: HashSet<&String> = wanted.iter().collect();
    let joining: Vec<&String> = wanted.iter().filter(|u| !current_set.contains(u)).collect();
    let added = tx
        .add_organization_members_to_team(&integration.org_id, team_id, &joining)
        .await?;
    // Only memberships the mapping granted are claimed (those who join
    // now hold theirs by SCIM already).
    if current.iter().any(|m| m.by_mapping) {
        tx.claim_scim_team_members(team_id).await?;
    }
    let mut removed = Vec::new();
    // Only people this integration provisions leave with the group; members
    // an admin or a pre-approved domain brought in stay.
    for member in current
        .iter()
        .filter(|m| m.provisioned && !wanted_set.contains(&m.user_id))
    {
        if tx.remove_team_member(team_id, &member.user_id).await? {
            removed.push(member.user_id.as_str());
        }
    }
    let org_id = &integration.org_id;
    let added_ids: Vec<&str> = added.iter().map(String::as_str).collect();
    team_membership_of(tx, org_id, EventType::TeamMemberAdded, team, &added_ids).await?;
    team_membership_of(tx, org_id, EventType::TeamMemberRemoved, team, &removed).await?;
    Ok((added.len(), removed.len()))
}

fn group_name_taken(name: &str) -> RuleError {
    RuleError::Conflict(format!("a group named {name:?} already exists"))
}
