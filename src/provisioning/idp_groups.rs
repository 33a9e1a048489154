//! IdP groups → teams and roles: the one rule for what a sign-in's asserted
//! groups change.
//!
//! * A team whose `idp_groups` holds one of the person's groups gets them as
//!   a member (`team_members.source = 'idp'`); once no group of theirs maps
//!   to it any more, the mapping takes them out again — only a membership
//!   it granted itself: one that SCIM, JIT, an invitation or an admin gave
//!   is neither duplicated nor removed (and one of those given after the
//!   mapping's takes it over).
//! * An integration's `role_mapping` sets the role: `owner` if a group of
//!   theirs is listed there, else `admin` if one is listed there. A role a
//!   person chose (an admin, an invitation with a role) is never changed.
//!   With no match, a role the mapping set falls back to `member`; a role
//!   nobody chose stays `member`.
//! * Group matching is exact but case-insensitive: names are compared that
//!   way, and Entra's object ids (GUIDs) are hexadecimal, so it is exact
//!   for them.
//! * The groups are only known when the IdP asserted them: `None` (nothing
//!   said, or Entra's group overage) changes nothing.
//!
//! Admission is not this module's: JIT and invitations decide who is a
//! member; the mapping then arranges the member's teams and role.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::events::{member_changed, team_membership_of_via};
use super::limits::{self, EXTERNAL_ID, URL};
use super::{audit_success, invalid, Actor, RuleResult};
use crate::audit::AuditKind;
use crate::events::{EventType, MemberSource};
use crate::store::{mapping_facts, MappingFacts, Role, Store, StoreError, BY_ADMIN, BY_IDP};

/// The SAML attribute names read when `groups_attribute` is not set: the
/// plain name and the claim URIs Entra and ADFS-style IdPs send.
pub const DEFAULT_SAML_GROUP_ATTRIBUTES: &[&str] = &[
    "groups",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "http://schemas.xmlsoap.org/claims/Group",
];
/// Entra's SAML group-overage signal: a link to Graph instead of the groups.
pub const SAML_OVERAGE_ATTRIBUTE: &str = "http://schemas.microsoft.com/claims/groups.link";
/// The OIDC claim read when `groups_attribute` is not set.
pub const DEFAULT_OIDC_GROUPS_CLAIM: &str = "groups";

/// What the audit note says when the groups are unknown.
pub const OVERAGE_NOTE: &str =
    "the IdP reported group overage; team and role mapping skipped for this sign-in";

/// An integration's group settings (stored with its other settings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSettings {
    /// The SAML attribute / OIDC claim listing the person's groups; `None`:
    /// the defaults above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "RoleMapping::is_empty")]
    pub role_mapping: RoleMapping,
}

/// Groups whose members get a role above `member`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleMapping {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin: Vec<String>,
}

impl RoleMapping {
    pub fn is_empty(&self) -> bool {
        self.owner.is_empty() && self.admin.is_empty()
    }

    /// The highest role a group of `keys` (lowercase) maps to.
    fn role_for(&self, keys: &HashSet<String>) -> Option<Role> {
        let hit = |groups: &[String]| groups.iter().any(|g| keys.contains(&g.to_lowercase()));
        if hit(&self.owner) {
            Some(Role::Owner)
        } else if hit(&self.admin) {
            Some(Role::Admin)
        } else {
            None
        }
    }
}

/// A setting's list of groups (a team's `idp_groups`, a `role_mapping`
/// entry): non-empty strings, each and all bounded; duplicates (ignoring
/// case) dropped.
pub fn group_list(field: &'static str, values: &[String]) -> RuleResult<Vec<String>> {
    if values.len() > limits::IDP_GROUPS_PER_SETTING {
        return Err(invalid(
            field,
            format!("may list at most {} groups", limits::IDP_GROUPS_PER_SETTING),
        ));
    }
    let mut seen = HashSet::new();
    let mut groups = Vec::new();
    for value in values {
        let group = limits::bounded(field, value.trim(), EXTERNAL_ID)?;
        if group.is_empty() {
            return Err(invalid(field, "must not contain an empty group name"));
        }
        if seen.insert(group.to_lowercase()) {
            groups.push(group.to_string());
        }
    }
    Ok(groups)
}

