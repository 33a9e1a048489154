//! Webhook endpoints, their delivery leases and cursors, and the log of
//! delivery attempts (see migrations/0007_webhooks.sql for the model).

use serde::Serialize;

use super::{new_id, now_ms, numbered_rows, Store, StoreResult, Tx, BATCH};
use crate::audit::{Actor, AuditKind};

/// An endpoint as stored; the secrets stay sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// JSON array of event type names; `None`: every type.
    pub types: Option<String>,
    pub secret_sealed: String,
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub state: String,
    pub disabled_reason: Option<String>,
    /// The last event id settled (delivered, or failed for good).
    pub cursor: i64,
    /// The event being retried, when one is.
    pub head_event_id: Option<i64>,
    pub head_attempts: i64,
    pub head_first_attempt_at: Option<i64>,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

/// What a new endpoint is made of.
pub struct NewWebhookEndpoint<'a> {
    pub url: &'a str,
    pub types: Option<String>,
    pub secret_sealed: &'a str,
    /// Where its stream starts: the newest event when it was registered.
    pub cursor: i64,
}

/// One attempt in the deliveries log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WebhookDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: i64,
    pub attempt: i64,
    pub started_at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    pub next_retry_at: Option<i64>,
    pub outcome: String,
}

/// Where an endpoint stands after a batch of attempts, written with the
/// batch's log rows.
#[derive(Debug, Clone)]
pub struct WebhookProgress {
    pub cursor: i64,
    pub head_event_id: Option<i64>,
    pub head_attempts: i64,
    pub head_first_attempt_at: Option<i64>,
    pub next_attempt_at: i64,
    /// `Some(reason)`: the endpoint is disabled.
    pub disabled_reason: Option<String>,
    /// Queued redeliveries the batch settled.
    pub redeliveries_done: Vec<String>,
}

const ENDPOINT_COLUMNS: &str = "id, url, types, secret_sealed, previous_secret_sealed, \
     previous_secret_expires_at, state, disabled_reason, cursor, head_event_id, head_attempts, \
     head_first_attempt_at, next_attempt_at, created_at";

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, attempt, started_at, status_code, \
     error, response_body, duration_ms, next_retry_at, outcome";

pub const STATE_ACTIVE: &str = "active";
pub const STATE_DISABLED: &str = "disabled";

impl Store {
    /// Every endpoint, oldest first.
    pub async fn webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn webhook_endpoint(&self, id: &str) -> StoreResult<Option<WebhookEndpoint>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Deletes at most `batch` delivery log rows made before `cutoff`
    /// (unix ms) and returns how many went. The log is history only (what
    /// is still to deliver lives in each endpoint's cursor and the
    /// redeliveries queue); its ids are UUIDv7, found by the primary key.
    pub async fn delete_deliveries_before(&self, cutoff: i64, batch: i64) -> StoreResult<u64> {
        super::delete_oldest(&self.pool, "webhook_deliveries", cutoff, batch).await
    }

