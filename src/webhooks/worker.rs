//! The delivery worker: one per instance, working each endpoint that has
//! something to deliver while it holds the endpoint's lease.
//!
//! Per endpoint, events go out one at a time in id order (the next waits
//! for the current one: head-of-line), read in batches; a batch's attempts
//! and the cursor move are written in one transaction, fenced by the lease,
//! after the batch or at its first unsuccessful attempt. What was sent but
//! not yet written when an instance dies is sent again by whoever works the
//! endpoint next: at least once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};

use super::{endpoint_types, signing};
use crate::events::format_event_id;
use crate::state::AppState;
use crate::store::{
    now_ms, Event, EventFilter, StoreError, StoreResult, WebhookDelivery, WebhookEndpoint,
    WebhookProgress, STATE_ACTIVE,
};

/// Events read, delivered and settled per transaction …
const BATCH: i64 = 100;
/// … or fewer, when sending them takes longer than this (a slow receiver):
/// what a killed instance leaves to send again stays small.
const SETTLE_AFTER: Duration = Duration::from_secs(2);
/// How much of a receiver's answer the log keeps.
const RESPONSE_KEPT: usize = 4096;
/// The back-off's first ceiling: the first retry comes within 10 s.
const FIRST_RETRY_CEILING_MS: i64 = 10_000;
/// No retry sooner than this, whatever the jitter or `Retry-After` says.
const MIN_RETRY_MS: i64 = 1_000;
/// After the worker woke, a moment to let a burst of commits coalesce.
const COALESCE: Duration = Duration::from_millis(20);
/// After a batch that was not full, the pause before the next one: while
/// events trickle in, batches grow and settling writes stay few, which
/// matters to the writers of those events on SQLite (one writer at a time).
const TRICKLE_PAUSE: Duration = Duration::from_millis(50);

/// Starts this instance's worker and makes the store wake it whenever this
/// process commits events.
pub fn spawn_workers(state: &mut AppState) {
    let wake = Arc::new(tokio::sync::Notify::new());
    state.store = state.store.clone().notify_events(wake.clone());
    let worker = Arc::new(Worker {
        state: state.clone(),
        owner: uuid::Uuid::new_v4().to_string(),
        lease_ms: i64::try_from(state.config.webhooks.lease_seconds * 1000).unwrap_or(i64::MAX),
        busy: Mutex::new(HashSet::new()),
    });
    tokio::spawn(worker.clone().renew_leases());
    tokio::spawn(worker.run(wake));
}

struct Worker {
    state: AppState,
    /// This instance, as lease holder.
    owner: String,
    lease_ms: i64,
    /// Endpoints this instance is working now.
    busy: Mutex<HashSet<String>>,
}

/// What one attempt got back.
enum Answer {
    Status {
        code: u16,
        retry_after_ms: Option<i64>,
        body: String,
    },
    /// Not sent or no answer (refused, timed out, refused by the policy):
    /// worth retrying.
    Failed(String),
    /// This event can never be sent (its stored data is not JSON).
    Unsendable(String),
}

/// What the endpoint has left to do.
enum Step {
    /// A full batch went out: more is likely waiting.
    More,
    /// Some went out: more may come soon.
    Some,
    /// Nothing to do now (or this instance may not do it).
    Idle,
}

impl Worker {
    async fn run(self: Arc<Self>, wake: Arc<tokio::sync::Notify>) {
        let poll = Duration::from_millis(self.state.config.webhooks.poll_interval_ms);
        loop {
            if let Err(e) = self.clone().claim_due().await {
                tracing::warn!(error = %e, "webhook worker pass failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = wake.notified() => tokio::time::sleep(COALESCE).await,
            }
        }
    }

    /// Keeps this instance's leases alive while it works: renewed every
    /// third of their length, so a lease runs out only when the instance
    /// stopped (or cannot reach the database).
    async fn renew_leases(self: Arc<Self>) {
        let every = Duration::from_millis(u64::try_from(self.lease_ms / 3).unwrap_or(1000));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let now = now_ms();
            if let Err(e) = self
                .state
                .store
                .renew_webhook_leases(&self.owner, now, now + self.lease_ms)
                .await
            {
                tracing::warn!(error = %e, "could not renew webhook leases; will retry");
            }
        }
    }

