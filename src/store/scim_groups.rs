//! A SCIM group write's reads and its writes, a script each (one call on
//! SQLite): an initial sync is ten thousand member PATCHes, and each waited
//! on SQLite's one writer for every statement it sent — ten hand-offs to
//! sqlx's SQLite thread a PATCH, where two now carry the same statements.

use std::collections::HashMap;

use sqlx::{FromRow, Row};

use super::events::MemberSnapshotRow;
use super::script::{Script, Statement};
use super::{now_ms, StoreResult, Tx, BATCH};
use crate::events::{MemberData, TeamData};

/// A SCIM user a group write adds or removes, with the account attached to
/// it (none while the user is inactive or has no email).
#[derive(Debug, Clone)]
pub struct ScimGroupMember {
    pub id: String,
    pub account: Option<String>,
}

/// A live SCIM group as a write reads it, locked until the transaction
/// ends.
pub struct LockedScimGroup {
    pub team: TeamData,
    /// SCIM user ids, in no order: read from the member table's key alone
    /// (the ordered list joins every member's user row, at 100k users a
    /// page read each).
    pub members: Vec<String>,
}

/// What a group write changes: the team's name and externalId (none: kept
/// as they are) and the SCIM users who join or leave its member list.
pub struct ScimGroupWrite<'a> {
    pub org_id: &'a str,
    pub team_id: &'a str,
    pub rename: Option<(&'a str, Option<&'a str>)>,
    pub joining: &'a [ScimGroupMember],
    pub leaving: &'a [ScimGroupMember],
}

/// What a group write did to the team.
pub struct ScimGroupWritten {
    /// Accounts that joined the team, in the order they were added.
    pub added: Vec<MemberData>,
    /// Accounts that left it.
    pub removed: Vec<MemberData>,
    /// Joining accounts that were in the team already.
    pub already_in_team: usize,
}

impl Tx {
    /// The integration's live SCIM group, locked so a change read from it
    /// is written over the group as read: on PostgreSQL the row lock holds
    /// off another instance's write of the same group (SQLite's one writer
    /// already does). The no-op update is the lock both engines take.
    pub async fn lock_scim_group(
        &mut self,
        org_id: &str,
        integration_id: &str,
        team_id: &str,
    ) -> StoreResult<Option<LockedScimGroup>> {
        let mut script = Script::default();
        script.push(
            Statement::new("UPDATE teams SET updated_at = updated_at WHERE org_id = ")
                .value(org_id)
                .sql(" AND id = ")
                .value(team_id)
                .sql(" AND deleted_at IS NULL AND scim_integration_id = ")
                .value(integration_id)
                .sql(" RETURNING 'team', id, name, scim_id, scim_external_id"),
        );
        script.push(
            Statement::new("SELECT 'domain', domain FROM team_domains WHERE team_id = ")
                .value(team_id)
                .sql(" ORDER BY domain"),
        );
        script.push(
            Statement::new(
                "SELECT 'member', scim_user_id FROM scim_group_members WHERE team_id = ",
            )
            .value(team_id),
        );
        let mut team = None;
        let (mut domains, mut members) = (Vec::new(), Vec::new());
        for row in self.fetch(&script).await? {
            match row.try_get::<String, _>(0)?.as_str() {
                "team" => {
                    team = Some(TeamData {
                        id: row.try_get(1)?,
                        name: row.try_get(2)?,
                        scim_id: row.try_get(3)?,
                        external_id: row.try_get(4)?,
                        preapproved_domains: Vec::new(),
                    })
                }
                "domain" => domains.push(row.try_get(1)?),
                _ => members.push(row.try_get(1)?),
            }
        }
        // The other reads ran whether or not the group is there and this
        // integration's: they count only with it.
        Ok(team.map(|team| LockedScimGroup {
            team: TeamData {
                preapproved_domains: domains,
                ..team
            },
            members,
        }))
    }

    /// Which of `ids` are SCIM users of the integration, with their
    /// accounts, read by primary key: a group's member check must not read
    /// the whole directory. (The integration is compared here, not in SQL:
    /// with it in the WHERE clause SQLite's planner walked the
    /// integration's index instead of the keys, a second per PATCH at 100k
    /// users.)
    pub async fn known_scim_users(
        &mut self,
        integration_id: &str,
        ids: &[&str],
    ) -> StoreResult<Vec<ScimGroupMember>> {
        let mut script = Script::default();
        for chunk in ids.chunks(BATCH) {
            script.push(
                Statement::new("SELECT id, integration_id, user_id FROM scim_users WHERE id IN (")
                    .list(chunk.iter().copied())
                    .sql(")"),
            );
        }
        let mut known = Vec::new();
        for row in self.fetch(&script).await? {
            if row.try_get::<String, _>(1)? == integration_id {
                known.push(ScimGroupMember {
                    id: row.try_get(0)?,
                    account: row.try_get(2)?,
                });
            }
        }
        Ok(known)
    }