    /// The endpoint's log, newest first, before the delivery `before`.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        // No `before` (bound as ''): from the newest.
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE endpoint_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let query = sqlx::query_as(&sql)
            .bind(endpoint_id)
            .bind(before.unwrap_or_default());
        Ok(query.bind(limit).fetch_all(&self.pool).await?)
    }

    pub async fn webhook_delivery(
        &self,
        endpoint_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookDelivery>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 AND id = $2"
        ))
        .bind(endpoint_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Active endpoints that have something to deliver now (events past
    /// their cursor up to `stream_end`, or a queued redelivery) and whose
    /// lease is free.
    pub async fn due_webhook_endpoints(
        &self,
        now: i64,
        stream_end: i64,
    ) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT e.id FROM webhook_endpoints e \
             WHERE e.state = $1 AND e.next_attempt_at <= $2 AND e.lease_until < $2 \
             AND (e.cursor < $3 OR EXISTS \
                  (SELECT 1 FROM webhook_redeliveries r WHERE r.endpoint_id = e.id)) \
             ORDER BY e.next_attempt_at",
        )
        .bind(STATE_ACTIVE)
        .bind(now)
        .bind(stream_end)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Takes the endpoint's lease for `owner` until `until`, if it is free
    /// (expired) at `now`. Of several instances trying at once, the
    /// condition lets exactly one UPDATE change the row.
    pub async fn claim_webhook_endpoint(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET lease_owner = $2, lease_until = $3 \
             WHERE id = $1 AND lease_until < $4 AND state = $5",
        )
        .bind(id)
        .bind(owner)
        .bind(until)
        .bind(now)
        .bind(STATE_ACTIVE)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends every lease `owner` still holds at `now`.
    pub async fn renew_webhook_leases(
        &self,
        owner: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET lease_until = $3 \
             WHERE lease_owner = $1 AND lease_until >= $2",
        )
        .bind(owner)
        .bind(now)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Gives the lease back, so any instance may take the endpoint next.
    pub async fn release_webhook_endpoint(&self, id: &str, owner: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_endpoints SET lease_owner = NULL, lease_until = 0 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The oldest redelivery queued for the endpoint: (its id, the event).
    pub async fn next_webhook_redelivery(
        &self,
        endpoint_id: &str,
    ) -> StoreResult<Option<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT id, event_id FROM webhook_redeliveries WHERE endpoint_id = $1 \
             ORDER BY id LIMIT 1",
        )
        .bind(endpoint_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

impl Tx {
    pub async fn insert_webhook_endpoint(
        &mut self,
        new: &NewWebhookEndpoint<'_>,
    ) -> StoreResult<WebhookEndpoint> {
        let now = now_ms();
        let endpoint = WebhookEndpoint {
            id: new_id(),
            url: new.url.to_string(),
            types: new.types.clone(),
            secret_sealed: new.secret_sealed.to_string(),
            previous_secret_sealed: None,
            previous_secret_expires_at: None,
            state: STATE_ACTIVE.to_string(),
            disabled_reason: None,
            cursor: new.cursor,
            head_event_id: None,
            head_attempts: 0,
            head_first_attempt_at: None,
            next_attempt_at: 0,
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, types, secret_sealed, state, cursor, \
             head_attempts, next_attempt_at, lease_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, $7)",
        )
        .bind(&endpoint.id)
        .bind(&endpoint.url)
        .bind(&endpoint.types)
        .bind(&endpoint.secret_sealed)
        .bind(STATE_ACTIVE)
        .bind(endpoint.cursor)
        .bind(now)
        .execute(&mut **self)
        .await?;
        Ok(endpoint)
    }

    /// False when there is no such endpoint. Its log goes with it.
    pub async fn delete_webhook_endpoint(&mut self, id: &str) -> StoreResult<bool> {
        // Explicitly, not only by the foreign keys' cascade: SQLite applies
        // it only with `foreign_keys` on, which a hand-opened file may lack.
        for table in ["webhook_deliveries", "webhook_redeliveries"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE endpoint_id = $1"))
                .bind(id)
                .execute(&mut **self)
                .await?;
        }
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&mut **self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Installs a new secret, keeping the current one as the previous
    /// until `previous_expires_at`. False when there is no such endpoint.
    pub async fn rotate_webhook_secret(
        &mut self,
        id: &str,
        secret_sealed: &str,
        previous_expires_at: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, \
             previous_secret_expires_at = $3, secret_sealed = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(secret_sealed)
        .bind(previous_expires_at)
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queues `event_id` for the endpoint again and returns the queue id.
    pub async fn queue_webhook_redelivery(
        &mut self,
        endpoint_id: &str,
        event_id: i64,
    ) -> StoreResult<String> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO webhook_redeliveries (id, endpoint_id, event_id, requested_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(endpoint_id)
        .bind(event_id)
        .bind(now_ms())
        .execute(&mut **self)
        .await?;
        Ok(id)
    }

    /// Writes a batch's attempts and where the endpoint now stands, if
    /// `owner` still holds its lease (renewing it to `lease_until`). False,
    /// and nothing written, when it does not (the endpoint was deleted, or
    /// the lease ran out and another instance took it): the caller must
    /// roll back and stop.
    pub async fn settle_webhook_batch(
        &mut self,
        endpoint_id: &str,
        owner: &str,
        lease_until: i64,
        progress: &WebhookProgress,
        attempts: &[WebhookDelivery],
    ) -> StoreResult<bool> {
        let state = match progress.disabled_reason {
            Some(_) => STATE_DISABLED,
            None => STATE_ACTIVE,
        };
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET cursor = $3, head_event_id = $4, head_attempts = $5, \
             head_first_attempt_at = $6, next_attempt_at = $7, state = $8, \
             disabled_reason = COALESCE($9, disabled_reason), lease_until = $10 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(endpoint_id)
        .bind(owner)
        .bind(progress.cursor)
        .bind(progress.head_event_id)
        .bind(progress.head_attempts)
        .bind(progress.head_first_attempt_at)
        .bind(progress.next_attempt_at)
        .bind(state)
        .bind(&progress.disabled_reason)
        .bind(lease_until)
        .execute(&mut **self)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        const COLUMNS: usize = 11;
        for chunk in attempts.chunks(BATCH / COLUMNS) {
            let sql = format!(
                "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES {}",
                numbered_rows(chunk.len(), COLUMNS)
            );
            let mut query = sqlx::query(&sql);
            for d in chunk {
                query = query
                    .bind(&d.id)
                    .bind(&d.endpoint_id)
                    .bind(d.event_id)
                    .bind(d.attempt)
                    .bind(d.started_at)
                    .bind(d.status_code)
                    .bind(&d.error)
                    .bind(&d.response_body)
                    .bind(d.duration_ms)
                    .bind(d.next_retry_at)
                    .bind(&d.outcome);
            }
            query.execute(&mut **self).await?;
        }
        for id in &progress.redeliveries_done {
            sqlx::query("DELETE FROM webhook_redeliveries WHERE id = $1")
                .bind(id)
                .execute(&mut **self)
                .await?;
        }
        Ok(true)
    }

    /// Audits a deployment-wide change (one that belongs to no
    /// organization's audit log) in `platform_audit_events`.
    pub async fn record_platform_audit(
        &mut self,
        kind: AuditKind,
        actor: &Actor,
        subject: Option<&str>,
        details: serde_json::Value,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO platform_audit_events (id, occurred_at, kind, actor, subject, details) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(now_ms())
        .bind(kind.as_str())
        .bind(actor.to_string())
        .bind(subject)
        .bind(details.to_string())
        .execute(&mut **self)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::test_store;

    fn progress(cursor: i64) -> WebhookProgress {
        WebhookProgress {
            cursor,
            head_event_id: None,
            head_attempts: 0,
            head_first_attempt_at: None,
            next_attempt_at: 0,
            disabled_reason: None,
            redeliveries_done: Vec::new(),
        }
    }

    #[tokio::test]
    async fn one_instance_holds_the_lease_and_only_it_settles() {
        let t = test_store().await;
        let store = &t.store;
        let mut tx = store.write_tx().await.unwrap();
        let endpoint = tx
            .insert_webhook_endpoint(&NewWebhookEndpoint {
                url: "https://example.com/hook",
                types: None,
                secret_sealed: "sealed",
                cursor: 0,
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let now = now_ms();
        // Nothing to deliver yet (the stream is empty): not due.
        assert!(store
            .due_webhook_endpoints(now, 0)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.due_webhook_endpoints(now, 3).await.unwrap(),
            vec![endpoint.id.clone()]
        );
        assert!(store
            .claim_webhook_endpoint(&endpoint.id, "a", now, now + 30_000)
            .await
            .unwrap());
        assert!(!store
            .claim_webhook_endpoint(&endpoint.id, "b", now, now + 30_000)
            .await
            .unwrap());
        assert!(store
            .due_webhook_endpoints(now, 3)
            .await
            .unwrap()
            .is_empty());

        let attempt = WebhookDelivery {
            id: uuid::Uuid::now_v7().to_string(),
            endpoint_id: endpoint.id.clone(),
            event_id: 1,
            attempt: 1,
            started_at: now,
            status_code: Some(204),
            error: None,
            response_body: None,
            duration_ms: 3,
            next_retry_at: None,
            outcome: "delivered".into(),
        };
        let mut tx = store.write_tx().await.unwrap();
        assert!(!tx
            .settle_webhook_batch(
                &endpoint.id,
                "b",
                now,
                &progress(1),
                std::slice::from_ref(&attempt)
            )
            .await
            .unwrap());
        tx.rollback().await.unwrap();
        let mut tx = store.write_tx().await.unwrap();
        assert!(tx
            .settle_webhook_batch(&endpoint.id, "a", now + 30_000, &progress(1), &[attempt])
            .await
            .unwrap());
        tx.commit().await.unwrap();
        assert_eq!(
            store
                .webhook_endpoint(&endpoint.id)
                .await
                .unwrap()
                .unwrap()
                .cursor,
            1
        );
        let log = store
            .webhook_deliveries(&endpoint.id, None, 10)
            .await
            .unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].status_code, Some(204));

        // A lease that ran out can be taken by another instance; the old
        // holder's renewal no longer reaches it.
        let later = now + 60_000;
        assert_eq!(
            store
                .renew_webhook_leases("a", later, later + 30_000)
                .await
                .unwrap(),
            0
        );
        assert!(store
            .claim_webhook_endpoint(&endpoint.id, "b", later, later + 30_000)
            .await
            .unwrap());
        store
            .release_webhook_endpoint(&endpoint.id, "b")
            .await
            .unwrap();
        // Retention: only log rows made before the cutoff go, in batches.
        assert_eq!(
            store
                .delete_deliveries_before(now - 3_600_000, 10)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .delete_deliveries_before(now_ms() + 1_000, 10)
                .await
                .unwrap(),
            1
        );
        assert!(store
            .webhook_deliveries(&endpoint.id, None, 10)
            .await
            .unwrap()
            .is_empty());
        let mut tx = store.write_tx().await.unwrap();
        assert!(tx.delete_webhook_endpoint(&endpoint.id).await.unwrap());
        tx.commit().await.unwrap();
        assert!(store
            .webhook_deliveries(&endpoint.id, None, 10)
            .await
            .unwrap()
            .is_empty());
    }
}
