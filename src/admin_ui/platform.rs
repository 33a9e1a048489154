//! The platform operator's pages (`/admin/platform`): signed in with a
//! platform API key (on the same sign-in form as an admin token), they show
//! the deployment's webhook endpoints, each one's deliveries log, and a
//! Redeliver button. Webhooks carry every organization's events, so these
//! pages stand apart from an organization's admin pages: their own session,
//! their own cookie, and no organization in them.

use std::time::Duration;

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::page_session::{check_form_csrf, random_value, strict_cookie, with_state, Extracted};
use super::{see_other, when, UiError, ADMIN_PAGE_CSP};
use crate::audit::Actor;
use crate::config::Config;
use crate::events::format_event_id;
use crate::pages::html_with_policy;
use crate::state::AppState;
use crate::store::{ApiKey, WebhookDelivery, WebhookEndpoint};

const PLATFORM_COOKIE: &str = "sso_gateway_platform";
/// Deliveries one page of the log shows.
const LOG_PAGE: i64 = 50;

#[derive(Serialize, Deserialize)]
struct PlatformSession {
    key_id: String,
    /// The key's hash: revoking the key ends the session.
    key_hash: String,
    csrf: String,
}

fn cookie(config: &Config, value: String) -> Cookie<'static> {
    strict_cookie(config, PLATFORM_COOKIE, "/admin/platform", value)
}

fn cache_key(id: &str) -> String {
    format!(
        "platform_session:{}",
        hex::encode(Sha256::digest(id.as_bytes()))
    )
}

/// Opens an operator session for a verified platform key (`raw` is the key
/// as presented, only hashed here) and answers with the way in.
pub async fn open_session(
    state: &AppState,
    key: &ApiKey,
    raw: &str,
) -> Result<HttpResponse, UiError> {
    let id = random_value();
    let session = PlatformSession {
        key_id: key.id.clone(),
        key_hash: crate::secrets::token_hash(raw),
        csrf: random_value(),
    };
    let value = serde_json::to_string(&session).map_err(crate::cache::CacheError::from)?;
    let lifetime = Duration::from_secs(state.config.session.admin_lifetime_seconds);
    state.cache.put(&cache_key(&id), &value, lifetime).await?;
    let mut response = see_other("/admin/platform/webhooks");
    let _ = response.add_cookie(&cookie(&state.config, id));
    Ok(response)
}

/// A signed-in platform operator, as a request extractor.
pub struct Operator {
    actor: Actor,
    csrf: String,
    session_key: String,
}

impl Operator {
    fn check_form(&self, body: &[u8]) -> Result<(), UiError> {
        check_form_csrf(&self.csrf, body)
    }
}

async fn current_operator(state: &AppState, req: &HttpRequest) -> Result<Operator, UiError> {
    let Some(id) = req
        .cookie(&crate::session::host_only_name(
            &state.config,
            PLATFORM_COOKIE,
        ))
        .map(|c| c.value().to_string())
    else {
        return Err(UiError::redirect("/admin/sign-in"));
    };
    let key = cache_key(&id);
    let session = state
        .cache
        .get(&key)
        .await?
        .and_then(|json| serde_json::from_str::<PlatformSession>(&json).ok())
        .ok_or_else(|| UiError::redirect("/admin/sign-in?reason=expired"))?;
    let live = state.store.live_api_key_by_hash(&session.key_hash).await?;
    match live {
        Some((api_key, _)) if api_key.id == session.key_id => Ok(Operator {
            actor: Actor::ApiKey(api_key.id),
            csrf: session.csrf,
            session_key: key,
        }),
        _ => Err(UiError::redirect("/admin/sign-in?reason=revoked")),
    }
}

impl FromRequest for Operator {
    type Error = UiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        with_state(req, |state, req| async move {
            current_operator(&state, &req).await
        })
    }
}

fn render(rendered: askama::Result<String>) -> HttpResponse {
    html_with_policy(StatusCode::OK, rendered, ADMIN_PAGE_CSP)
}

pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub types: String,
    pub state: String,
    /// Whether an event is being retried, and when the next attempt is.
    pub retrying: Option<String>,
}

