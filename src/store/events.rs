//! The lifecycle events outbox: buffered on the write transaction, written
//! just before it commits, read back in id order.

use serde::Serialize;
use serde_json::value::RawValue;

use super::script::{Script, Statement};
use super::{fetch_in_chunks, now_ms, numbered_parameters, Store, StoreResult, Tx, BATCH};
use crate::events::{format_event_id, EventType, MemberData, MemberSource, TeamData};

/// An event a change produces, before it has an id.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub org_id: String,
    pub kind: EventType,
    /// The `data` object; built from the typed payloads in `events`.
    pub data: serde_json::Value,
}

/// A recorded event. `data` is the stored JSON text, served and signed as
/// it is: every delivery of one event carries the same bytes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub org_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub occurred_at: i64,
    pub data: String,
}

/// An event as the API lists it and a webhook delivers it; `data` is the
/// stored text, spliced in verbatim.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope {
    /// `evt_…`: unique, stable, and ordered across the deployment.
    pub id: String,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    /// RFC 3339.
    pub occurred_at: String,
    pub organization_id: String,
    #[schema(value_type = Object)]
    pub data: Box<RawValue>,
}

/// A team row as the event snapshots read it: id, name, SCIM id, externalId.
type SnapshotRow = (String, String, Option<String>, Option<String>);

impl Event {
    pub fn public_id(&self) -> String {
        format_event_id(self.id)
    }

    /// Fails only for a row whose `data` is not JSON (written by hand:
    /// the gateway stores what serde_json wrote).
    pub fn envelope(&self) -> Result<Envelope, serde_json::Error> {
        let occurred_at = chrono::DateTime::from_timestamp_millis(self.occurred_at)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Ok(Envelope {
            id: self.public_id(),
            kind: self.kind.clone(),
            occurred_at,
            organization_id: self.org_id.clone(),
            data: RawValue::from_string(self.data.clone())?,
        })
    }

    /// The envelope's exact bytes: what a webhook delivery sends and signs.
    pub fn envelope_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.envelope()?)
    }
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this organization's (always set for an organization's admin).
    pub org_id: Option<String>,
    /// Only these types; empty: all.
    pub types: Vec<EventType>,
}

impl Tx {
    /// Records `event` with this transaction: it is written just before the
    /// commit and vanishes with a rollback.
    pub fn emit(&mut self, event: NewEvent) {
        self.events.push(event);
    }