/// `role_mapping` as an admin sends it: `{"owner": [...], "admin": [...]}`.
pub fn parse_role_mapping(value: &Value) -> RuleResult<RoleMapping> {
    const FIELD: &str = "role_mapping";
    let Some(object) = value.as_object() else {
        return Err(invalid(
            FIELD,
            r#"must be an object like {"owner": [...], "admin": [...]}"#,
        ));
    };
    let mut mapping = RoleMapping::default();
    for (key, groups) in object {
        let (field, slot) = match key.as_str() {
            "owner" => ("role_mapping.owner", &mut mapping.owner),
            "admin" => ("role_mapping.admin", &mut mapping.admin),
            other => {
                return Err(invalid(
                    FIELD,
                    format!("{other:?} is not a mappable role (owner, admin)"),
                ))
            }
        };
        let strings: Option<Vec<String>> = groups.as_array().and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect()
        });
        let strings = strings.ok_or_else(|| invalid(field, "must be a list of group names"))?;
        *slot = group_list(field, &strings)?;
    }
    Ok(mapping)
}

/// `groups_attribute` as an admin sends it: blank means the default.
pub fn parse_groups_attribute(raw: &str) -> RuleResult<Option<String>> {
    let name = limits::bounded("groups_attribute", raw.trim(), URL)?;
    Ok((!name.is_empty()).then(|| name.to_string()))
}

/// The person's groups as a sign-in asserted them, cleaned: trimmed,
/// blanks and over-long values dropped, duplicates dropped, at most
/// [`limits::IDP_GROUPS_ASSERTED`] kept. Never refused: returns how many
/// values were cut, for the audit.
pub fn bounded_groups(raw: Vec<String>) -> (Vec<String>, usize) {
    let total = raw.len();
    let mut seen = HashSet::new();
    let kept: Vec<String> = raw
        .into_iter()
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty() && g.chars().count() <= EXTERNAL_ID)
        .filter(|g| seen.insert(g.to_lowercase()))
        .take(limits::IDP_GROUPS_ASSERTED)
        .collect();
    let cut = total - kept.len();
    (kept, cut)
}

/// The groups a SAML assertion lists, as `(groups, overage)`: every value
/// of the configured attribute (Name matched exactly), or of the default
/// names; `None` when absent. `overage`: Entra's link to Graph instead.
pub fn saml_groups(
    attributes: &[(String, Vec<String>)],
    configured: Option<&str>,
) -> (Option<Vec<String>>, bool) {
    let names: &[&str] = match &configured {
        Some(name) => std::slice::from_ref(name),
        None => DEFAULT_SAML_GROUP_ATTRIBUTES,
    };
    let mut found: Option<Vec<String>> = None;
    for (name, values) in attributes {
        if names.contains(&name.as_str()) {
            found
                .get_or_insert_with(Vec::new)
                .extend(values.iter().cloned());
        }
    }
    let overage = found.is_none() && attributes.iter().any(|(n, _)| n == SAML_OVERAGE_ATTRIBUTE);
    (found, overage)
}

/// What the mapping would change for one person.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    join: Vec<String>,
    leave: Vec<String>,
    /// The new role and who it is then chosen by.
    role: Option<(Role, Option<&'static str>)>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.join.is_empty() && self.leave.is_empty() && self.role.is_none()
    }
}

fn plan(facts: &MappingFacts, groups: &[String], roles: &RoleMapping) -> Plan {
    let Some((role, role_source)) = &facts.role else {
        return Plan::default();
    };
    let keys: HashSet<String> = groups.iter().map(|g| g.to_lowercase()).collect();
    let wanted: HashSet<&String> = facts
        .mapped_teams
        .iter()
        .filter(|(_, groups)| groups.iter().any(|g| keys.contains(g)))
        .map(|(team, _)| team)
        .collect();
    let mut join: Vec<String> = wanted
        .iter()
        .filter(|team| !facts.teams.contains_key(team.as_str()))
        .map(|team| team.to_string())
        .collect();
    let mut leave: Vec<String> = facts
        .teams
        .iter()
        .filter(|(team, source)| source.as_deref() == Some(BY_IDP) && !wanted.contains(team))
        .map(|(team, _)| team.clone())
        .collect();
    join.sort();
    leave.sort();
    let role = match (role_source.as_deref(), roles.role_for(&keys)) {
        (Some(BY_ADMIN), _) => None,
        (_, Some(mapped)) if mapped != *role || role_source.as_deref() != Some(BY_IDP) => {
            Some((mapped, Some(BY_IDP)))
        }
        (Some(BY_IDP), None) => Some((Role::Member, None)),
        _ => None,
    };
    Plan { join, leave, role }
}

