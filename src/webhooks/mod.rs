//! Webhooks: the lifecycle events, pushed to the host product's endpoints
//! per the Standard Webhooks specification.
//!
//! Endpoints are deployment-wide (registered with a platform API key) and
//! receive every organization's events, or the types they name. This module
//! holds the rules for registering, rotating and redelivering; `worker`
//! does the delivery and `signing` the signatures.
//!
//! Audit: a webhook belongs to no organization, and `audit_events` rows
//! must name one (a foreign key), so `provisioning::audit_success` cannot
//! record these changes. They go, in the same transaction, to
//! `platform_audit_events` with the API key as the actor — never with the
//! secret.

pub mod signing;
mod worker;

pub use worker::spawn_workers;

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;
use url::Url;

use crate::audit::{Actor, AuditKind};
use crate::events::EventType;
use crate::outbound::is_internal;
use crate::provisioning::{invalid, RuleError, RuleResult};
use crate::state::AppState;
use crate::store::{now_ms, NewWebhookEndpoint, Store, WebhookEndpoint};

/// The longest URL an endpoint may have.
pub const MAX_URL: usize = 2048;

/// A registered endpoint and its secret, shown this once.
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

/// A new secret and until when the previous one still signs.
pub struct RotatedSecret {
    pub secret: String,
    pub previous_expires_at: i64,
}

/// The event types an endpoint receives; `None`: all of them. A stored
/// name this build does not know (from a newer one) is skipped.
pub fn endpoint_types(endpoint: &WebhookEndpoint) -> Option<Vec<EventType>> {
    let names: Vec<String> = serde_json::from_str(endpoint.types.as_deref()?).ok()?;
    Some(names.iter().filter_map(|n| EventType::parse(n)).collect())
}