    /// Takes the lease of every due endpoint it can and works each in its
    /// own task.
    async fn claim_due(self: Arc<Self>) -> StoreResult<()> {
        let store = &self.state.store;
        let now = now_ms();
        let stream_end = store.last_event_id().await?;
        for id in store.due_webhook_endpoints(now, stream_end).await? {
            if self.is_busy(&id)
                || !store
                    .claim_webhook_endpoint(&id, &self.owner, now, now + self.lease_ms)
                    .await?
            {
                continue;
            }
            self.set_busy(&id, true);
            let worker = self.clone();
            tokio::spawn(async move {
                worker.work(&id).await;
                if let Err(e) = worker
                    .state
                    .store
                    .release_webhook_endpoint(&id, &worker.owner)
                    .await
                {
                    // The lease then simply runs out.
                    tracing::warn!(endpoint = %id, error = %e, "could not release a webhook lease");
                }
                worker.set_busy(&id, false);
            });
        }
        Ok(())
    }

    fn is_busy(&self, id: &str) -> bool {
        self.busy.lock().is_ok_and(|busy| busy.contains(id))
    }

    fn set_busy(&self, id: &str, busy: bool) {
        if let Ok(mut set) = self.busy.lock() {
            if busy {
                set.insert(id.to_string());
            } else {
                set.remove(id);
            }
        }
    }

    async fn work(&self, id: &str) {
        loop {
            match self.batch(id).await {
                Ok(Step::More) => {}
                Ok(Step::Some) => tokio::time::sleep(TRICKLE_PAUSE).await,
                Ok(Step::Idle) => return,
                Err(e) => {
                    tracing::warn!(endpoint = %id, error = %e, "webhook delivery pass failed; will retry");
                    return;
                }
            }
        }
    }

    /// The secrets deliveries are signed with now: the current one, and the
    /// previous one during a rotation's overlap.
    fn signing_secrets(&self, endpoint: &WebhookEndpoint, now: i64) -> Option<Vec<String>> {
        let secrets = &self.state.secrets;
        let mut out = vec![secrets.open(&endpoint.secret_sealed).ok()?];
        if let (Some(sealed), Some(until)) = (
            &endpoint.previous_secret_sealed,
            endpoint.previous_secret_expires_at,
        ) {
            if until > now {
                out.push(secrets.open(sealed).ok()?);
            }
        }
        Some(out)
    }

