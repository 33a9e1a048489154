//! The SCIM user rules: create-or-attach, deactivate/reactivate, delete.
//! Deactivation and DELETE both deprovision (the same rule as everywhere);
//! SCIM keeps answering for a deactivated user until it is DELETEd.

use serde_json::json;

use super::events::{emit, member_changed};
use super::members::{joined_team, may_attach, refresh_profile};
use super::membership::{audit_deprovisioned, deprovision_in};
use super::{audit_success, invalid, Actor, RuleError, RuleResult};
use crate::audit::{AuditKind, Outcome};
use crate::events::{EventType, MemberData, MemberSource, RemovalReason};
use crate::store::{
    now_ms, Integration, NewAuditEvent, NewScimMembers, Role, Savepoint, ScimUserRow, Store,
    StoreError, Transient, Tx, User, UserProfile,
};

/// What a SCIM client asserts about a user, read from its resource.
#[derive(Debug, Clone)]
pub struct ScimUserFacts {
    pub user_name: String,
    /// The address the account is keyed by: the work/primary email, else a
    /// userName that is an email. Without one the resource is kept but the
    /// person is no member (accounts are keyed by email) until one is set.
    pub email: Option<String>,
    pub profile: UserProfile,
    pub external_id: Option<String>,
    pub active: bool,
}

impl ScimUserFacts {
    /// Checks the identity fields; `email` must look like an address.
    pub fn new(
        user_name: String,
        email: Option<String>,
        profile: UserProfile,
        external_id: Option<String>,
        active: bool,
    ) -> RuleResult<Self> {
        let user_name = user_name.trim().to_string();
        if user_name.is_empty() {
            return Err(invalid("userName", "is required"));
        }
        let email = email
            .filter(|e| e.contains('@'))
            .or_else(|| user_name.contains('@').then(|| user_name.clone()));
        if let Some(email) = &email {
            if super::email_domain(email).is_none() {
                return Err(invalid(
                    "emails",
                    format!("{email:?} is not a valid email address"),
                ));
            }
        }
        Ok(ScimUserFacts {
            user_name,
            email,
            profile,
            external_id,
            active,
        })
    }
}

/// One write of a user resource, as the SCIM layer prepared it.
pub struct ScimUserWrite<'a> {
    pub facts: &'a ScimUserFacts,
    /// The normalised resource (no id/meta/password).
    pub resource: &'a serde_json::Value,
    /// argon2 of a password the client sent (Okta's Sync password).
    pub password_hash: Option<&'a str>,
    /// For the audit log, e.g. `PUT /Users`.
    pub operation: &'a str,
}

/// A change to a stored user resource (a parsed SCIM PATCH), applied afresh
/// to each version of the row the rule reads.
pub trait ScimUserPatch {
    type Error: From<RuleError>;
    /// The changed, normalised resource and the facts read from it, from the
    /// stored resource document.
    fn patched(&self, stored: &str) -> Result<(serde_json::Value, ScimUserFacts), Self::Error>;
}

/// How often a PATCH that lost a race to another write of the same user
/// (Entra sends in parallel) is re-applied before it gives up.
const PATCH_ATTEMPTS: usize = 10;

/// Makes the person a SCIM-managed member (creating or attaching the global
/// account for the email) and returns the account id; `None` for an active
/// user without an email, or an inactive one.
async fn attach(
    tx: &mut Tx,
    org_id: &str,
    scim_id: Option<&str>,
    facts: &ScimUserFacts,
) -> RuleResult<Option<String>> {
    let Some(email) = facts.email.as_deref().filter(|_| facts.active) else {
        return Ok(None);
    };
    let (user, created) = tx.ensure_user(email, &facts.profile).await?;
    if !created
        && Store::membership_role(&mut **tx, org_id, &user.id)
            .await?
            .is_none()
        && !may_attach(tx, org_id, &user).await?
    {
        let domain = super::email_domain(email).unwrap_or_default();
        return Err(RuleError::Refused(format!(
            "{email} already belongs to another organization; this organization may provision that account \
             only once it has verified {domain} (admin: Domains), or an admin has invited {email}"
        )));
    }
    let mut joined = Vec::new();
    if let Some(scim_id) = scim_id {
        for team_id in tx.teams_of_scim_user(scim_id).await? {
            if tx.add_team_member(&team_id, &user.id).await? {
                joined.push(team_id);
            }
        }
    }
    if tx
        .upsert_membership(org_id, &user.id, Role::Member, MemberSource::Scim)
        .await?
    {
        if created {
            // Account and membership are what was just written: no need to
            // read them back (one statement less per user of a sync).
            emit(tx, org_id, EventType::MemberAdded, new_member(user.clone()));
        } else {
            member_changed(tx, org_id, EventType::MemberAdded, &user.id).await?;
        }
    }
    if !created {
        refresh_profile(tx, org_id, &user, &facts.profile).await?;
    }
    for team_id in &joined {
        joined_team(tx, org_id, team_id, &user.id).await?;
    }
    Ok(Some(user.id))
}

