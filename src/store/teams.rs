use std::collections::HashMap;

use serde::Serialize;

use super::{fetch_in_chunks, new_id, now_ms, Store, StoreResult, Tx};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub id: String,
    pub name: String,
    /// Email domains whose people may join on first sign-in (JIT).
    pub preapproved_domains: Vec<String>,
    /// IdP groups (names or object ids) whose members a sign-in puts in the team.
    pub idp_groups: Vec<String>,
    pub member_count: i64,
    /// Set when a SCIM group push created the team.
    pub scim_id: Option<String>,
    pub scim_external_id: Option<String>,
    /// The integration whose SCIM group push created the team.
    pub scim_integration_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set while the team is deleted but still restorable.
    pub deleted_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TeamRow {
    id: String,
    name: String,
    scim_id: Option<String>,
    scim_external_id: Option<String>,
    scim_integration_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
}

const TEAM_COLUMNS: &str =
    "id, name, scim_id, scim_external_id, scim_integration_id, created_at, updated_at, deleted_at";

/// Which teams to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamState {
    Live,
    Deleted,
}

impl Store {
    pub async fn teams(&self, org_id: &str, state: TeamState) -> StoreResult<Vec<Team>> {
        let filter = match state {
            TeamState::Live => "deleted_at IS NULL",
            TeamState::Deleted => "deleted_at IS NOT NULL",
        };
        let rows: Vec<TeamRow> = sqlx::query_as(&format!(
            "SELECT {TEAM_COLUMNS} FROM teams WHERE org_id = $1 AND {filter} ORDER BY name_key, id"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        self.hydrate_teams(org_id, None, rows).await
    }

    /// The organization's live teams whose name equals `name`
    /// case-insensitively (by the unique index: at most one).
    pub async fn live_teams_named(&self, org_id: &str, name: &str) -> StoreResult<Vec<Team>> {
        let rows: Vec<TeamRow> = sqlx::query_as(&format!(
            "SELECT {TEAM_COLUMNS} FROM teams WHERE org_id = $1 AND name_key = $2 AND deleted_at IS NULL"
        ))
        .bind(org_id)
        .bind(name.to_lowercase())
        .fetch_all(&self.pool)
        .await?;
        // Hydrate just that team (None would count every team's members).
        let only = match rows.as_slice() {
            [one] => Some(one.id.clone()),
            _ => None,
        };
        self.hydrate_teams(org_id, only.as_deref(), rows).await
    }

    /// One team of the organization, live or deleted.
    pub async fn team(&self, org_id: &str, team_id: &str) -> StoreResult<Option<Team>> {
        let rows: Vec<TeamRow> = sqlx::query_as(&format!(
            "SELECT {TEAM_COLUMNS} FROM teams WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(self.hydrate_teams(org_id, Some(team_id), rows).await?.pop())
    }

    /// Attaches domains and member counts, with one query each for all rows.
    async fn hydrate_teams(
        &self,
        org_id: &str,
        only: Option<&str>,
        rows: Vec<TeamRow>,
    ) -> StoreResult<Vec<Team>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let scope = if only.is_some() {
            "t.id = $2"
        } else {
            "$2 IS NULL"
        };
        let domain_rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT d.team_id, d.domain FROM team_domains d JOIN teams t ON t.id = d.team_id \
             WHERE t.org_id = $1 AND {scope} ORDER BY d.domain"
        ))
        .bind(org_id)
        .bind(only)
        .fetch_all(&self.pool)
        .await?;
        let group_rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT g.team_id, g.idp_group FROM team_idp_groups g JOIN teams t ON t.id = g.team_id \
             WHERE t.org_id = $1 AND {scope} ORDER BY g.group_key"
        ))
        .bind(org_id)
        .bind(only)
        .fetch_all(&self.pool)
        .await?;
        let count_rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT m.team_id, COUNT(*) FROM team_members m JOIN teams t ON t.id = m.team_id \
             WHERE t.org_id = $1 AND {scope} GROUP BY m.team_id"
        ))
        .bind(org_id)
        .bind(only)
        .fetch_all(&self.pool)
        .await?;
        let mut domains: HashMap<String, Vec<String>> = HashMap::new();
        for (team_id, domain) in domain_rows {
            domains.entry(team_id).or_default().push(domain);
        }
        let mut idp_groups: HashMap<String, Vec<String>> = HashMap::new();
        for (team_id, group) in group_rows {
            idp_groups.entry(team_id).or_default().push(group);
        }
        let counts: HashMap<String, i64> = count_rows.into_iter().collect();
        Ok(rows
            .into_iter()
            .map(|r| Team {
                preapproved_domains: domains.remove(&r.id).unwrap_or_default(),
                idp_groups: idp_groups.remove(&r.id).unwrap_or_default(),
                member_count: counts.get(&r.id).copied().unwrap_or(0),
                id: r.id,
                name: r.name,
                scim_id: r.scim_id,
                scim_external_id: r.scim_external_id,
                scim_integration_id: r.scim_integration_id,
                created_at: r.created_at,
                updated_at: r.updated_at,
                deleted_at: r.deleted_at,
            })
            .collect())
    }
}