    /// Delivers the endpoint's next events (a queued redelivery first) and
    /// settles them.
    async fn batch(&self, id: &str) -> StoreResult<Step> {
        let store = &self.state.store;
        let Some(endpoint) = store.webhook_endpoint(id).await? else {
            let _ = self
                .state
                .metrics
                .webhook_oldest_undelivered
                .remove_label_values(&[id]);
            return Ok(Step::Idle);
        };
        let now = now_ms();
        if endpoint.state != STATE_ACTIVE || endpoint.next_attempt_at > now {
            return Ok(Step::Idle);
        }
        let Some(secrets) = self.signing_secrets(&endpoint, now) else {
            tracing::error!(
                endpoint = %id,
                "the webhook secret cannot be decrypted with the configured key; not delivering"
            );
            return Ok(Step::Idle);
        };
        let stream_end = store.last_event_id().await?;
        let mut progress = WebhookProgress {
            cursor: endpoint.cursor,
            head_event_id: endpoint.head_event_id,
            head_attempts: endpoint.head_attempts,
            head_first_attempt_at: endpoint.head_first_attempt_at,
            next_attempt_at: 0,
            disabled_reason: None,
            redeliveries_done: Vec::new(),
        };
        let (events, redelivery) = match store.next_webhook_redelivery(id).await? {
            Some((queued, event_id)) => {
                let event = store
                    .events_after(event_id - 1, event_id, &EventFilter::default(), 1)
                    .await?;
                if event.is_empty() {
                    // Past retention: nothing left to send.
                    progress.redeliveries_done.push(queued);
                    let held = self.settle(&endpoint, &progress, &[]).await?;
                    return Ok(if held { Step::More } else { Step::Idle });
                }
                (event, Some(queued))
            }
            None => {
                let events = match endpoint_types(&endpoint) {
                    // Only types this build no longer has: nothing matches.
                    Some(types) if types.is_empty() => Vec::new(),
                    types => {
                        let filter = EventFilter {
                            org_id: None,
                            types: types.unwrap_or_default(),
                        };
                        store
                            .events_after(endpoint.cursor, stream_end, &filter, BATCH)
                            .await?
                    }
                };
                if events.is_empty() && endpoint.cursor >= stream_end {
                    return Ok(Step::Idle);
                }
                (events, None)
            }
        };

        let mut attempts = Vec::with_capacity(events.len());
        let mut stopped = false;
        let batch_started = Instant::now();
        for event in &events {
            let (number, first_at) = match progress.head_event_id {
                Some(head) if head == event.id => (
                    progress.head_attempts + 1,
                    progress.head_first_attempt_at.unwrap_or(now),
                ),
                _ => (1, now_ms()),
            };
            let started_at = now_ms();
            let clock = Instant::now();
            let answer = self.send(&endpoint, &secrets, event).await;
            let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
            let mut record = WebhookDelivery {
                id: uuid::Uuid::now_v7().to_string(),
                endpoint_id: endpoint.id.clone(),
                event_id: event.id,
                attempt: number,
                started_at,
                status_code: None,
                error: None,
                response_body: None,
                duration_ms,
                next_retry_at: None,
                outcome: String::new(),
            };
            let retry_after_ms = match answer {
                Answer::Status {
                    code,
                    retry_after_ms,
                    body,
                } => {
                    record.status_code = Some(i64::from(code));
                    record.response_body = Some(body).filter(|b| !b.is_empty());
                    match code {
                        200..=299 => {
                            record.outcome = "delivered".into();
                            settle_event(&mut progress, event, redelivery.as_deref());
                            None
                        }
                        410 => {
                            record.outcome = "disabled".into();
                            record.error = Some("HTTP 410 Gone: the endpoint is disabled".into());
                            progress.disabled_reason = Some(format!(
                                "the endpoint answered 410 Gone to {}",
                                format_event_id(event.id)
                            ));
                            stopped = true;
                            None
                        }
                        300..=399 => {
                            record.error = Some(format!(
                                "HTTP {code}: redirects are not followed; register the final URL"
                            ));
                            Some(retry_after_ms)
                        }
                        _ => {
                            record.error = Some(format!("HTTP {code}"));
                            Some(retry_after_ms)
                        }
                    }
                }
                Answer::Failed(error) => {
                    record.error = Some(error);
                    Some(None)
                }
                Answer::Unsendable(error) => {
                    record.error = Some(error);
                    record.outcome = "failed".into();
                    settle_event(&mut progress, event, redelivery.as_deref());
                    None
                }
            };
            if let Some(retry_after_ms) = retry_after_ms {
                let config = &self.state.config.webhooks;
                let window_ms = i64::from(config.retry_hours) * 3_600_000;
                let cap_ms =
                    i64::try_from(config.max_retry_interval_seconds * 1000).unwrap_or(i64::MAX);
                if now_ms() >= first_at.saturating_add(window_ms) {
                    record.outcome = "failed".into();
                    settle_event(&mut progress, event, redelivery.as_deref());
                } else {
                    let next = now_ms() + retry_delay_ms(number, retry_after_ms, cap_ms);
                    record.outcome = "retrying".into();
                    record.next_retry_at = Some(next);
                    progress.head_event_id = Some(event.id);
                    progress.head_attempts = number;
                    progress.head_first_attempt_at = Some(first_at);
                    progress.next_attempt_at = next;
                    stopped = true;
                }
            }
            self.state
                .metrics
                .webhook_deliveries
                .with_label_values(&[record.outcome.as_str()])
                .inc();
            attempts.push(record);
            if stopped || batch_started.elapsed() > SETTLE_AFTER {
                break;
            }
        }
        let cut_short = !stopped && attempts.len() < events.len();
        let caught_up =
            !stopped && !cut_short && redelivery.is_none() && (events.len() as i64) < BATCH;
        if caught_up {
            // The events between the last one sent and the stream's end are
            // not this endpoint's types.
            progress.cursor = progress.cursor.max(stream_end);
        }
        let oldest_pending = match (stopped, caught_up) {
            (true, _) => events.get(attempts.len().saturating_sub(1)),
            (false, true) => None,
            (false, false) => events.get(attempts.len()).or(events.last()),
        };
        self.state
            .metrics
            .webhook_oldest_undelivered
            .with_label_values(&[endpoint.id.as_str()])
            .set(oldest_pending.map_or(0, |e| (now_ms() - e.occurred_at) / 1000));
        let held = self.settle(&endpoint, &progress, &attempts).await?;
        Ok(match (held, stopped || events.is_empty(), caught_up) {
            (false, _, _) | (true, true, _) => Step::Idle,
            (true, false, true) => Step::Some,
            (true, false, false) => Step::More,
        })
    }