    /// Writes a group change in one script: the name, the SCIM member list
    /// (only the change: Entra adds members ten at a time, and rewriting
    /// the whole list made a group's sync quadratic in its size), the same
    /// change to the team, and the people who joined or left as events
    /// describe them. An account leaves the team only if no other SCIM user
    /// of the group still brings it in (two may share one account).
    pub async fn write_scim_group(
        &mut self,
        write: &ScimGroupWrite<'_>,
    ) -> StoreResult<ScimGroupWritten> {
        let team_id = write.team_id;
        let ids = |members: &'_ [ScimGroupMember]| -> Vec<String> {
            members.iter().map(|m| m.id.clone()).collect()
        };
        let accounts = |members: &'_ [ScimGroupMember]| -> Vec<String> {
            members.iter().filter_map(|m| m.account.clone()).collect()
        };
        let (joining, leaving) = (ids(write.joining), ids(write.leaving));
        let (joining_accounts, leaving_accounts) =
            (accounts(write.joining), accounts(write.leaving));
        let mut script = Script::default();
        if let Some((name, external_id)) = write.rename {
            script.push(
                Statement::new("UPDATE teams SET name = ")
                    .value(name)
                    .sql(", name_key = ")
                    .value(name.to_lowercase())
                    .sql(", scim_external_id = ")
                    .value(external_id)
                    .sql(", updated_at = ")
                    .value(now_ms())
                    .sql(" WHERE org_id = ")
                    .value(write.org_id)
                    .sql(" AND id = ")
                    .value(team_id)
                    .sql(" AND deleted_at IS NULL"),
            );
        }
        for chunk in leaving.chunks(BATCH) {
            script.push(
                Statement::new("DELETE FROM scim_group_members WHERE team_id = ")
                    .value(team_id)
                    .sql(" AND scim_user_id IN (")
                    .list(chunk)
                    .sql(")"),
            );
        }
        for chunk in joining.chunks(BATCH) {
            let mut insert =
                Statement::new("INSERT INTO scim_group_members (team_id, scim_user_id) VALUES ");
            for (i, id) in chunk.iter().enumerate() {
                insert = insert.row(i == 0, [team_id.into(), id.into()]);
            }
            script.push(insert.sql(" ON CONFLICT DO NOTHING"));
        }
        for chunk in joining_accounts.chunks(BATCH) {
            // `WHERE` before `ON CONFLICT` also keeps SQLite's parser from
            // reading the upsert as part of the SELECT.
            script.push(
                Statement::new("INSERT INTO team_members (team_id, user_id) SELECT ")
                    .value(team_id)
                    .sql(", user_id FROM memberships WHERE org_id = ")
                    .value(write.org_id)
                    .sql(" AND user_id IN (")
                    .list(chunk)
                    .sql(") ON CONFLICT DO NOTHING RETURNING 'added', user_id"),
            );
        }
        for chunk in leaving_accounts.chunks(BATCH) {
            script.push(
                Statement::new("DELETE FROM team_members WHERE team_id = ")
                    .value(team_id)
                    .sql(" AND user_id IN (")
                    .list(chunk)
                    .sql(
                        ") AND NOT EXISTS (SELECT 1 FROM scim_group_members m \
                         JOIN scim_users u ON u.id = m.scim_user_id WHERE m.team_id = ",
                    )
                    .value(team_id)
                    .sql(" AND u.user_id = team_members.user_id) RETURNING 'removed', user_id"),
            );
        }
        // Everyone who may have joined or left, as events describe them;
        // those who did are picked out below.
        let people: Vec<&String> = joining_accounts.iter().chain(&leaving_accounts).collect();
        for chunk in people.chunks(BATCH) {
            script.push(
                Statement::new(
                    "SELECT 'person' AS tag, u.id, u.email, u.given_name, u.family_name, \
                     u.display_name, m.role, m.source \
                     FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ",
                )
                .value(write.org_id)
                .sql(" AND m.user_id IN (")
                .list(chunk.iter().copied())
                .sql(")"),
            );
        }
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        let mut people = HashMap::new();
        for row in self.fetch(&script).await? {
            match row.try_get::<String, _>(0)?.as_str() {
                "added" => added.push(row.try_get::<String, _>(1)?),
                "removed" => removed.push(row.try_get::<String, _>(1)?),
                _ => {
                    let person = MemberData::from(MemberSnapshotRow::from_row(&row)?);
                    people.insert(person.user_id.clone(), person);
                }
            }
        }
        let described = |ids: &[String]| -> Vec<MemberData> {
            ids.iter()
                .filter_map(|id| people.get(id).cloned())
                .collect()
        };
        Ok(ScimGroupWritten {
            already_in_team: joining_accounts.len().saturating_sub(added.len()),
            added: described(&added),
            removed: described(&removed),
        })
    }
}
