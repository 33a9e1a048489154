use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::script::{Script, Statement, Value};
use super::{fetch_in_chunks, now_ms, version_key, Store, StoreError, StoreResult, Tx, BATCH};
use crate::events::MemberSource;

/// A global account: one per email, whatever the letter case.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    /// A new account for `email` with `profile`'s names, not yet written.
    /// Its id is a UUIDv7: accounts are made in bursts (an initial sync),
    /// and every index keyed by an account (memberships, SCIM rows, teams)
    /// then grows at its end instead of dirtying a random page per row —
    /// a page less to write at each commit, per index.
    pub fn new(email: &str, profile: &UserProfile) -> User {
        let now = now_ms();
        User {
            id: uuid::Uuid::now_v7().to_string(),
            email: email.trim().to_string(),
            given_name: profile.given_name.clone(),
            family_name: profile.family_name.clone(),
            display_name: profile.display_name.clone(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// INSERTs of `users` into `script`, a few hundred values per statement,
/// each statement ending with `tail`.
pub(super) fn push_users<'a>(script: &mut Script<'a>, users: &'a [User], tail: &'static str) {
    const COLUMNS: usize = 8;
    for chunk in users.chunks(BATCH / COLUMNS) {
        let mut insert = Statement::new(
            "INSERT INTO users (id, email, email_key, given_name, family_name, display_name, created_at, updated_at) VALUES ",
        );
        for (i, user) in chunk.iter().enumerate() {
            insert = insert.row(
                i == 0,
                [
                    Value::from(&user.id),
                    Value::from(&user.email),
                    Value::from(email_key(&user.email)),
                    Value::from(&user.given_name),
                    Value::from(&user.family_name),
                    Value::from(&user.display_name),
                    Value::from(user.created_at),
                    Value::from(user.updated_at),
                ],
            );
        }
        script.push(insert.sql(tail));
    }
}

/// SCIM-managed memberships (role member) for accounts that have none in
/// their organization yet, `(org_id, user_id)` pairs, into `script`.
pub(super) fn push_scim_memberships<'a>(script: &mut Script<'a>, members: &[(&'a str, &'a str)]) {
    const COLUMNS: usize = 6;
    let now = now_ms();
    for chunk in members.chunks(BATCH / COLUMNS) {
        let mut insert = Statement::new(
            "INSERT INTO memberships (org_id, user_id, role, scim_managed, source, created_at) VALUES ",
        );
        for (i, (org_id, user_id)) in chunk.iter().enumerate() {
            insert = insert.row(
                i == 0,
                [
                    Value::from(*org_id),
                    Value::from(*user_id),
                    Value::from(Role::Member.as_str()),
                    Value::from(1),
                    Value::from(MemberSource::Scim.as_str()),
                    Value::from(now),
                ],
            );
        }
        script.push(insert.sql(" ON CONFLICT (org_id, user_id) DO NOTHING"));
    }
}

/// Names as an IdP or SCIM client sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// A user as a member of one organization.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub role: Role,
    /// Whether a SCIM client manages this membership.
    pub scim_managed: bool,
    pub teams: Vec<MemberTeam>,
    pub joined_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberTeam {
    pub id: String,
    pub name: String,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: String,
    email: String,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    role: String,
    scim_managed: i64,
    joined_at: i64,
}

const USER_COLUMNS: &str =
    "id, email, given_name, family_name, display_name, created_at, updated_at";

pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Store {
    /// The account with this email (any letter case), on the pool
    /// (`store.pool()`) or inside a transaction (`&mut *tx`).
    pub async fn user_by_email<'c>(
        executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
        email: &str,
    ) -> StoreResult<Option<User>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email_key = $1"
        ))
        .bind(email_key(email))
        .fetch_optional(executor)
        .await?)
    }

    /// The account with this email and whether it is a member of the
    /// organization, in one statement: a returning member's sign-in needs
    /// nothing else read.
    pub async fn user_and_membership_by_email(
        pool: &sqlx::AnyPool,
        org_id: &str,
        email: &str,
    ) -> StoreResult<Option<(User, bool)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            // Text in both engines (EXISTS would be a boolean in PostgreSQL
            // and an integer in SQLite).
            member_role: Option<String>,
        }
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS}, (SELECT m.role FROM memberships m \
             WHERE m.org_id = $1 AND m.user_id = users.id) AS member_role \
             FROM users WHERE email_key = $2"
        ))
        .bind(org_id)
        .bind(email_key(email))
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|r| (r.user, r.member_role.is_some())))
    }

    /// The user's role in the organization, if a member; inside a
    /// transaction (`&mut *tx`) or straight on the pool (`store.pool()`).
    pub async fn membership_role<'c>(
        executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
        org_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Role>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(executor)
                .await?;
        row.map(|(role,)| {
            role.parse()
                .map_err(|e: String| StoreError::Other(sqlx::Error::Decode(e.into())))
        })
        .transpose()
    }

    /// Members ordered by email, `limit` of them after the email key `after`.
    pub async fn members(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Member>> {
        self.member_query(org_id, None, after.unwrap_or(""), limit)
            .await
    }

    /// One member with their live teams; from memory when `remember_reads`
    /// is on and nothing in the organization changed since it was read.
    pub async fn member(&self, org_id: &str, user_id: &str) -> StoreResult<Option<Member>> {
        let Some(remembered) = &self.remembered else {
            return self.read_member(org_id, user_id).await;
        };
        match remembered.versions.version(&version_key(org_id)).await {
            Some(version) => self.member_at(org_id, user_id, version).await,
            None => self.read_member(org_id, user_id).await,
        }
    }

    /// [`Store::member`] with the organization's version already read,
    /// from `member_version_key` (before this call, as `member` does).
    pub async fn member_at(
        &self,
        org_id: &str,
        user_id: &str,
        version: u64,
    ) -> StoreResult<Option<Member>> {
        match &self.remembered {
            Some(remembered) => {
                let key = (org_id.to_string(), user_id.to_string());
                remembered
                    .members
                    .read(key, version, || self.read_member(org_id, user_id))
                    .await
            }
            None => self.read_member(org_id, user_id).await,
        }
    }

    async fn read_member(&self, org_id: &str, user_id: &str) -> StoreResult<Option<Member>> {
        Ok(self.member_query(org_id, Some(user_id), "", 1).await?.pop())
    }

    async fn member_query(
        &self,
        org_id: &str,
        user_id: Option<&str>,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<Member>> {
        // One member is read by its key: `($2 IS NULL OR u.id = $2)` in the
        // page query kept the planners from using it, so every
        // `/auth/verify` walked the organization's members in email order
        // (a full scan at a million members).
        let rows: Vec<MemberRow> = match user_id {
            Some(user_id) => {
                sqlx::query_as(
                    "SELECT u.id, u.email, u.given_name, u.family_name, u.display_name, m.role, m.scim_managed, \
                     m.created_at AS joined_at FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.org_id = $1 AND m.user_id = $2",
                )
                .bind(org_id)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT u.id, u.email, u.given_name, u.family_name, u.display_name, m.role, m.scim_managed, \
                     m.created_at AS joined_at FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.org_id = $1 AND u.email_key > $2 \
                     ORDER BY u.email_key LIMIT $3",
                )
                .bind(org_id)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut teams = self
            .live_teams_of_users(org_id, rows.iter().map(|r| r.id.as_str()))
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Member {
                    teams: teams.remove(&r.id).unwrap_or_default(),
                    role: r
                        .role
                        .parse()
                        .map_err(|e: String| StoreError::Other(sqlx::Error::Decode(e.into())))?,
                    id: r.id,
                    email: r.email,
                    given_name: r.given_name,
                    family_name: r.family_name,
                    display_name: r.display_name,
                    scim_managed: r.scim_managed != 0,
                    joined_at: r.joined_at,
                })
            })
            .collect()
    }

    async fn live_teams_of_users<'a>(
        &self,
        org_id: &str,
        user_ids: impl Iterator<Item = &'a str>,
    ) -> StoreResult<HashMap<String, Vec<MemberTeam>>> {
        let ids: Vec<&str> = user_ids.collect();
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<(String, String, String)> =
            fetch_in_chunks(&mut conn, &[org_id], &ids, |list| {
                // CROSS JOIN keeps SQLite's join order (by the users' index,
                // not every team of the organization); PostgreSQL plans freely.
                format!(
                    "SELECT m.user_id, t.id, t.name FROM team_members m CROSS JOIN teams t \
                     WHERE t.id = m.team_id AND t.org_id = $1 AND t.deleted_at IS NULL AND m.user_id IN ({list}) ORDER BY t.name_key"
                )
            })
            .await?;
        let mut out: HashMap<String, Vec<MemberTeam>> = HashMap::new();
        for (user_id, id, name) in rows {
            out.entry(user_id)
                .or_default()
                .push(MemberTeam { id, name });
        }
        Ok(out)
    }
}