/// `types` as given: known names, at least one; stored in the registry's
/// order without repeats.
fn validate_types(types: Option<&[String]>) -> RuleResult<Option<Vec<EventType>>> {
    let Some(names) = types else {
        return Ok(None);
    };
    let mut kinds = Vec::with_capacity(names.len());
    for name in names {
        let kind = EventType::parse(name).ok_or_else(|| {
            invalid(
                "types",
                format!(
                    "unknown event type {name:?}; known: {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            )
        })?;
        kinds.push(kind);
    }
    if kinds.is_empty() {
        return Err(invalid(
            "types",
            "must name at least one event type (leave it out for every type)",
        ));
    }
    Ok(Some(
        EventType::ALL
            .into_iter()
            .filter(|t| kinds.contains(t))
            .collect(),
    ))
}

/// A URL the outbound policy lets deliveries reach. Under the default
/// policy the host's addresses are resolved now too, so a name that points
/// inside is refused at once rather than at every delivery.
async fn validate_url(state: &AppState, raw: &str) -> RuleResult<String> {
    if raw.len() > MAX_URL {
        return Err(invalid("url", format!("must be at most {MAX_URL} bytes")));
    }
    let url = Url::parse(raw)
        .map_err(|e| invalid("url", format!("is not an absolute http(s) URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "url",
            "must not carry credentials (it is shown in lists and logs); \
             verify the webhook signature instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("url", "must not have a #fragment"));
    }
    state
        .outbound
        .check(url.as_str())
        .map_err(|e| invalid("url", e.to_string()))?;
    if let (false, Some(url::Host::Domain(host))) =
        (state.config.outbound.allow_private_addresses, url.host())
    {
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host, port)),
        )
        .await;
        let addrs: Vec<IpAddr> = match lookup {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            _ => return Err(invalid("url", format!("could not resolve {host}"))),
        };
        if let Some(ip) = addrs.into_iter().find(|ip| is_internal(*ip)) {
            return Err(invalid(
                "url",
                format!(
                    "{host} resolves to {ip}, a private/loopback/link-local address, \
                     which is not allowed (outbound.allow_private_addresses)"
                ),
            ));
        }
    }
    Ok(url.to_string())
}

fn seal(state: &AppState, secret: &str) -> RuleResult<String> {
    state
        .secrets
        .seal(secret)
        .map_err(|e| invalid("secret", e.to_string()))
}

/// Registers an endpoint. It receives the events recorded from now on (the
/// ones before are at `GET /api/v1/events`).
pub async fn create_webhook(
    state: &AppState,
    url: &str,
    types: Option<&[String]>,
    actor: &Actor,
) -> RuleResult<CreatedWebhook> {
    let types = validate_types(types)?;
    let url = validate_url(state, url).await?;
    let secret = signing::new_secret();
    let secret_sealed = seal(state, &secret)?;
    let types_json = types.as_ref().map(|kinds| {
        serde_json::Value::from(kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>()).to_string()
    });
    let cursor = state.store.last_event_id().await?;
    let mut tx = state.store.write_tx().await?;
    let endpoint = tx
        .insert_webhook_endpoint(&NewWebhookEndpoint {
            url: &url,
            types: types_json,
            secret_sealed: &secret_sealed,
            cursor,
        })
        .await?;
    tx.record_platform_audit(
        AuditKind::WebhookCreated,
        actor,
        Some(&endpoint.id),
        json!({ "url": url, "types": types.map(|k| k.iter().map(|t| t.as_str()).collect::<Vec<_>>()) }),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedWebhook { endpoint, secret })
}

pub async fn delete_webhook(store: &Store, id: &str, actor: &Actor) -> RuleResult<()> {
    let mut tx = store.write_tx().await?;
    if !tx.delete_webhook_endpoint(id).await? {
        return Err(RuleError::NotFound("webhook"));
    }
    tx.record_platform_audit(AuditKind::WebhookDeleted, actor, Some(id), json!({}))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A new secret; deliveries carry signatures with both until the old one
/// expires (`webhooks.secret_overlap_hours`).
pub async fn rotate_webhook_secret(
    state: &AppState,
    id: &str,
    actor: &Actor,
) -> RuleResult<RotatedSecret> {
    let secret = signing::new_secret();
    let secret_sealed = seal(state, &secret)?;
    let overlap_ms = i64::from(state.config.webhooks.secret_overlap_hours) * 3_600_000;
    let previous_expires_at = now_ms() + overlap_ms;
    let mut tx = state.store.write_tx().await?;
    if !tx
        .rotate_webhook_secret(id, &secret_sealed, previous_expires_at)
        .await?
    {
        return Err(RuleError::NotFound("webhook"));
    }
    tx.record_platform_audit(
        AuditKind::WebhookSecretRotated,
        actor,
        Some(id),
        json!({ "previous_expires_at": previous_expires_at }),
    )
    .await?;
    tx.commit().await?;
    Ok(RotatedSecret {
        secret,
        previous_expires_at,
    })
}

/// Queues the event of the endpoint's delivery `delivery_id` for that
/// endpoint again (ahead of its next new event). Returns the event id.
pub async fn redeliver(
    store: &Store,
    endpoint_id: &str,
    delivery_id: &str,
    actor: &Actor,
) -> RuleResult<i64> {
    let delivery = store
        .webhook_delivery(endpoint_id, delivery_id)
        .await?
        .ok_or(RuleError::NotFound("delivery"))?;
    let mut tx = store.write_tx().await?;
    tx.queue_webhook_redelivery(endpoint_id, delivery.event_id)
        .await?;
    tx.record_platform_audit(
        AuditKind::WebhookRedeliveryQueued,
        actor,
        Some(endpoint_id),
        json!({ "event_id": crate::events::format_event_id(delivery.event_id) }),
    )
    .await?;
    tx.commit().await?;
    Ok(delivery.event_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_known_names_kept_in_registry_order() {
        let given = ["team.deleted".to_string(), "member.added".to_string()];
        assert_eq!(
            validate_types(Some(&given)).unwrap(),
            Some(vec![EventType::MemberAdded, EventType::TeamDeleted])
        );
        assert_eq!(validate_types(None).unwrap(), None);
        for bad in [vec![], vec!["member.exploded".to_string()]] {
            match validate_types(Some(&bad)) {
                Err(RuleError::Invalid { field, .. }) => assert_eq!(field, "types"),
                other => panic!("{bad:?}: {:?}", other.map(|_| ())),
            }
        }
    }
}