impl Tx {
    /// Ids and organizations of the teams deleted before `cutoff`, at most
    /// `limit` of them.
    pub async fn teams_deleted_before(
        &mut self,
        cutoff: i64,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT org_id, id FROM teams WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at LIMIT $2",
        )
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut **self)
        .await?)
    }

    /// Removes a deleted team for good (its domains and memberships go by
    /// cascade).
    pub async fn purge_team(&mut self, team_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM teams WHERE id = $1 AND deleted_at IS NOT NULL")
            .bind(team_id)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// Creates a team; `scim` is `Some((integration, externalId))` when a
    /// SCIM group push creates it (the team's id is then also its SCIM id).
    pub async fn insert_team(
        &mut self,
        org_id: &str,
        name: &str,
        domains: &[String],
        scim: Option<(&str, Option<&str>)>,
    ) -> StoreResult<String> {
        let id = new_id();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO teams (id, org_id, name, name_key, scim_id, scim_external_id, scim_integration_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(scim.map(|_| id.clone()))
        .bind(scim.and_then(|(_, external)| external))
        .bind(scim.map(|(integration, _)| integration))
        .bind(now)
        .execute(&mut **self)
        .await?;
        self.replace_team_domains(&id, domains).await?;
        Ok(id)
    }

    /// A SCIM group write's name and externalId for a live team, in one
    /// statement; whether the team is there.
    pub async fn update_scim_team(
        &mut self,
        org_id: &str,
        team_id: &str,
        name: &str,
        external_id: Option<&str>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE teams SET name = $3, name_key = $4, scim_external_id = $5, updated_at = $6 \
             WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(org_id)
        .bind(team_id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(external_id)
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_team_domains(&mut self, team_id: &str, domains: &[String]) -> StoreResult<()> {
        sqlx::query("DELETE FROM team_domains WHERE team_id = $1")
            .bind(team_id)
            .execute(&mut **self)
            .await?;
        for domain in domains {
            sqlx::query("INSERT INTO team_domains (team_id, domain) VALUES ($1, $2)")
                .bind(team_id)
                .bind(domain)
                .execute(&mut **self)
                .await?;
        }
        Ok(())
    }

    /// Changes the name and/or the domains of a live team.
    pub async fn update_team(
        &mut self,
        org_id: &str,
        team_id: &str,
        name: Option<&str>,
        domains: Option<&[String]>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE teams SET name = COALESCE($3, name), name_key = COALESCE($4, name_key), updated_at = $5 \
             WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(org_id)
        .bind(team_id)
        .bind(name)
        .bind(name.map(str::to_lowercase))
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(domains) = domains {
            self.replace_team_domains(team_id, domains).await?;
        }
        Ok(true)
    }

    /// Marks a live team deleted (`Some(at)`) or brings a deleted one back (`None`).
    pub async fn set_team_deleted(
        &mut self,
        org_id: &str,
        team_id: &str,
        at: Option<i64>,
    ) -> StoreResult<bool> {
        let sql = if at.is_some() {
            "UPDATE teams SET deleted_at = $3, updated_at = $4 WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
        } else {
            "UPDATE teams SET deleted_at = $3, updated_at = $4 WHERE org_id = $1 AND id = $2 AND deleted_at IS NOT NULL"
        };
        let done = sqlx::query(sql)
            .bind(org_id)
            .bind(team_id)
            .bind(at)
            .bind(now_ms())
            .execute(&mut **self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ids of the organization's live teams that pre-approve `domain`.
    pub async fn live_teams_preapproving(
        &mut self,
        org_id: &str,
        domain: &str,
    ) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT t.id FROM teams t JOIN team_domains d ON d.team_id = t.id \
             WHERE t.org_id = $1 AND d.domain = $2 AND t.deleted_at IS NULL ORDER BY t.id",
        )
        .bind(org_id)
        .bind(domain)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    pub async fn team_is_live(&mut self, org_id: &str, team_id: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM teams WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(org_id)
        .bind(team_id)
        .fetch_optional(&mut *self.inner)
        .await?;
        Ok(row.is_some())
    }

    /// Returns whether the user was not in the team before. A membership
    /// the IdP-groups mapping had granted becomes this grant's, so the
    /// mapping no longer takes it away.
    pub async fn add_team_member(&mut self, team_id: &str, user_id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(team_id)
        .bind(user_id)
        .execute(&mut **self)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        sqlx::query(
            "UPDATE team_members SET source = NULL WHERE team_id = $1 AND user_id = $2 AND source IS NOT NULL",
        )
        .bind(team_id)
        .bind(user_id)
        .execute(&mut **self)
        .await?;
        Ok(false)
    }

    /// Adds to the team those of `user_ids` who are members of the
    /// organization, a few hundred per statement (a group PATCH adds many at
    /// once and SQLite's one writer waits for each statement); returns who
    /// joined.
    pub async fn add_organization_members_to_team(
        &mut self,
        org_id: &str,
        team_id: &str,
        user_ids: &[&String],
    ) -> StoreResult<Vec<String>> {
        let user_ids: Vec<&str> = user_ids.iter().map(|id| id.as_str()).collect();
        let added: Vec<(String,)> =
            fetch_in_chunks(self, &[team_id, org_id], &user_ids, |list| {
                // `WHERE` before `ON CONFLICT` also keeps SQLite's parser
                // from reading the upsert as part of the SELECT.
                format!(
                    "INSERT INTO team_members (team_id, user_id) SELECT $1, user_id FROM memberships \
                     WHERE org_id = $2 AND user_id IN ({list}) ON CONFLICT DO NOTHING RETURNING user_id"
                )
            })
            .await?;
        Ok(added.into_iter().map(|(id,)| id).collect())
    }
}
