use std::collections::HashSet;

use sqlx::Row;

use super::batches::Savepoint;
use super::script::{Script, Statement, Value};
use super::{fetch_in_chunks, NewAuditEvent, Store, StoreResult, Tx, User, BATCH};

/// A SCIM user resource as stored (see migration 0002).
#[derive(Debug, Clone)]
pub struct ScimUserRow {
    pub id: String,
    pub integration_id: String,
    pub org_id: String,
    pub user_id: Option<String>,
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub resource: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// By hand for one column: `active` is an integer in both engines' schema
/// (0/1), and a bool in the program.
impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for ScimUserRow {
    fn from_row(row: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(ScimUserRow {
            id: row.try_get("id")?,
            integration_id: row.try_get("integration_id")?,
            org_id: row.try_get("org_id")?,
            user_id: row.try_get("user_id")?,
            user_name: row.try_get("user_name")?,
            external_id: row.try_get("external_id")?,
            active: row.try_get::<i64, _>("active")? != 0,
            resource: row.try_get("resource")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

const COLUMNS: &str = "id, integration_id, org_id, user_id, user_name, external_id, active, resource, version, created_at, updated_at";

impl Store {
    /// One user of the integration, on the pool (`store.pool()`) or inside
    /// a write transaction (`&mut *tx`, re-read under the write lock).
    pub async fn scim_user<'c>(
        executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
        integration_id: &str,
        id: &str,
    ) -> StoreResult<Option<ScimUserRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM scim_users WHERE integration_id = $1 AND id = $2"
        ))
        .bind(integration_id)
        .bind(id)
        .fetch_optional(executor)
        .await?)
    }