/// Audits a SCIM write the attach rule refused (its transaction already
/// rolled back) and returns the refusal for the SCIM answer.
async fn refused(
    store: &Store,
    integration: &Integration,
    kind: AuditKind,
    actor: &Actor,
    facts: &ScimUserFacts,
    why: String,
) -> RuleError {
    let event = NewAuditEvent {
        org_id: integration.org_id.clone(),
        kind,
        outcome: Outcome::Failure,
        actor: actor.clone(),
        subject: Some(
            facts
                .email
                .clone()
                .unwrap_or_else(|| facts.user_name.clone()),
        ),
        reason: Some(format!("account_elsewhere: {why}")),
        details: json!({ "integration": integration.id }),
    };
    if let Err(e) = store.record_audit_alone(&event).await {
        tracing::warn!(error = %e, "could not audit a refused SCIM write");
    }
    RuleError::Refused(why)
}

/// A change the batch may run again: the database's transient refusals
/// (on PostgreSQL, a deadlock between two batches).
impl Transient for RuleError {
    fn is_transient(&self) -> bool {
        matches!(self, RuleError::Store(e) if e.is_transient())
    }
}

fn taken(user_name: &str) -> RuleError {
    RuleError::Conflict(format!("a user with userName {user_name:?} already exists"))
}

/// A user create as it waits to run with the others (owned).
struct Create {
    integration: Integration,
    actor: Actor,
    facts: ScimUserFacts,
    resource: serde_json::Value,
    password_hash: Option<String>,
    operation: String,
}

impl Create {
    fn write(&self) -> ScimUserWrite<'_> {
        ScimUserWrite {
            facts: &self.facts,
            resource: &self.resource,
            password_hash: self.password_hash.as_deref(),
            operation: &self.operation,
        }
    }
}

/// POST: a new user resource. Concurrent creates (an initial sync sends
/// thousands at once) are written together, a few statements for all of
/// them (`create_all`), group-committed with the other SCIM writes.
pub async fn scim_create_user(
    store: &Store,
    integration: &Integration,
    write: &ScimUserWrite<'_>,
    actor: &Actor,
) -> RuleResult<ScimUserRow> {
    let create = Create {
        integration: integration.clone(),
        actor: actor.clone(),
        facts: write.facts.clone(),
        resource: write.resource.clone(),
        password_hash: write.password_hash.map(str::to_string),
        operation: write.operation.to_string(),
    };
    let created = store
        .write_together(create, |tx, creates| Box::pin(create_all(tx, creates)))
        .await;
    match created {
        // Its savepoint is rolled back; the refusal is audited on its own.
        Err(RuleError::Refused(why)) => {
            let kind = AuditKind::ScimUserCreated;
            Err(refused(store, integration, kind, actor, write.facts, why).await)
        }
        other => other,
    }
}