impl Tx {
    /// The account for `email`, created with `profile` if there is none;
    /// `true` when this call created it (its names are then `profile`'s).
    /// Safe under concurrency: two callers racing for one new email get the
    /// same row, and only one of them `true`.
    pub async fn ensure_user(
        &mut self,
        email: &str,
        profile: &UserProfile,
    ) -> StoreResult<(User, bool)> {
        // Created: the row is what we just wrote; no need to read it back.
        let user = User::new(email, profile);
        let mut script = Script::default();
        push_users(
            &mut script,
            std::slice::from_ref(&user),
            " ON CONFLICT (email_key) DO NOTHING RETURNING id",
        );
        if !self.fetch(&script).await?.is_empty() {
            return Ok((user, true));
        }
        let existing = Store::user_by_email(&mut **self, email)
            .await?
            .ok_or_else(|| StoreError::Other(sqlx::Error::RowNotFound))?;
        Ok((existing, false))
    }

    /// Touches the account row: on PostgreSQL this takes its row lock, so
    /// decisions about one account (delete it? attach it?) run one at a time.
    pub async fn lock_user(&mut self, user_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now_ms())
            .execute(&mut **self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Overwrites the names the profile carries; absent ones are kept.
    pub async fn update_user_profile(
        &mut self,
        user_id: &str,
        profile: &UserProfile,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET given_name = COALESCE($2, given_name), family_name = COALESCE($3, family_name), \
             display_name = COALESCE($4, display_name), updated_at = $5 WHERE id = $1",
        )
        .bind(user_id)
        .bind(&profile.given_name)
        .bind(&profile.family_name)
        .bind(&profile.display_name)
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    pub async fn delete_user(&mut self, user_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// Makes the user a member (keeping an existing membership's role and
    /// source) and returns whether they were not one before. A membership
    /// becomes SCIM-managed once a SCIM client provisions it.
    pub async fn upsert_membership(
        &mut self,
        org_id: &str,
        user_id: &str,
        role: Role,
        source: MemberSource,
    ) -> StoreResult<bool> {
        let scim_managed = source == MemberSource::Scim;
        let inserted = sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, scim_managed, source, created_at, role_source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(i64::from(scim_managed))
        .bind(source.as_str())
        .bind(now_ms())
        // A role other than the default was someone's choice (an invitation's).
        .bind((role != Role::Member).then_some(super::BY_ADMIN))
        .execute(&mut **self)
        .await?
        .rows_affected()
            == 1;
        if !inserted && scim_managed {
            sqlx::query(
                "UPDATE memberships SET scim_managed = 1 WHERE org_id = $1 AND user_id = $2",
            )
            .bind(org_id)
            .bind(user_id)
            .execute(&mut **self)
            .await?;
            self.members_changed(org_id);
        }
        Ok(inserted)
    }

    /// Sets the role and who chose it (`role_source`: [`super::BY_ADMIN`],
    /// [`super::BY_IDP`], or `None` for the default nobody chose).
    pub async fn set_member_role(
        &mut self,
        org_id: &str,
        user_id: &str,
        role: Role,
        role_source: Option<&str>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE memberships SET role = $3, role_source = $4 WHERE org_id = $1 AND user_id = $2",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(role_source)
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes the user out of the organization and all its teams (deleted ones
    /// too, so a restored team does not bring them back). Returns whether the
    /// user was a member.
    pub async fn remove_from_organization(
        &mut self,
        org_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        sqlx::query("DELETE FROM team_members WHERE user_id = $1 AND team_id IN (SELECT id FROM teams WHERE org_id = $2)")
            .bind(user_id)
            .bind(org_id)
            .execute(&mut **self)
            .await?;
        let done = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut **self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn membership_count(&mut self, user_id: &str) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut **self)
            .await?;
        Ok(n)
    }
}