    /// Users whose userName equals `user_name` case-insensitively (0 or 1).
    pub async fn scim_users_named<'c>(
        executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
        integration_id: &str,
        user_name: &str,
    ) -> StoreResult<Vec<ScimUserRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM scim_users WHERE integration_id = $1 AND user_name_key = $2"
        ))
        .bind(integration_id)
        .bind(user_name.to_lowercase())
        .fetch_all(executor)
        .await?)
    }

    /// Every user of the integration in a stable order (creation, then id).
    pub async fn scim_users(&self, integration_id: &str) -> StoreResult<Vec<ScimUserRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM scim_users WHERE integration_id = $1 ORDER BY created_at, id"
        ))
        .bind(integration_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Tx {
    /// A new user resource (one create alone; see `insert_scim_users`).
    pub async fn insert_scim_user(
        &mut self,
        row: &ScimUserRow,
        password_hash: Option<&str>,
    ) -> StoreResult<()> {
        self.insert_scim_users(&[(row, password_hash)]).await
    }

    /// Writes a changed resource, with the row's `version` and `updated_at`
    /// as the caller set them under the row lock; `password_hash` None keeps
    /// the stored one.
    pub async fn update_scim_user(
        &mut self,
        row: &ScimUserRow,
        password_hash: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE scim_users SET user_id = $3, user_name = $4, user_name_key = $5, external_id = $6, active = $7, \
             resource = $8, password_hash = COALESCE($9, password_hash), version = $10, updated_at = $11 \
             WHERE integration_id = $1 AND id = $2",
        )
        .bind(&row.integration_id)
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(&row.user_name)
        .bind(row.user_name.to_lowercase())
        .bind(&row.external_id)
        .bind(i64::from(row.active))
        .bind(&row.resource)
        .bind(password_hash)
        .bind(row.version)
        .bind(row.updated_at)
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// Touches the row: on PostgreSQL this takes its row lock, so a
    /// read-modify-write of one user runs one at a time. With `version`, only
    /// if the row still has that version; whether it did (or, without one,
    /// whether the row exists).
    pub async fn lock_scim_user(
        &mut self,
        integration_id: &str,
        id: &str,
        version: Option<i64>,
    ) -> StoreResult<bool> {
        let sql = match version {
            Some(_) => "UPDATE scim_users SET version = version WHERE integration_id = $1 AND id = $2 AND version = $3",
            None => "UPDATE scim_users SET version = version WHERE integration_id = $1 AND id = $2",
        };
        let mut query = sqlx::query(sql).bind(integration_id).bind(id);
        if let Some(version) = version {
            query = query.bind(version);
        }
        let done = query.execute(&mut **self).await?;
        Ok(done.rows_affected() == 1)
    }

    /// New user resources, several per statement; their userNames must
    /// be free.
    pub async fn insert_scim_users(
        &mut self,
        rows: &[(&ScimUserRow, Option<&str>)],
    ) -> StoreResult<()> {
        let mut script = Script::default();
        push_scim_users(&mut script, rows);
        Ok(self.run(&script).await?)
    }

    /// Of a batch of creates for the integration, which `user_names` it
    /// has already (compared case-insensitively) and which `emails` have an
    /// account, as keys: one read for the whole batch.
    pub async fn scim_creates_taken(
        &mut self,
        integration_id: &str,
        user_names: &[&str],
        emails: &[&str],
    ) -> StoreResult<CreatesTaken> {
        let names: Vec<String> = user_names.iter().map(|n| n.to_lowercase()).collect();
        let emails: Vec<String> = emails.iter().map(|e| super::email_key(e)).collect();
        let mut script = Script::default();
        for chunk in names.chunks(BATCH) {
            script.push(
                Statement::new(
                    "SELECT 'name', user_name_key FROM scim_users WHERE integration_id = ",
                )
                .value(integration_id)
                .sql(" AND user_name_key IN (")
                .list(chunk)
                .sql(")"),
            );
        }
        for chunk in emails.chunks(BATCH) {
            script.push(
                Statement::new("SELECT 'email', email_key FROM users WHERE email_key IN (")
                    .list(chunk)
                    .sql(")"),
            );
        }
        let mut taken = CreatesTaken::default();
        for row in self.fetch(&script).await? {
            let key: String = row.try_get(1)?;
            match row.try_get::<String, _>(0)?.as_str() {
                "name" => taken.user_names.insert(key),
                _ => taken.emails.insert(key),
            };
        }
        Ok(taken)
    }

    /// Writes new SCIM members at once (one call on SQLite): their
    /// accounts, whose emails must have none yet; a membership in each
    /// row's organization; the SCIM rows; the audit rows — after a
    /// savepoint `name`, returned to undo them all if this fails.
    pub async fn insert_scim_members(
        &mut self,
        name: &'static str,
        members: &NewScimMembers<'_>,
    ) -> (Savepoint, StoreResult<()>) {
        let savepoint = self.savepoint_named(name);
        let memberships: Vec<(&str, &str)> = members
            .rows
            .iter()
            .filter_map(|(row, _)| Some((row.org_id.as_str(), row.user_id.as_deref()?)))
            .collect();
        let mut script = Script::default();
        script.push(Statement::new(format!("SAVEPOINT {name}")));
        super::users::push_users(&mut script, members.users, "");
        super::users::push_scim_memberships(&mut script, &memberships);
        push_scim_users(&mut script, members.rows);
        super::audit::push_audits(&mut script, members.audits);
        let written = self.run(&script).await.map_err(Into::into);
        (savepoint, written)
    }
    pub async fn delete_scim_user(&mut self, integration_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM scim_users WHERE integration_id = $1 AND id = $2")
            .bind(integration_id)
            .bind(id)
            .execute(&mut **self)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// What `scim_creates_taken` found, as keys.
#[derive(Debug, Default)]
pub struct CreatesTaken {
    pub user_names: HashSet<String>,
    pub emails: HashSet<String>,
}

/// A batch of creates for `insert_scim_members`.
pub struct NewScimMembers<'a> {
    pub users: &'a [User],
    pub rows: &'a [(&'a ScimUserRow, Option<&'a str>)],
    pub audits: &'a [NewAuditEvent],
}

/// INSERTs of new user resources (`password_hash` each) into `script`.
pub(super) fn push_scim_users<'a>(
    script: &mut Script<'a>,
    rows: &[(&'a ScimUserRow, Option<&'a str>)],
) {
    const COLUMNS: usize = 13;
    for chunk in rows.chunks(BATCH / COLUMNS) {
        let mut insert = Statement::new(
            "INSERT INTO scim_users (id, integration_id, org_id, user_id, user_name, user_name_key, external_id, active, \
             resource, password_hash, version, created_at, updated_at) VALUES ",
        );
        for (i, (row, password_hash)) in chunk.iter().enumerate() {
            insert = insert.row(
                i == 0,
                [
                    Value::from(&row.id),
                    Value::from(&row.integration_id),
                    Value::from(&row.org_id),
                    Value::from(&row.user_id),
                    Value::from(&row.user_name),
                    Value::from(row.user_name.to_lowercase()),
                    Value::from(&row.external_id),
                    Value::from(i64::from(row.active)),
                    Value::from(&row.resource),
                    Value::from(*password_hash),
                    Value::from(row.version),
                    Value::from(row.created_at),
                    Value::from(row.updated_at),
                ],
            );
        }
        script.push(insert);
    }
}

/// A SCIM user a group write adds or removes, with the account attached to
/// it (none while the user is inactive or has no email).
#[derive(Debug, Clone)]
pub struct ScimGroupMember {
    pub id: String,
    pub account: Option<String>,
}

impl Store {
    /// SCIM user ids of a group's members, in the order they are listed.
    pub async fn scim_group_members<'c>(
        executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
        team_id: &str,
    ) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT u.id FROM scim_group_members m JOIN scim_users u ON u.id = m.scim_user_id \
             WHERE m.team_id = $1 ORDER BY u.created_at, u.id",
        )
        .bind(team_id)
        .fetch_all(executor)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