    /// Writes the buffered events (called by `commit`). Taking the counter's
    /// row lock here, last, keeps the serialized part of event-emitting
    /// transactions as short as the inserts.
    pub(super) async fn flush_events(&mut self) -> Result<u64, sqlx::Error> {
        if self.events.is_empty() {
            return Ok(0);
        }
        let events = std::mem::take(&mut self.events);
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        // Numbered from the counter as the UPDATE left it, in the same
        // script (one call on SQLite): event k of n is last_id - (n-1-k).
        let mut script = Script::default();
        script.push(
            Statement::new("UPDATE event_sequence SET last_id = last_id + ")
                .value(count)
                .sql(" WHERE singleton = 1"),
        );
        let now = now_ms();
        let mut back = count;
        for chunk in events.chunks(BATCH / 5) {
            let mut insert =
                Statement::new("INSERT INTO events (id, org_id, type, occurred_at, data) VALUES ");
            for (i, event) in chunk.iter().enumerate() {
                back -= 1;
                insert = insert
                    .sql(if i == 0 { "(" } else { ", (" })
                    .sql("(SELECT last_id FROM event_sequence WHERE singleton = 1) - ")
                    .value(back)
                    .sql(", ")
                    .value(&event.org_id)
                    .sql(", ")
                    .value(event.kind.as_str())
                    .sql(", ")
                    .value(now)
                    .sql(", ")
                    .value(event.data.to_string())
                    .sql(")");
            }
            script.push(insert);
        }
        self.run(&script).await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

impl Store {
    /// Events with sequence numbers in `(after, until]`, oldest first.
    pub async fn events_after(
        &self,
        after: i64,
        until: i64,
        filter: &EventFilter,
        limit: i64,
    ) -> StoreResult<Vec<Event>> {
        let mut sql = String::from(
            "SELECT id, org_id, type, occurred_at, data FROM events WHERE id > $1 AND id <= $2",
        );
        let mut next = 3;
        if filter.org_id.is_some() {
            sql.push_str(&format!(" AND org_id = ${next}"));
            next += 1;
        }
        if !filter.types.is_empty() {
            sql.push_str(&format!(
                " AND type IN ({})",
                numbered_parameters(next, filter.types.len())
            ));
            next += filter.types.len();
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${next}"));
        let mut query = sqlx::query_as::<_, Event>(&sql).bind(after).bind(until);
        if let Some(org_id) = &filter.org_id {
            query = query.bind(org_id);
        }
        for kind in &filter.types {
            query = query.bind(kind.as_str());
        }
        Ok(query.bind(limit).fetch_all(&self.pool).await?)
    }

    /// The newest sequence number handed out (0 before the first event).
    pub async fn last_event_id(&self) -> StoreResult<i64> {
        let (last,): (i64,) =
            sqlx::query_as("SELECT last_id FROM event_sequence WHERE singleton = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(last)
    }

    /// Drops at most `batch` of the events recorded before `cutoff`
    /// (retention); returns how many went.
    pub async fn delete_events_before(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM events WHERE id IN \
             (SELECT id FROM events WHERE occurred_at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// What events say about members and teams, read inside the transaction
/// that changes them (before a removal, after anything else).
impl Tx {
    /// The members among `user_ids`, in no particular order.
    pub async fn member_snapshots(
        &mut self,
        org_id: &str,
        user_ids: &[&str],
    ) -> StoreResult<Vec<MemberData>> {
        let rows: Vec<MemberSnapshotRow> =
            fetch_in_chunks(&mut self.inner, &[org_id], user_ids, |list| {
                format!(
                    "SELECT u.id, u.email, u.given_name, u.family_name, u.display_name, m.role, m.source \
                     FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.org_id = $1 AND m.user_id IN ({list})"
                )
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| MemberData {
                source: MemberSource::parse(&row.source).unwrap_or(MemberSource::Jit),
                user_id: row.id,
                email: row.email,
                given_name: row.given_name,
                family_name: row.family_name,
                display_name: row.display_name,
                role: row.role,
            })
            .collect())
    }

    /// One team, live or deleted.
    pub async fn team_snapshot(
        &mut self,
        org_id: &str,
        team_id: &str,
    ) -> StoreResult<Option<TeamData>> {
        let team: Option<SnapshotRow> = sqlx::query_as(
            "SELECT id, name, scim_id, scim_external_id FROM teams WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(team_id)
        .fetch_optional(&mut *self.inner)
        .await?;
        self.with_domains(team).await
    }

    /// The integration's live SCIM group, locked until this transaction
    /// ends, so a change read from it is written over the group as read:
    /// on PostgreSQL the row lock holds off another instance's write of the
    /// same group (SQLite's one writer already does). The no-op update is
    /// the lock both engines take.
    pub async fn lock_scim_team(
        &mut self,
        org_id: &str,
        integration_id: &str,
        team_id: &str,
    ) -> StoreResult<Option<TeamData>> {
        let team: Option<SnapshotRow> = sqlx::query_as(
            "UPDATE teams SET updated_at = updated_at \
             WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL AND scim_integration_id = $3 \
             RETURNING id, name, scim_id, scim_external_id",
        )
        .bind(org_id)
        .bind(team_id)
        .bind(integration_id)
        .fetch_optional(&mut *self.inner)
        .await?;
        self.with_domains(team).await
    }

    async fn with_domains(&mut self, team: Option<SnapshotRow>) -> StoreResult<Option<TeamData>> {
        let Some((id, name, scim_id, external_id)) = team else {
            return Ok(None);
        };
        let domains: Vec<(String,)> =
            sqlx::query_as("SELECT domain FROM team_domains WHERE team_id = $1 ORDER BY domain")
                .bind(&id)
                .fetch_all(&mut *self.inner)
                .await?;
        Ok(Some(TeamData {
            id,
            name,
            scim_id,
            external_id,
            preapproved_domains: domains.into_iter().map(|(d,)| d).collect(),
        }))
    }

    /// The ids of the live teams the user is in, within the organization.
    pub async fn live_team_ids_of_member(
        &mut self,
        org_id: &str,
        user_id: &str,
    ) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT t.id FROM team_members m JOIN teams t ON t.id = m.team_id \
             WHERE m.user_id = $1 AND t.org_id = $2 AND t.deleted_at IS NULL ORDER BY t.name_key",
        )
        .bind(user_id)
        .bind(org_id)
        .fetch_all(&mut *self.inner)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

#[derive(sqlx::FromRow)]
struct MemberSnapshotRow {
    id: String,
    email: String,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    role: String,
    source: String,
}