/// The creates, with the outcome `create_in` would give each run one after
/// another, in fewer statements: the common case (a free userName, an
/// email no account has yet) is written for all at once; the rest (a
/// userName already taken, or repeated in the batch, an existing account,
/// no email, inactive) runs one by one after it, each in its own
/// savepoint, as does everyone if a multi-row write fails.
async fn create_all(tx: &mut Tx, creates: &[Create]) -> RuleResult<Vec<RuleResult<ScimUserRow>>> {
    let mut outcomes: Vec<Option<RuleResult<ScimUserRow>>> = creates.iter().map(|_| None).collect();
    let mut taken_names = std::collections::HashSet::new();
    let mut taken_emails = std::collections::HashSet::new();
    let mut integrations: Vec<&str> = creates.iter().map(|c| c.integration.id.as_str()).collect();
    integrations.sort_unstable();
    integrations.dedup();
    for integration_id in integrations {
        let of_it = || {
            creates
                .iter()
                .filter(|c| c.integration.id == integration_id)
        };
        let names: Vec<&str> = of_it().map(|c| c.facts.user_name.as_str()).collect();
        let emails: Vec<&str> = of_it().filter_map(|c| c.facts.email.as_deref()).collect();
        let taken = tx
            .scim_creates_taken(integration_id, &names, &emails)
            .await?;
        taken_names.extend(
            taken
                .user_names
                .into_iter()
                .map(|key| (integration_id, key)),
        );
        taken_emails.extend(taken.emails);
    }
    // Each name and each account once in the multi-row writes; a repeat
    // runs alone, after the first, and meets it as a sequential create
    // would; so does an email that has an account already.
    let mut names = std::collections::HashSet::new();
    let mut emails = std::collections::HashSet::new();
    let mut fast = Vec::new();
    for (i, create) in creates.iter().enumerate() {
        let name = (
            create.integration.id.as_str(),
            create.facts.user_name.to_lowercase(),
        );
        if taken_names.contains(&name) {
            outcomes[i] = Some(Err(taken(&create.facts.user_name)));
            continue;
        }
        let first = names.insert(name);
        if let Some(email) = create
            .facts
            .email
            .as_deref()
            .filter(|_| create.facts.active)
        {
            let key = crate::store::email_key(email);
            if first && !taken_emails.contains(&key) && emails.insert(key) {
                fast.push(i);
            }
        }
    }
    if !fast.is_empty() {
        match create_new_accounts(tx, creates, &fast).await {
            Ok(rows) => {
                for (i, row) in rows {
                    outcomes[i] = Some(Ok(row));
                }
            }
            Err((e, _)) if e.is_transient() => return Err(e.into()),
            Err((e, savepoint)) => {
                tracing::warn!(error = %e, "SCIM creates written together failed; writing them one by one");
                tx.rollback_to(&savepoint).await?;
            }
        }
    }
    for (i, create) in creates.iter().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        let savepoint = tx.savepoint("scim_create").await?;
        let outcome = match create_in(tx, &create.integration, &create.write(), &create.actor).await
        {
            // All of them run again, in a new transaction.
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                tx.rollback_to(&savepoint).await?;
                Err(e)
            }
            created => created,
        };
        outcomes[i] = Some(outcome);
    }
    // Every create has its outcome by now.
    Ok(outcomes.into_iter().flatten().collect())
}