    /// Writes the batch, if this instance still holds the lease (false:
    /// it does not, and nothing was written).
    async fn settle(
        &self,
        endpoint: &WebhookEndpoint,
        progress: &WebhookProgress,
        attempts: &[WebhookDelivery],
    ) -> StoreResult<bool> {
        let mut tx = self.state.store.write_tx().await?;
        let held = tx
            .settle_webhook_batch(
                &endpoint.id,
                &self.owner,
                now_ms() + self.lease_ms,
                progress,
                attempts,
            )
            .await?;
        if !held {
            tx.rollback().await?;
            tracing::warn!(
                endpoint = %endpoint.id,
                "lost the webhook lease (endpoint deleted, or another instance took over)"
            );
            return Ok(false);
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(true)
    }

    /// One POST of the event to the endpoint, under the outbound policy and
    /// the webhook time limit; redirects are not followed.
    async fn send(&self, endpoint: &WebhookEndpoint, secrets: &[String], event: &Event) -> Answer {
        let outbound = &self.state.outbound;
        if let Err(e) = outbound.check(&endpoint.url) {
            return Answer::Failed(e.to_string());
        }
        let Ok(body) = event.envelope_json() else {
            return Answer::Unsendable("the stored event data is not JSON".into());
        };
        let msg_id = event.public_id();
        let timestamp = chrono::Utc::now().timestamp();
        let Some(signature) = signing::signature_header(secrets, &msg_id, timestamp, &body) else {
            return Answer::Unsendable("the endpoint's secret is not a whsec_ secret".into());
        };
        let timeout_s = self.state.config.webhooks.timeout_seconds;
        let sent = outbound
            .no_redirect_client()
            .post(&endpoint.url)
            .timeout(Duration::from_secs(timeout_s))
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Answer::Failed(format!("no answer within {timeout_s} s"))
            }
            Err(e) => return Answer::Failed(outbound.describe(&endpoint.url, e).to_string()),
        };
        let code = response.status().as_u16();
        let retry_after_ms = retry_after(response.headers(), now_ms());
        let mut kept = Vec::new();
        let mut stream = response.bytes_stream();
        // A body still coming when the time is up or past the limit is
        // cut: the status is the answer.
        while let Some(Ok(chunk)) = stream.next().await {
            let room = RESPONSE_KEPT - kept.len();
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if kept.len() == RESPONSE_KEPT {
                break;
            }
        }
        Answer::Status {
            code,
            retry_after_ms,
            body: String::from_utf8_lossy(&kept).into_owned(),
        }
    }
}

/// The event is done with (delivered or failed for good): the stream moves
/// past it, or its queued redelivery is used up.
fn settle_event(progress: &mut WebhookProgress, event: &Event, redelivery: Option<&str>) {
    match redelivery {
        Some(queued) => progress.redeliveries_done.push(queued.to_string()),
        None => progress.cursor = event.id,
    }
    progress.head_event_id = None;
    progress.head_attempts = 0;
    progress.head_first_attempt_at = None;
}

/// `Retry-After` in milliseconds from `now`: delay-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: i64) -> Option<i64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(at.timestamp_millis() - now)
}

/// How long to wait after failed attempt `number`: the receiver's
/// `Retry-After` when it sent one, else exponential back-off with full
/// jitter (a random wait up to 10 s, 20 s, 40 s, …); either way within
/// [1 s, `cap_ms`].
fn retry_delay_ms(number: i64, retry_after_ms: Option<i64>, cap_ms: i64) -> i64 {
    let cap_ms = cap_ms.max(MIN_RETRY_MS);
    if let Some(asked) = retry_after_ms {
        return asked.clamp(MIN_RETRY_MS, cap_ms);
    }
    let doublings = u32::try_from((number - 1).clamp(0, 30)).unwrap_or(30);
    let ceiling = FIRST_RETRY_CEILING_MS
        .saturating_mul(1_i64 << doublings)
        .min(cap_ms);
    rand::thread_rng().gen_range(MIN_RETRY_MS..=ceiling.max(MIN_RETRY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn back_off_grows_with_full_jitter_and_stays_in_bounds() {
        for _ in 0..200 {
            let first = retry_delay_ms(1, None, 3_600_000);
            assert!((MIN_RETRY_MS..=10_000).contains(&first), "{first}");
            let fourth = retry_delay_ms(4, None, 3_600_000);
            assert!((MIN_RETRY_MS..=80_000).contains(&fourth), "{fourth}");
            let late = retry_delay_ms(40, None, 3_600_000);
            assert!((MIN_RETRY_MS..=3_600_000).contains(&late), "{late}");
        }
        // Retry-After wins, but within [1 s, cap].
        assert_eq!(retry_delay_ms(1, Some(30_000), 3_600_000), 30_000);
        assert_eq!(retry_delay_ms(1, Some(0), 3_600_000), MIN_RETRY_MS);
        assert_eq!(retry_delay_ms(1, Some(86_400_000), 3_600_000), 3_600_000);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, 0), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers, 0), Some(120_000));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        let at = 1_445_412_480_000;
        assert_eq!(retry_after(&headers, at - 5_000), Some(5_000));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, 0), None);
    }
}
