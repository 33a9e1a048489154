//! What the IdP-groups mapping reads and writes: teams' `idp_groups`, which
//! team memberships the mapping granted, and who chose a member's role.

use std::collections::HashMap;

use super::{Role, StoreError, StoreResult, Tx};

/// Marks a team membership or a role as the mapping's (`source`,
/// `role_source` = 'idp'); `role_source` = 'admin' is a person's choice.
pub const BY_IDP: &str = "idp";
pub const BY_ADMIN: &str = "admin";

/// One person's standing as the mapping sees it, read in one go.
#[derive(Debug, Default, Clone)]
pub struct MappingFacts {
    /// Live teams with `idp_groups` → their group keys (lowercase).
    pub mapped_teams: HashMap<String, Vec<String>>,
    /// The person's live teams → the membership's source (`Some("idp")`
    /// when the mapping granted it).
    pub teams: HashMap<String, Option<String>>,
    /// Role and who chose it; `None` when they are not a member.
    pub role: Option<(Role, Option<String>)>,
}

/// Reads [`MappingFacts`] on the pool (`store.pool()`) or inside a
/// transaction (`&mut **tx`).
pub async fn mapping_facts<'a, A>(conn: A, org_id: &str, user_id: &str) -> StoreResult<MappingFacts>
where
    A: sqlx::Acquire<'a, Database = sqlx::Any>,
{
    let mut conn = conn.acquire().await?;
    let mapped: Vec<(String, String)> = sqlx::query_as(
        "SELECT g.team_id, g.group_key FROM team_idp_groups g JOIN teams t ON t.id = g.team_id \
         WHERE t.org_id = $1 AND t.deleted_at IS NULL",
    )
    .bind(org_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut facts = MappingFacts::default();
    for (team_id, key) in mapped {
        facts.mapped_teams.entry(team_id).or_default().push(key);
    }
    let teams: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT m.team_id, m.source FROM team_members m JOIN teams t ON t.id = m.team_id \
         WHERE t.org_id = $1 AND m.user_id = $2 AND t.deleted_at IS NULL",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    facts.teams = teams.into_iter().collect();
    let role: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT role, role_source FROM memberships WHERE org_id = $1 AND user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    facts.role = role
        .map(|(role, source)| {
            role.parse::<Role>()
                .map(|r| (r, source))
                .map_err(|e| StoreError::Other(sqlx::Error::Decode(e.into())))
        })
        .transpose()?;
    Ok(facts)
}

impl Tx {
    /// Replaces a team's `idp_groups` (already validated and deduplicated);
    /// returns whether they changed.
    pub async fn replace_team_idp_groups(
        &mut self,
        team_id: &str,
        groups: &[String],
    ) -> StoreResult<bool> {
        let before: Vec<(String,)> =
            sqlx::query_as("SELECT idp_group FROM team_idp_groups WHERE team_id = $1")
                .bind(team_id)
                .fetch_all(&mut **self)
                .await?;
        // Compared in Rust: a PostgreSQL collation may order otherwise.
        let mut before: Vec<String> = before.into_iter().map(|(g,)| g).collect();
        let mut after = groups.to_vec();
        before.sort();
        after.sort();
        if before == after {
            return Ok(false);
        }
        sqlx::query("DELETE FROM team_idp_groups WHERE team_id = $1")
            .bind(team_id)
            .execute(&mut **self)
            .await?;
        for group in groups {
            sqlx::query(
                "INSERT INTO team_idp_groups (team_id, idp_group, group_key) VALUES ($1, $2, $3)",
            )
            .bind(team_id)
            .bind(group)
            .bind(group.to_lowercase())
            .execute(&mut **self)
            .await?;
        }
        Ok(true)
    }

    /// Adds a team membership the mapping grants; false if already a member.
    pub async fn add_idp_team_member(&mut self, team_id: &str, user_id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO team_members (team_id, user_id, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(BY_IDP)
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The SCIM group's members now hold their team membership by SCIM:
    /// the mapping no longer takes away those it had granted. (A partial
    /// index keeps this to the team's mapping-granted rows.)
    pub async fn claim_scim_team_members(&mut self, team_id: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE team_members SET source = NULL WHERE team_id = $1 AND source IS NOT NULL \
             AND user_id IN (SELECT u.user_id FROM scim_group_members m \
             JOIN scim_users u ON u.id = m.scim_user_id WHERE m.team_id = $1)",
        )
        .bind(team_id)
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// Removes a team membership only if the mapping granted it.
    pub async fn remove_idp_team_member(
        &mut self,
        team_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 AND source = $3",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(BY_IDP)
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
