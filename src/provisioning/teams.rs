//! Teams: creation with pre-approved domains, changes, and the restorable
//! deletion that SCIM group deprovisioning and the admin share.

use serde_json::json;

use super::events::{team_changed, team_event};
use super::idp_groups::group_list;
use super::orgs::validate_name;
use super::{audit_success, normalize_domains, Actor, RuleError, RuleResult};
use crate::audit::AuditKind;
use crate::events::EventType;
use crate::store::{now_ms, Store, StoreError, Team};

#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    pub name: Option<String>,
    pub preapproved_domains: Option<Vec<String>>,
    pub idp_groups: Option<Vec<String>>,
}

fn name_taken(name: &str) -> RuleError {
    RuleError::Conflict(format!(
        "a team named {name:?} already exists in this organization"
    ))
}

pub async fn create_team(
    store: &Store,
    org_id: &str,
    name: &str,
    domains: &[String],
    actor: &Actor,
) -> RuleResult<Team> {
    create_team_with(store, org_id, name, domains, &[], actor).await
}

/// [`create_team`] with the IdP groups whose members sign-ins put in it.
pub async fn create_team_with(
    store: &Store,
    org_id: &str,
    name: &str,
    domains: &[String],
    idp_groups: &[String],
    actor: &Actor,
) -> RuleResult<Team> {
    let name = validate_name("name", name)?;
    let domains = normalize_domains(domains)?;
    let idp_groups = group_list("idp_groups", idp_groups)?;
    let mut tx = store.write_tx().await?;
    let team_id = match tx.insert_team(org_id, &name, &domains, None).await {
        Err(StoreError::Conflict) => return Err(name_taken(&name)),
        other => other?,
    };
    tx.replace_team_idp_groups(&team_id, &idp_groups).await?;
    team_changed(&mut tx, org_id, EventType::TeamCreated, &team_id).await?;
    audit_success(
        &mut tx,
        org_id,
        AuditKind::TeamCreated,
        actor,
        Some(&team_id),
        json!({ "name": name, "preapproved_domains": domains, "idp_groups": idp_groups }),
    )
    .await?;
    tx.commit().await?;
    store
        .team(org_id, &team_id)
        .await?
        .ok_or(RuleError::NotFound("team"))
}

pub async fn update_team(
    store: &Store,
    org_id: &str,
    team_id: &str,
    changes: &TeamChanges,
    actor: &Actor,
) -> RuleResult<Team> {
    let name = changes
        .name
        .as_deref()
        .map(|n| validate_name("name", n))
        .transpose()?;
    let domains = changes
        .preapproved_domains
        .as_deref()
        .map(normalize_domains)
        .transpose()?;
    let idp_groups = changes
        .idp_groups
        .as_deref()
        .map(|g| group_list("idp_groups", g))
        .transpose()?;
    let mut tx = store.write_tx().await?;
    let before = tx.team_snapshot(org_id, team_id).await?;
    let updated = match tx
        .update_team(org_id, team_id, name.as_deref(), domains.as_deref())
        .await
    {
        Err(StoreError::Conflict) => return Err(name_taken(name.as_deref().unwrap_or_default())),
        other => other?,
    };
    if !updated {
        return Err(RuleError::NotFound("team"));
    }
    let groups_changed = match &idp_groups {
        Some(groups) => tx.replace_team_idp_groups(team_id, groups).await?,
        None => false,
    };
    let after = tx.team_snapshot(org_id, team_id).await?;
    if let Some(team) = after
        .as_ref()
        .filter(|after| groups_changed || before.as_ref() != Some(*after))
    {
        team_event(&mut tx, org_id, EventType::TeamUpdated, team);
    }
    audit_success(
        &mut tx,
        org_id,
        AuditKind::TeamUpdated,
        actor,
        Some(team_id),
        json!({ "name": name, "preapproved_domains": domains, "idp_groups": idp_groups }),
    )
    .await?;
    tx.commit().await?;
    store
        .team(org_id, team_id)
        .await?
        .ok_or(RuleError::NotFound("team"))
}

