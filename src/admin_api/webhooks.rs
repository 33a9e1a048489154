//! `/api/v1/webhooks`: the host product's webhook endpoints and their
//! deliveries log (platform API key only). The signing secret is answered
//! once, by create and rotate-secret; never by a list or get.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{SchemaType, Type};
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Schema};
use utoipa::{IntoParams, ToSchema};

use super::auth::PlatformKey;
use super::body::Object;
use super::users::page_limit;
use crate::api_error::{ApiError, ErrorBody};
use crate::events::{format_event_id, EventType};
use crate::state::AppState;
use crate::store::{WebhookDelivery, WebhookEndpoint};
use crate::webhooks;

/// The tag of these routes; like `platform`, an admin token gets 403.
pub const TAG: &str = "webhooks";

/// `types`: known event type names, at least one; `null` or absent for all.
fn event_types() -> Schema {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(EventType::ALL.map(EventType::as_str)));
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(name)
        .min_items(Some(1))
        .description(Some("Only these event types; absent or null: every type."))
        .into()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: https (http only with
    /// `outbound.allow_http`). A well-formed URL may still be refused (422)
    /// when its host resolves to a private address under the default
    /// outbound policy, or does not resolve.
    #[schema(max_length = 2048, pattern = "^https?://")]
    pub url: String,
    #[schema(schema_with = event_types)]
    pub types: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// The event types delivered; `null`: every type.
    pub types: Option<Vec<String>>,
    /// `active`, or `disabled` (the endpoint answered 410).
    pub state: String,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// The last event settled (delivered, or failed after the retry window).
    pub cursor: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<WebhookEndpoint> for WebhookView {
    fn from(endpoint: WebhookEndpoint) -> Self {
        WebhookView {
            types: webhooks::endpoint_types(&endpoint)
                .map(|types| types.iter().map(|t| t.as_str().to_string()).collect()),
            id: endpoint.id,
            url: endpoint.url,
            state: endpoint.state,
            disabled_reason: endpoint.disabled_reason,
            cursor: format_event_id(endpoint.cursor),
            created_at: endpoint.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: verify deliveries with it (any Standard Webhooks
    /// library). Shown only here.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<WebhookView>,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new `whsec_…` secret, shown only here.
    pub secret: String,
    /// Until then (unix ms) deliveries also carry a signature with the
    /// previous secret.
    pub previous_secret_expires_at: i64,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryListQuery {
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page: deliveries older than that one.
    #[param(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// The event (`webhook-id` of the request).
    pub event_id: String,
    /// 1 for the first attempt at this event, then 2, 3, …
    pub attempt: i64,
    /// Unix milliseconds.
    pub started_at: i64,
    /// The HTTP status answered; `null` when none was.
    pub status: Option<i64>,
    pub error: Option<String>,
    /// The first few KiB of the answer.
    pub response_body: Option<String>,
    pub duration_ms: i64,
    /// When the next attempt is due (unix ms), for `retrying`.
    pub next_retry_at: Option<i64>,
    /// `delivered`, `retrying`, `failed` (retry window over) or `disabled` (410).
    pub outcome: String,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        DeliveryView {
            id: d.id,
            event_id: format_event_id(d.event_id),
            attempt: d.attempt,
            started_at: d.started_at,
            status: d.status_code,
            error: d.error,
            response_body: d.response_body,
            duration_ms: d.duration_ms,
            next_retry_at: d.next_retry_at,
            outcome: d.outcome,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RedeliveryQueued {
    /// The event queued again; it goes out before the endpoint's next new
    /// event.
    pub event_id: String,
}

async fn endpoint(state: &AppState, id: &str) -> Result<WebhookEndpoint, ApiError> {
    state
        .store
        .webhook_endpoint(id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

#[utoipa::path(request_body = CreateWebhook, responses((status = 201, body = CreatedWebhook), (status = 422, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    key: PlatformKey,
    body: web::Json<Object<CreateWebhook>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    let created =
        webhooks::create_webhook(&state, &body.url, body.types.as_deref(), &key.actor).await?;
    Ok(HttpResponse::Created().json(CreatedWebhook {
        webhook: created.endpoint.into(),
        secret: created.secret,
    }))
}

#[utoipa::path(responses((status = 200, body = WebhookList)), tag = TAG, security(("api_key" = [])))]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    _key: PlatformKey,
) -> Result<HttpResponse, ApiError> {
    let webhooks = state.store.webhook_endpoints().await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        webhooks: webhooks.into_iter().map(WebhookView::from).collect(),
    }))
}

#[utoipa::path(responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    _key: PlatformKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(WebhookView::from(endpoint(&state, &path).await?)))
}

#[utoipa::path(responses((status = 204, description = "Deleted, with its deliveries log"), (status = 404, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    key: PlatformKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    webhooks::delete_webhook(&state.store, &path, &key.actor).await?;
    // Absent when this instance never worked the endpoint.
    let _ = state
        .metrics
        .webhook_oldest_undelivered
        .remove_label_values(&[path.as_str()]);
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(responses((status = 200, body = RotatedSecret), (status = 404, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    key: PlatformKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rotated = webhooks::rotate_webhook_secret(&state, &path, &key.actor).await?;
    Ok(HttpResponse::Ok().json(RotatedSecret {
        secret: rotated.secret,
        previous_secret_expires_at: rotated.previous_expires_at,
    }))
}

#[utoipa::path(params(DeliveryListQuery), responses((status = 200, body = DeliveryList), (status = 404, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    _key: PlatformKey,
    path: web::Path<String>,
    query: web::Query<DeliveryListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit, 100)?;
    let endpoint = endpoint(&state, &path).await?;
    // Any delivery id pages (the log is ordered by id), one of this log or
    // not: only the form is checked.
    if let Some(cursor) = &query.cursor {
        if uuid::Uuid::parse_str(cursor)
            .map(|u| u.to_string())
            .as_ref()
            != Ok(cursor)
        {
            return Err(ApiError::bad_request(
                "cursor must be the `next_cursor` of a previous page (a delivery id)",
            ));
        }
    }
    let deliveries = state
        .store
        .webhook_deliveries(&endpoint.id, query.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (deliveries.len() as i64 == limit)
        .then(|| deliveries.last().map(|d| d.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: deliveries.into_iter().map(DeliveryView::from).collect(),
        next_cursor,
    }))
}

/// Queues the event of this delivery for the endpoint again.
#[utoipa::path(responses((status = 202, body = RedeliveryQueued), (status = 404, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    key: PlatformKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery_id) = path.into_inner();
    let event_id = webhooks::redeliver(&state.store, &id, &delivery_id, &key.actor).await?;
    Ok(HttpResponse::Accepted().json(RedeliveryQueued {
        event_id: format_event_id(event_id),
    }))
}