fn endpoint_row(e: &WebhookEndpoint) -> EndpointRow {
    let types = crate::webhooks::endpoint_types(e)
        .map(|t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|| "every type".to_string());
    let state = match &e.disabled_reason {
        Some(why) => format!("{} ({why})", e.state),
        None => e.state.clone(),
    };
    EndpointRow {
        id: e.id.clone(),
        url: e.url.clone(),
        types,
        state,
        retrying: e.head_event_id.map(|event| {
            format!(
                "{} after {} attempt(s); next at {}",
                format_event_id(event),
                e.head_attempts,
                when(e.next_attempt_at)
            )
        }),
    }
}

#[derive(Template)]
#[template(path = "admin/platform_webhooks.html")]
struct EndpointsPage {
    csrf: String,
    endpoints: Vec<EndpointRow>,
}

#[get("/platform/webhooks")]
pub async fn endpoints(
    state: web::Data<AppState>,
    operator: Operator,
) -> Result<HttpResponse, UiError> {
    let endpoints = state.store.webhook_endpoints().await?;
    let page = EndpointsPage {
        csrf: operator.csrf,
        endpoints: endpoints.iter().map(endpoint_row).collect(),
    };
    Ok(render(page.render()))
}

pub struct DeliveryRow {
    pub id: String,
    pub started: String,
    pub event: String,
    pub attempt: i64,
    /// The answer: HTTP status, or the error when there was none.
    pub answer: String,
    pub outcome: String,
    pub next_retry: Option<String>,
}

fn delivery_row(d: &WebhookDelivery) -> DeliveryRow {
    let answer = match (d.status_code, &d.error) {
        (Some(status), Some(error)) => format!("HTTP {status}: {error}"),
        (Some(status), None) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "—".to_string(),
    };
    DeliveryRow {
        id: d.id.clone(),
        started: when(d.started_at),
        event: format_event_id(d.event_id),
        attempt: d.attempt,
        answer,
        outcome: d.outcome.clone(),
        next_retry: d.next_retry_at.map(when),
    }
}

#[derive(Template)]
#[template(path = "admin/platform_webhook.html")]
struct LogPage {
    csrf: String,
    endpoint: EndpointRow,
    deliveries: Vec<DeliveryRow>,
    older: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LogQuery {
    before: Option<String>,
    done: Option<String>,
}

#[get("/platform/webhooks/{id}")]
pub async fn deliveries(
    state: web::Data<AppState>,
    operator: Operator,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, UiError> {
    let endpoint = state
        .store
        .webhook_endpoint(&path)
        .await?
        .ok_or_else(|| UiError::not_found("webhook endpoint"))?;
    // A `before` that is not a delivery id pages nothing: the newest page.
    let before = query
        .before
        .as_deref()
        .filter(|b| uuid::Uuid::parse_str(b).is_ok());
    let log = state
        .store
        .webhook_deliveries(&endpoint.id, before, LOG_PAGE)
        .await?;
    let older = (log.len() as i64 == LOG_PAGE)
        .then(|| log.last().map(|d| d.id.clone()))
        .flatten();
    let page = LogPage {
        csrf: operator.csrf,
        endpoint: endpoint_row(&endpoint),
        deliveries: log.iter().map(delivery_row).collect(),
        older,
        notice: (query.done.as_deref() == Some("redelivery_queued"))
            .then_some("Queued: the event goes out again before the endpoint's next new event."),
    };
    Ok(render(page.render()))
}

#[post("/platform/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    operator: Operator,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    operator.check_form(&body)?;
    let (endpoint_id, delivery_id) = path.into_inner();
    crate::webhooks::redeliver(&state.store, &endpoint_id, &delivery_id, &operator.actor).await?;
    Ok(see_other(&format!(
        "/admin/platform/webhooks/{endpoint_id}?done=redelivery_queued"
    )))
}

#[post("/platform/sign-out")]
pub async fn sign_out(
    state: web::Data<AppState>,
    operator: Operator,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    operator.check_form(&body)?;
    state.cache.delete(&operator.session_key).await?;
    let mut response = see_other("/admin/sign-in?reason=signed_out");
    let mut removal = cookie(&state.config, String::new());
    removal.make_removal();
    let _ = response.add_cookie(&removal);
    Ok(response)
}