/// Deletes a team at once for every reader; it stays restorable until the
/// retention period ends.
pub async fn delete_team(
    store: &Store,
    org_id: &str,
    team_id: &str,
    actor: &Actor,
) -> RuleResult<()> {
    let mut tx = store.write_tx().await?;
    if !tx.set_team_deleted(org_id, team_id, Some(now_ms())).await? {
        return Err(RuleError::NotFound("team"));
    }
    team_changed(&mut tx, org_id, EventType::TeamDeleted, team_id).await?;
    audit_success(
        &mut tx,
        org_id,
        AuditKind::TeamDeleted,
        actor,
        Some(team_id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn restore_team(
    store: &Store,
    org_id: &str,
    team_id: &str,
    actor: &Actor,
) -> RuleResult<Team> {
    let mut tx = store.write_tx().await?;
    let restored = match tx.set_team_deleted(org_id, team_id, None).await {
        Err(StoreError::Conflict) => {
            return Err(RuleError::Conflict(
                "a live team already has this team's name; rename that one first".into(),
            ))
        }
        other => other?,
    };
    if !restored {
        return Err(RuleError::NotFound("deleted team"));
    }
    team_changed(&mut tx, org_id, EventType::TeamRestored, team_id).await?;
    audit_success(
        &mut tx,
        org_id,
        AuditKind::TeamRestored,
        actor,
        Some(team_id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    store
        .team(org_id, team_id)
        .await?
        .ok_or(RuleError::NotFound("team"))
}

/// How many teams one purge transaction removes: short write locks.
const PURGE_BATCH: i64 = 100;

/// Removes for good the teams deleted more than `retention_days` ago, each
/// with its `team.purged` event.
pub async fn purge_expired_teams(store: &Store, retention_days: u32) -> RuleResult<u64> {
    let cutoff = now_ms() - i64::from(retention_days) * 86_400_000;
    let mut purged = 0;
    loop {
        let mut tx = store.write_tx().await?;
        let due = tx.teams_deleted_before(cutoff, PURGE_BATCH).await?;
        for (org_id, team_id) in &due {
            if let Some(team) = tx.team_snapshot(org_id, team_id).await? {
                tx.purge_team(team_id).await?;
                team_event(&mut tx, org_id, EventType::TeamPurged, &team);
                purged += 1;
            }
        }
        tx.commit().await?;
        if i64::try_from(due.len()).unwrap_or(i64::MAX) < PURGE_BATCH {
            return Ok(purged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::create_organization;
    use crate::store::testing::test_store;
    use crate::store::TeamState;

    #[tokio::test]
    async fn team_lifecycle_with_restorable_delete() {
        let t = test_store().await;
        let store = &t.store;
        let org = create_organization(store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let team = create_team(
            store,
            &org.id,
            "Engineering",
            &["Example.com".into(), "@example.org".into()],
            &Actor::Cli,
        )
        .await
        .unwrap();
        assert_eq!(team.preapproved_domains, vec!["example.com", "example.org"]);

        let dup = create_team(store, &org.id, "engineering", &[], &Actor::Cli).await;
        assert!(
            matches!(dup, Err(RuleError::Conflict(_))),
            "names are unique case-insensitively"
        );

        delete_team(store, &org.id, &team.id, &Actor::Cli)
            .await
            .unwrap();
        assert!(store
            .teams(&org.id, TeamState::Live)
            .await
            .unwrap()
            .is_empty());
        let mut tx = store.write_tx().await.unwrap();
        assert_eq!(
            tx.live_teams_preapproving(&org.id, "example.com")
                .await
                .unwrap()
                .len(),
            0
        );
        tx.rollback().await.unwrap();
        assert!(matches!(
            delete_team(store, &org.id, &team.id, &Actor::Cli).await,
            Err(RuleError::NotFound(_))
        ));

        // The name is free while the team is deleted; restoring then conflicts.
        let other = create_team(store, &org.id, "Engineering", &[], &Actor::Cli)
            .await
            .unwrap();
        assert!(matches!(
            restore_team(store, &org.id, &team.id, &Actor::Cli).await,
            Err(RuleError::Conflict(_))
        ));
        update_team(
            store,
            &org.id,
            &other.id,
            &TeamChanges {
                name: Some("Eng 2".into()),
                ..Default::default()
            },
            &Actor::Cli,
        )
        .await
        .unwrap();
        let restored = restore_team(store, &org.id, &team.id, &Actor::Cli)
            .await
            .unwrap();
        assert_eq!(restored.deleted_at, None);
        assert_eq!(
            restored.preapproved_domains,
            vec!["example.com", "example.org"]
        );

        // Purge keeps what is within retention and removes what is past it.
        delete_team(store, &org.id, &team.id, &Actor::Cli)
            .await
            .unwrap();
        assert_eq!(purge_expired_teams(store, 30).await.unwrap(), 0);
        assert_eq!(
            store
                .teams(&org.id, TeamState::Deleted)
                .await
                .unwrap()
                .len(),
            1
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(purge_expired_teams(store, 0).await.unwrap(), 1);
        assert!(store.team(&org.id, &team.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn one_organization_cannot_touch_anothers_team() {
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
        let team = create_team(store, &a.id, "Sales", &[], &Actor::Cli)
            .await
            .unwrap();
        assert!(store.team(&b.id, &team.id).await.unwrap().is_none());
        assert!(matches!(
            delete_team(store, &b.id, &team.id, &Actor::Cli).await,
            Err(RuleError::NotFound(_))
        ));
        let changes = TeamChanges {
            name: Some("Hijacked".into()),
            ..Default::default()
        };
        assert!(matches!(
            update_team(store, &b.id, &team.id, &changes, &Actor::Cli).await,
            Err(RuleError::NotFound(_))
        ));
    }
}