/// Applies a sign-in's asserted `groups` to the member `user_id`: teams by
/// their `idp_groups`, the role by `roles`. Changes, their events and
/// their audit rows commit together; a sign-in that changes nothing takes
/// no write lock.
pub async fn apply_idp_groups(
    store: &Store,
    org_id: &str,
    user_id: &str,
    groups: &[String],
    roles: &RoleMapping,
    actor: &Actor,
) -> Result<(), StoreError> {
    let facts = mapping_facts(store.pool(), org_id, user_id).await?;
    if plan(&facts, groups, roles).is_empty() {
        return Ok(());
    }
    let mut tx = store.write_tx().await?;
    // Planned again under the write lock: a concurrent change may have won.
    let facts = mapping_facts(&mut *tx, org_id, user_id).await?;
    let plan = plan(&facts, groups, roles);
    let mut joined = Vec::new();
    for team_id in &plan.join {
        if tx.add_idp_team_member(team_id, user_id).await? {
            team_event_for(
                &mut tx,
                org_id,
                EventType::TeamMemberAdded,
                team_id,
                user_id,
            )
            .await?;
            joined.push(team_id);
        }
    }
    let mut left = Vec::new();
    for team_id in &plan.leave {
        // Read while they are still in the team (the event shows them so).
        team_event_for(
            &mut tx,
            org_id,
            EventType::TeamMemberRemoved,
            team_id,
            user_id,
        )
        .await?;
        if tx.remove_idp_team_member(team_id, user_id).await? {
            left.push(team_id);
        }
    }
    if !joined.is_empty() || !left.is_empty() {
        audit_success(
            &mut tx,
            org_id,
            AuditKind::TeamUpdated,
            actor,
            Some(user_id),
            json!({ "via": "idp_groups", "joined": joined, "left": left }),
        )
        .await?;
    }
    if let Some((role, chosen_by)) = plan.role {
        let changed = facts.role.as_ref().map(|(r, _)| *r) != Some(role);
        tx.set_member_role(org_id, user_id, role, chosen_by).await?;
        if changed {
            member_changed(&mut tx, org_id, EventType::MemberUpdated, user_id).await?;
            audit_success(
                &mut tx,
                org_id,
                AuditKind::MemberRoleChanged,
                actor,
                Some(user_id),
                json!({ "role": role, "via": "role_mapping" }),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A `team.*member*` event for one person, naming the mapping as its source.
async fn team_event_for(
    tx: &mut crate::store::Tx,
    org_id: &str,
    kind: EventType,
    team_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    if let Some(team) = tx.team_snapshot(org_id, team_id).await? {
        team_membership_of_via(tx, org_id, kind, &team, &[user_id], Some(MemberSource::Idp))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::{
        admit_on_sign_in, create_organization, create_team_with, invite_member, set_member_role,
    };
    use crate::store::testing::test_store;
    use crate::store::{EventFilter, UserProfile};

    fn facts(
        mapped: &[(&str, &[&str])],
        teams: &[(&str, Option<&str>)],
        role: (Role, Option<&str>),
    ) -> MappingFacts {
        MappingFacts {
            mapped_teams: mapped
                .iter()
                .map(|(t, g)| (t.to_string(), g.iter().map(|g| g.to_string()).collect()))
                .collect(),
            teams: teams
                .iter()
                .map(|(t, s)| (t.to_string(), s.map(str::to_string)))
                .collect(),
            role: Some((role.0, role.1.map(str::to_string))),
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn the_plan_joins_and_leaves_only_what_the_mapping_owns() {
        let mapped: &[(&str, &[&str])] = &[("eng", &["engineers"]), ("ops", &["ops"])];
        // In "ops" by SCIM, in "old" by the mapping (no longer mapped).
        let f = facts(
            mapped,
            &[("ops", None), ("old", Some("idp"))],
            (Role::Member, None),
        );
        let p = plan(&f, &strings(&["Engineers", "OPS"]), &RoleMapping::default());
        assert_eq!(p.join, ["eng"]);
        assert_eq!(p.leave, ["old"]);
        assert_eq!(p.role, None);
        // Nothing asserted: the SCIM-granted "ops" stays.
        let p = plan(&f, &[], &RoleMapping::default());
        assert!(p.join.is_empty());
        assert_eq!(p.leave, ["old"]);
        // Not a member: nothing at all.
        let nobody = MappingFacts {
            role: None,
            ..f.clone()
        };
        assert!(plan(&nobody, &strings(&["engineers"]), &RoleMapping::default()).is_empty());
    }

    #[test]
    fn the_role_rule_picks_the_highest_and_never_overrides_a_person() {
        let roles = RoleMapping {
            owner: strings(&["Founders"]),
            admin: strings(&["admins", "72F988BF-86F1-41AF-91AB-2D7CD011DB47"]),
        };
        let role = |current: (Role, Option<&str>), groups: &[&str]| {
            plan(&facts(&[], &[], current), &strings(groups), &roles).role
        };
        assert_eq!(
            role((Role::Member, None), &["admins", "founders"]),
            Some((Role::Owner, Some("idp")))
        );
        assert_eq!(
            role(
                (Role::Member, None),
                &["72f988bf-86f1-41af-91ab-2d7cd011db47"]
            ),
            Some((Role::Admin, Some("idp")))
        );
        assert_eq!(role((Role::Admin, Some("idp")), &["admins"]), None);
        // The mapping's role falls back; a default one stays.
        assert_eq!(
            role((Role::Admin, Some("idp")), &[]),
            Some((Role::Member, None))
        );
        assert_eq!(role((Role::Member, None), &["nobody"]), None);
        // A person's choice stands, up or down.
        assert_eq!(role((Role::Member, Some("admin")), &["founders"]), None);
        assert_eq!(role((Role::Admin, Some("admin")), &[]), None);
    }

    #[test]
    fn settings_input_is_validated_naming_the_field() {
        let err = |v: Value| parse_role_mapping(&v).unwrap_err().to_string();
        assert!(err(json!([])).starts_with("role_mapping: must be an object"));
        assert!(err(json!({"superuser": ["x"]})).contains("\"superuser\" is not a mappable role"));
        assert!(err(json!({"admin": "x"})).starts_with("role_mapping.admin:"));
        assert!(err(json!({"owner": [1]})).starts_with("role_mapping.owner:"));
        assert!(err(json!({"owner": [" "]})).contains("empty group name"));
        let ok = parse_role_mapping(&json!({"admin": ["A", "a", "b"]})).unwrap();
        assert_eq!(ok.admin, ["A", "b"]);
        assert!(ok.owner.is_empty());
        let too_many: Vec<String> = (0..=limits::IDP_GROUPS_PER_SETTING)
            .map(|i| i.to_string())
            .collect();
        assert!(group_list("idp_groups", &too_many).is_err());
        assert_eq!(parse_groups_attribute("  ").unwrap(), None);
        assert_eq!(
            parse_groups_attribute(" memberOf ").unwrap().as_deref(),
            Some("memberOf")
        );
    }

    #[test]
    fn asserted_groups_are_cut_not_refused() {
        let mut raw = strings(&[" a ", "", "A", "b"]);
        raw.push("x".repeat(EXTERNAL_ID + 1));
        raw.extend((0..limits::IDP_GROUPS_ASSERTED + 5).map(|i| format!("g{i}")));
        let total = raw.len();
        let (kept, cut) = bounded_groups(raw);
        assert_eq!(kept.len(), limits::IDP_GROUPS_ASSERTED);
        assert_eq!(&kept[..2], ["a", "b"]);
        assert_eq!(cut, total - limits::IDP_GROUPS_ASSERTED);
    }

    #[test]
    fn saml_groups_come_from_the_named_attribute_or_the_defaults() {
        let attrs = vec![
            (
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups".to_string(),
                strings(&["g1"]),
            ),
            ("memberOf".to_string(), strings(&["m1", "m2"])),
        ];
        assert_eq!(saml_groups(&attrs, None), (Some(strings(&["g1"])), false));
        assert_eq!(
            saml_groups(&attrs, Some("memberOf")),
            (Some(strings(&["m1", "m2"])), false)
        );
        // Exact: another spelling is not the configured attribute.
        assert_eq!(saml_groups(&attrs, Some("memberof")), (None, false));
        let overage = vec![(
            SAML_OVERAGE_ATTRIBUTE.to_string(),
            strings(&["https://graph"]),
        )];
        assert_eq!(saml_groups(&overage, None), (None, true));
    }

    async fn teams_of(store: &Store, org_id: &str, user_id: &str) -> Vec<String> {
        let member = store.member(org_id, user_id).await.unwrap().unwrap();
        let mut ids: Vec<String> = member.teams.into_iter().map(|t| t.id).collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn sign_ins_add_and_remove_only_mapped_memberships_with_events() {
        let t = test_store().await;
        let store = &t.store;
        let cli = Actor::Cli;
        let org = create_organization(store, "Acme", &cli)
            .await
            .unwrap()
            .organization;
        let eng = create_team_with(store, &org.id, "Eng", &["acme.com".into()], &[], &cli)
            .await
            .unwrap();
        let mapped = create_team_with(store, &org.id, "Mapped", &[], &strings(&["Devs"]), &cli)
            .await
            .unwrap();
        assert_eq!(mapped.idp_groups, ["Devs"]);
        let sso = Actor::Sso("i".into());
        let ada = admit_on_sign_in(
            store,
            &org.id,
            "ada@acme.com",
            &UserProfile::default(),
            &sso,
        )
        .await
        .unwrap()
        .user;
        let none = RoleMapping::default();
        let before = store.last_event_id().await.unwrap();
        apply_idp_groups(store, &org.id, &ada.id, &strings(&["devs"]), &none, &sso)
            .await
            .unwrap();
        let mut both = vec![eng.id.clone(), mapped.id.clone()];
        both.sort();
        assert_eq!(teams_of(store, &org.id, &ada.id).await, both);
        // Again: nothing to do, no event.
        apply_idp_groups(store, &org.id, &ada.id, &strings(&["devs"]), &none, &sso)
            .await
            .unwrap();
        apply_idp_groups(store, &org.id, &ada.id, &[], &none, &sso)
            .await
            .unwrap();
        // The JIT-granted team stays.
        assert_eq!(
            teams_of(store, &org.id, &ada.id).await,
            vec![eng.id.clone()]
        );
        let end = store.last_event_id().await.unwrap();
        let events = store
            .events_after(before, end, &EventFilter::default(), 100)
            .await
            .unwrap();
        let kinds: Vec<(&str, Value)> = events
            .iter()
            .map(|e| (e.kind.as_str(), serde_json::from_str(&e.data).unwrap()))
            .collect();
        assert_eq!(kinds.len(), 2);
        assert_eq!(kinds[0].0, "team.member_added");
        assert_eq!(kinds[0].1["source"], "idp");
        assert_eq!(kinds[0].1["team"]["name"], "Mapped");
        assert_eq!(kinds[1].0, "team.member_removed");
        assert_eq!(kinds[1].1["member"]["email"], "ada@acme.com");

        // An invitation into the mapped team is the admin's: it survives.
        let bob = invite_member(
            store,
            &org.id,
            "bob@acme.com",
            Role::Member,
            std::slice::from_ref(&mapped.id),
            &cli,
        )
        .await
        .unwrap();
        apply_idp_groups(store, &org.id, &bob.id, &strings(&["devs"]), &none, &sso)
            .await
            .unwrap();
        apply_idp_groups(store, &org.id, &bob.id, &[], &none, &sso)
            .await
            .unwrap();
        assert_eq!(
            teams_of(store, &org.id, &bob.id).await,
            vec![mapped.id.clone()]
        );
    }

    #[tokio::test]
    async fn the_role_mapping_sets_and_falls_back_but_an_admins_choice_stands() {
        let t = test_store().await;
        let store = &t.store;
        let cli = Actor::Cli;
        let org = create_organization(store, "Acme", &cli)
            .await
            .unwrap()
            .organization;
        create_team_with(store, &org.id, "All", &["acme.com".into()], &[], &cli)
            .await
            .unwrap();
        let sso = Actor::Sso("i".into());
        let ada = admit_on_sign_in(
            store,
            &org.id,
            "ada@acme.com",
            &UserProfile::default(),
            &sso,
        )
        .await
        .unwrap()
        .user;
        let roles = RoleMapping {
            owner: vec![],
            admin: strings(&["Admins"]),
        };
        let role = || async { store.member(&org.id, &ada.id).await.unwrap().unwrap().role };
        apply_idp_groups(store, &org.id, &ada.id, &strings(&["admins"]), &roles, &sso)
            .await
            .unwrap();
        assert_eq!(role().await, Role::Admin);
        apply_idp_groups(store, &org.id, &ada.id, &strings(&["other"]), &roles, &sso)
            .await
            .unwrap();
        assert_eq!(role().await, Role::Member);
        // An admin makes them an owner: the mapping no longer decides.
        set_member_role(store, &org.id, &ada.id, Role::Owner, &cli)
            .await
            .unwrap();
        apply_idp_groups(store, &org.id, &ada.id, &strings(&["admins"]), &roles, &sso)
            .await
            .unwrap();
        apply_idp_groups(store, &org.id, &ada.id, &[], &roles, &sso)
            .await
            .unwrap();
        assert_eq!(role().await, Role::Owner);
    }
}
