use serde::Serialize;

use super::script::{Script, Statement, Value};
use super::{now_ms, Store, StoreResult, Tx, BATCH};
use crate::audit::{Actor, AuditKind, Outcome};

/// What happened, as written: one row per sign-in attempt or change.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub org_id: String,
    pub kind: AuditKind,
    pub outcome: Outcome,
    pub actor: Actor,
    /// What it was done to (an email, a team id …).
    pub subject: Option<String>,
    /// The exact refusal reason, for failures.
    pub reason: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: i64,
    pub kind: String,
    pub outcome: String,
    pub actor: String,
    pub subject: Option<String>,
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    occurred_at: i64,
    kind: String,
    outcome: String,
    actor: String,
    subject: Option<String>,
    reason: Option<String>,
    details: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact kind, or a prefix ending in `.` / `*` (`team.*`).
    pub kind: Option<String>,
    pub outcome: Option<String>,
    pub subject: Option<String>,
    /// Exact actor (`sso:<integration id>` …).
    pub actor: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only events older than this event id (the previous page's cursor).
    pub before_id: Option<String>,
    pub limit: i64,
}

/// The smallest UUIDv7 (as text) of the millisecond `at`: every id made
/// before it sorts below.
pub(super) fn first_uuid_v7_at(at: i64) -> String {
    let at = at.max(0) as u64;
    format!(
        "{:08x}-{:04x}-0000-0000-000000000000",
        at >> 16,
        at & 0xffff
    )
}

impl Store {
    /// Deletes at most `batch` audit rows recorded before `cutoff` (unix ms)
    /// and returns how many went. Audit ids are UUIDv7, whose text sorts by
    /// time, so the oldest rows are found through the primary key alone.
    pub async fn delete_audit_before(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        super::delete_oldest(&self.pool, "audit_events", cutoff, batch).await
    }

    /// Writes an event that accompanies no change (a sign-in, a refused
    /// one), committed before it returns. Concurrent ones are written
    /// together, one multi-row INSERT in one group-committed transaction:
    /// a busy sign-in page no longer queues on SQLite's write lock, an
    /// autocommit each. Not from inside a `group_write` change, which
    /// would wait for its own batch.
    pub async fn record_audit_alone(&self, event: &NewAuditEvent) -> StoreResult<()> {
        self.write_together(event.clone(), |tx, events| {
            Box::pin(record_together(tx, events))
        })
        .await
    }

    /// Newest first.
    pub async fn audit_events(
        &self,
        org_id: &str,
        filter: &AuditFilter,
    ) -> StoreResult<Vec<AuditEvent>> {
        let (kind_exact, kind_prefix) = match filter.kind.as_deref() {
            Some(k) if k.ends_with('*') => (
                None,
                Some(format!("{}%", escape_like(k.trim_end_matches('*')))),
            ),
            Some(k) => (Some(k.to_string()), None),
            None => (None, None),
        };
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, occurred_at, kind, outcome, actor, subject, reason, details FROM audit_events \
             WHERE org_id = $1 \
             AND ($2 IS NULL OR kind = $2) \
             AND ($3 IS NULL OR kind LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR outcome = $4) \
             AND ($5 IS NULL OR subject = $5) \
             AND ($6 IS NULL OR occurred_at >= $6) \
             AND ($7 IS NULL OR occurred_at < $7) \
             AND ($8 IS NULL OR id < $8) \
             AND ($9 IS NULL OR actor = $9) \
             ORDER BY id DESC LIMIT $10",
        )
        .bind(org_id)
        .bind(kind_exact)
        .bind(kind_prefix)
        .bind(&filter.outcome)
        .bind(&filter.subject)
        .bind(filter.since_ms)
        .bind(filter.until_ms)
        .bind(&filter.before_id)
        .bind(&filter.actor)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                id: r.id,
                occurred_at: r.occurred_at,
                kind: r.kind,
                outcome: r.outcome,
                actor: r.actor,
                subject: r.subject,
                reason: r.reason,
            })
            .collect())
    }
}

/// `record_audit_alone`'s waiting events, each with its outcome.
async fn record_together(
    tx: &mut Tx,
    events: &[NewAuditEvent],
) -> StoreResult<Vec<StoreResult<()>>> {
    tx.record_audits(events).await?;
    Ok(events.iter().map(|_| Ok(())).collect())
}

impl Tx {
    /// Writes within the caller's transaction, so the change and its record
    /// land together or not at all.
    pub async fn record_audit(&mut self, event: &NewAuditEvent) -> StoreResult<()> {
        self.record_audits(std::slice::from_ref(event)).await
    }
    /// Several records at once, within the caller's transaction (a batch
    /// of group-committed SCIM creates).
    pub async fn record_audits(&mut self, events: &[NewAuditEvent]) -> StoreResult<()> {
        let mut script = Script::default();
        push_audits(&mut script, events);
        Ok(self.run(&script).await?)
    }
}

/// INSERTs of audit rows into `script`.
pub(super) fn push_audits<'a>(script: &mut Script<'a>, events: &'a [NewAuditEvent]) {
    const COLUMNS: usize = 9;
    let now = now_ms();
    for chunk in events.chunks(BATCH / COLUMNS) {
        let mut insert = Statement::new(
            "INSERT INTO audit_events (id, org_id, occurred_at, kind, outcome, actor, subject, reason, details) VALUES ",
        );
        for (i, event) in chunk.iter().enumerate() {
            // UUIDv7 ids sort by creation time: newest-first is ORDER BY id DESC.
            insert = insert.row(
                i == 0,
                [
                    Value::from(uuid::Uuid::now_v7().to_string()),
                    Value::from(&event.org_id),
                    Value::from(now),
                    Value::from(event.kind.as_str()),
                    Value::from(event.outcome.as_str()),
                    Value::from(event.actor.to_string()),
                    Value::from(&event.subject),
                    Value::from(&event.reason),
                    Value::from(event.details.to_string()),
                ],
            );
        }
        script.push(insert);
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::test_store;

    /// The cutoff id falls between UUIDv7 ids by their time alone.
    #[tokio::test]
    async fn retention_deletes_only_rows_older_than_the_cutoff_in_batches() {
        let t = test_store().await;
        let store = &t.store;
        let org = crate::provisioning::create_organization(store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let event = NewAuditEvent {
            org_id: org.id.clone(),
            kind: AuditKind::SignIn,
            outcome: Outcome::Failure,
            actor: Actor::System,
            subject: None,
            reason: None,
            details: serde_json::json!({}),
        };
        for _ in 0..3 {
            store.record_audit_alone(&event).await.unwrap();
        }
        let all = |s: &Store| {
            let s = s.clone();
            let org = org.id.clone();
            async move {
                let filter = AuditFilter {
                    limit: 100,
                    ..Default::default()
                };
                s.audit_events(&org, &filter).await.unwrap().len()
            }
        };
        assert_eq!(all(store).await, 4, "3 + the organization's creation");
        let an_hour_ago = now_ms() - 3_600_000;
        assert_eq!(store.delete_audit_before(an_hour_ago, 2).await.unwrap(), 0);
        let later = now_ms() + 1_000;
        assert_eq!(store.delete_audit_before(later, 3).await.unwrap(), 3);
        assert_eq!(store.delete_audit_before(later, 3).await.unwrap(), 1);
        assert_eq!(all(store).await, 0);
    }
}