impl Tx {
    /// SCIM user ids of a group's members, in no order: what a write to the
    /// group compares with. Read from the member table's key alone (the
    /// ordered list joins every member's user row, at 100k users a page
    /// read each).
    pub async fn scim_group_member_ids(&mut self, team_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT scim_user_id FROM scim_group_members WHERE team_id = $1")
                .bind(team_id)
                .fetch_all(&mut **self)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Which of `ids` are SCIM users of the integration, with their
    /// accounts, read by primary key in chunks: a group's member check must
    /// not read the whole directory. (The integration is compared here, not
    /// in SQL: with it in the WHERE clause SQLite's planner walked the
    /// integration's index instead of the keys, a second per PATCH at 100k
    /// users.)
    pub async fn known_scim_users(
        &mut self,
        integration_id: &str,
        ids: &[&str],
    ) -> StoreResult<Vec<ScimGroupMember>> {
        let rows: Vec<(String, String, Option<String>)> = fetch_in_chunks(self, &[], ids, |list| {
            format!("SELECT id, integration_id, user_id FROM scim_users WHERE id IN ({list})")
        })
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, owner, _)| owner == integration_id)
            .map(|(id, _, account)| ScimGroupMember { id, account })
            .collect())
    }

    /// Takes `leaving` off a SCIM group's member list and puts `joining`
    /// on it. Only the change is written: Entra adds members a batch at a
    /// time, and rewriting the whole list for each batch made a group's
    /// sync quadratic in its size.
    pub async fn change_scim_group_members(
        &mut self,
        team_id: &str,
        leaving: &[String],
        joining: &[String],
    ) -> StoreResult<()> {
        for id in leaving {
            sqlx::query("DELETE FROM scim_group_members WHERE team_id = $1 AND scim_user_id = $2")
                .bind(team_id)
                .bind(id)
                .execute(&mut **self)
                .await?;
        }
        // A few hundred rows per statement: SQLite's one writer waits for
        // each statement of a group PATCH.
        for chunk in joining.chunks(BATCH) {
            let rows: Vec<String> = (2..2 + chunk.len())
                .map(|i| format!("($1, ${i})"))
                .collect();
            let sql = format!(
                "INSERT INTO scim_group_members (team_id, scim_user_id) VALUES {} ON CONFLICT DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(team_id);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&mut **self).await?;
        }
        Ok(())
    }

    /// Live teams listing this SCIM user as a member.
    pub async fn teams_of_scim_user(&mut self, scim_user_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT m.team_id FROM scim_group_members m JOIN teams t ON t.id = m.team_id \
             WHERE m.scim_user_id = $1 AND t.deleted_at IS NULL",
        )
        .bind(scim_user_id)
        .fetch_all(&mut **self)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Takes `accounts` (those of users who left the group) out of the team,
    /// except any the group still lists through another of its SCIM users
    /// (two SCIM users may share one account); returns who left.
    pub async fn remove_scim_team_members(
        &mut self,
        team_id: &str,
        accounts: &[&str],
    ) -> StoreResult<Vec<String>> {
        let left: Vec<(String,)> = fetch_in_chunks(self, &[team_id], accounts, |list| {
            format!(
                "DELETE FROM team_members WHERE team_id = $1 AND user_id IN ({list}) AND NOT EXISTS \
                 (SELECT 1 FROM scim_group_members m JOIN scim_users u ON u.id = m.scim_user_id \
                 WHERE m.team_id = $1 AND u.user_id = team_members.user_id) RETURNING user_id"
            )
        })
        .await?;
        Ok(left.into_iter().map(|(id,)| id).collect())
    }
}
