use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::OrgAdmin;
use super::schema;
use super::users::page_limit;
use crate::api_error::ApiError;
use crate::state::AppState;
use crate::store::{AuditEvent, AuditFilter};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Exact kind (`team.deleted`) or a prefix ending in `*` (`team.*`).
    pub kind: Option<String>,
    #[param(inline)]
    pub outcome: Option<Outcome>,
    /// Events about this subject (email, team id, integration id …).
    pub subject: Option<String>,
    /// Only events at or after this time (RFC 3339 or unix milliseconds).
    #[param(schema_with = schema::instant)]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339 or unix milliseconds).
    #[param(schema_with = schema::instant)]
    pub until: Option<String>,
    /// Page size, 1–1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// How an audited action ended.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

fn parse_time(name: &str, raw: &Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name} must be RFC 3339 (2026-01-31T12:00:00Z) or unix milliseconds"
            ))
        })
}

#[utoipa::path(params(AuditQuery), responses((status = 200, body = AuditPage)), tag = "audit")]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = AuditFilter {
        since_ms: parse_time("since", &query.since)?,
        until_ms: parse_time("until", &query.until)?,
        kind: query.kind,
        outcome: query.outcome.map(|o| o.as_str().to_string()),
        subject: query.subject,
        actor: None,
        before_id: query.cursor,
        limit: page_limit(query.limit, 50)?,
    };
    let events = state.store.audit_events(&admin.org_id, &filter).await?;
    let next_cursor = (events.len() as i64 == filter.limit)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(AuditPage {
        events,
        next_cursor,
    }))
}