/// Writes the creates at `which` (free userNames, distinct emails that
/// have no account, active) as `create_in` would for a new account:
/// accounts, memberships, resources and audit rows in one call
/// (`insert_scim_members`), `member.added` per account in order; their
/// rows, or the error and the savepoint that undoes what was written.
async fn create_new_accounts(
    tx: &mut Tx,
    creates: &[Create],
    which: &[usize],
) -> Result<Vec<(usize, ScimUserRow)>, (StoreError, Savepoint)> {
    let new: Vec<(usize, User)> = which
        .iter()
        .filter_map(|&i| {
            let facts = &creates[i].facts;
            Some((i, User::new(facts.email.as_deref()?, &facts.profile)))
        })
        .collect();
    let now = now_ms();
    let mut rows = Vec::with_capacity(new.len());
    let mut audits = Vec::with_capacity(new.len());
    for (i, user) in &new {
        let create = &creates[*i];
        let facts = &create.facts;
        let row = ScimUserRow {
            id: uuid::Uuid::now_v7().to_string(),
            integration_id: create.integration.id.clone(),
            org_id: create.integration.org_id.clone(),
            user_id: Some(user.id.clone()),
            user_name: facts.user_name.clone(),
            external_id: facts.external_id.clone(),
            active: facts.active,
            resource: create.resource.to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        audits.push(NewAuditEvent {
            org_id: row.org_id.clone(),
            kind: AuditKind::ScimUserCreated,
            outcome: Outcome::Success,
            actor: create.actor.clone(),
            subject: Some(facts.email.clone().unwrap_or_else(|| facts.user_name.clone())),
            reason: None,
            details: json!({ "scim_id": row.id, "operation": create.operation, "active": facts.active }),
        });
        rows.push((*i, row));
    }
    let resources: Vec<(&ScimUserRow, Option<&str>)> = rows
        .iter()
        .map(|(i, row)| (row, creates[*i].password_hash.as_deref()))
        .collect();
    let users: Vec<User> = new.into_iter().map(|(_, user)| user).collect();
    let members = NewScimMembers {
        users: &users,
        rows: &resources,
        audits: &audits,
    };
    let (savepoint, written) = tx.insert_scim_members("scim_creates", &members).await;
    if let Err(e) = written {
        return Err((e, savepoint));
    }
    for (user, (i, _)) in users.into_iter().zip(&rows) {
        emit(
            tx,
            &creates[*i].integration.org_id,
            EventType::MemberAdded,
            new_member(user),
        );
    }
    Ok(rows)
}

/// What `member.added` says of an account created as a SCIM member just
/// now: what was written, not read back.
fn new_member(user: crate::store::User) -> MemberData {
    MemberData {
        user_id: user.id,
        email: user.email,
        given_name: user.given_name,
        family_name: user.family_name,
        display_name: user.display_name,
        role: Role::Member.as_str().to_string(),
        source: MemberSource::Scim,
    }
}

async fn create_in(
    tx: &mut Tx,
    integration: &Integration,
    write: &ScimUserWrite<'_>,
    actor: &Actor,
) -> RuleResult<ScimUserRow> {
    let ScimUserWrite {
        facts,
        resource,
        password_hash,
        operation,
    } = *write;
    if !Store::scim_users_named(&mut **tx, &integration.id, &facts.user_name)
        .await?
        .is_empty()
    {
        return Err(taken(&facts.user_name));
    }
    let user_id = attach(tx, &integration.org_id, None, facts).await?;
    let now = now_ms();
    let row = ScimUserRow {
        id: uuid::Uuid::now_v7().to_string(),
        integration_id: integration.id.clone(),
        org_id: integration.org_id.clone(),
        user_id,
        user_name: facts.user_name.clone(),
        external_id: facts.external_id.clone(),
        active: facts.active,
        resource: resource.to_string(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    match tx.insert_scim_user(&row, password_hash).await {
        Err(StoreError::Conflict) => return Err(taken(&facts.user_name)),
        other => other?,
    }
    let details = json!({ "scim_id": row.id, "operation": operation, "active": facts.active });
    audit_success(
        tx,
        &integration.org_id,
        AuditKind::ScimUserCreated,
        actor,
        Some(facts.email.as_deref().unwrap_or(&facts.user_name)),
        details,
    )
    .await?;
    Ok(row)
}

/// PUT: replaces the user's resource.
pub async fn scim_replace_user(
    store: &Store,
    integration: &Integration,
    id: &str,
    write: &ScimUserWrite<'_>,
    actor: &Actor,
) -> RuleResult<ScimUserRow> {
    let mut tx = store.write_tx().await?;
    tx.lock_scim_user(&integration.id, id, None).await?;
    let row = Store::scim_user(&mut *tx, &integration.id, id)
        .await?
        .ok_or(RuleError::NotFound("user"))?;
    save_locked(store, tx, integration, row, write, actor).await
}

/// PATCH: applies `patch` to the stored resource and saves the result. The
/// row is read once per attempt, outside the write lock; if another write
/// changed it before the lock was taken, the patch is applied again to the
/// new version.
pub async fn scim_patch_user<P: ScimUserPatch>(
    store: &Store,
    integration: &Integration,
    id: &str,
    patch: &P,
    password_hash: Option<&str>,
    actor: &Actor,
) -> Result<ScimUserRow, P::Error> {
    for _ in 0..PATCH_ATTEMPTS {
        let row = Store::scim_user(store.pool(), &integration.id, id)
            .await
            .map_err(RuleError::from)?
            .ok_or(RuleError::NotFound("user"))?;
        let (resource, facts) = patch.patched(&row.resource)?;
        let write = ScimUserWrite {
            facts: &facts,
            resource: &resource,
            password_hash,
            operation: "PATCH /Users",
        };
        let mut tx = store.write_tx().await.map_err(RuleError::from)?;
        let unchanged = tx
            .lock_scim_user(&integration.id, id, Some(row.version))
            .await
            .map_err(RuleError::from)?;
        if unchanged {
            return Ok(save_locked(store, tx, integration, row, &write, actor).await?);
        }
    }
    Err(RuleError::Stale("user").into())
}

/// Writes `write` over `row` (read under the lock `tx` holds), carrying out
/// any change of `active`: false deprovisions, true re-attaches. Returns the
/// row as stored.
async fn save_locked(
    store: &Store,
    mut tx: Tx,
    integration: &Integration,
    mut row: ScimUserRow,
    write: &ScimUserWrite<'_>,
    actor: &Actor,
) -> RuleResult<ScimUserRow> {
    let ScimUserWrite {
        facts,
        resource,
        password_hash,
        operation,
    } = *write;
    if !row.user_name.eq_ignore_ascii_case(&facts.user_name)
        && Store::scim_users_named(&mut *tx, &integration.id, &facts.user_name)
            .await?
            .iter()
            .any(|r| r.id != row.id)
    {
        return Err(taken(&facts.user_name));
    }
    let was_active = row.active;
    let kind = match (was_active, facts.active) {
        (_, true) => {
            // Without an email now, the existing membership stays as it is.
            let attached = match attach(&mut tx, &integration.org_id, Some(&row.id), facts).await {
                Err(RuleError::Refused(why)) => {
                    tx.rollback().await?;
                    let kind = AuditKind::ScimUserUpdated;
                    return Err(refused(store, integration, kind, actor, facts, why).await);
                }
                other => other?,
            };
            row.user_id = attached.or(row.user_id.take());
            if was_active {
                AuditKind::ScimUserUpdated
            } else {
                AuditKind::ScimUserReactivated
            }
        }
        (true, false) => {
            if let Some(user_id) = row.user_id.take() {
                if let Some(outcome) = deprovision_in(
                    &mut tx,
                    &integration.org_id,
                    &user_id,
                    RemovalReason::ScimDeactivated,
                )
                .await?
                {
                    audit_deprovisioned(&mut tx, &integration.org_id, &user_id, outcome, actor)
                        .await?;
                }
            }
            AuditKind::ScimUserDeactivated
        }
        (false, false) => AuditKind::ScimUserUpdated,
    };
    row.user_name = facts.user_name.clone();
    row.external_id = facts.external_id.clone();
    row.active = facts.active;
    row.resource = resource.to_string();
    row.version += 1;
    row.updated_at = now_ms();
    match tx.update_scim_user(&row, password_hash).await {
        Err(StoreError::Conflict) => return Err(taken(&facts.user_name)),
        other => other?,
    }
    let details = json!({ "scim_id": row.id, "operation": operation, "active": facts.active });
    audit_success(
        &mut tx,
        &integration.org_id,
        kind,
        actor,
        Some(facts.email.as_deref().unwrap_or(&facts.user_name)),
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// DELETE: deprovisions (if still a member) and forgets the resource.
pub async fn scim_delete_user(
    store: &Store,
    integration: &Integration,
    id: &str,
    actor: &Actor,
) -> RuleResult<()> {
    let mut tx = store.write_tx().await?;
    let row = Store::scim_user(&mut *tx, &integration.id, id)
        .await?
        .ok_or(RuleError::NotFound("user"))?;
    if let Some(user_id) = &row.user_id {
        let reason = RemovalReason::ScimDeleted;
        if let Some(outcome) = deprovision_in(&mut tx, &integration.org_id, user_id, reason).await?
        {
            audit_deprovisioned(&mut tx, &integration.org_id, user_id, outcome, actor).await?;
        }
    }
    tx.delete_scim_user(&integration.id, id).await?;
    let details = json!({ "scim_id": id, "operation": "DELETE /Users" });
    audit_success(
        &mut tx,
        &integration.org_id,
        AuditKind::ScimUserDeleted,
        actor,
        Some(&row.user_name),
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
