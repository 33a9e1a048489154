//! `GET /api/v1/events`: the lifecycle event stream, oldest first after a
//! cursor.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Reach;
use super::users::page_limit;
use crate::api_error::{ApiError, ErrorBody};
use crate::events::{format_event_id, parse_event_id, EventType};
use crate::state::AppState;
use crate::store::{Envelope, EventFilter};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events after this id: the `next_cursor` of the previous page
    /// (absent or empty: from the oldest event kept).
    #[param(pattern = "^(evt_[0-9]{1,18})?$")]
    pub after: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Comma-separated event types (`member.removed,team.deleted`).
    pub types: Option<String>,
    /// Only this organization's events (platform API key; an admin token
    /// always reads its own organization's).
    pub organization_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// Oldest first; each envelope as a webhook delivery of it carries it.
    events: Vec<Envelope>,
    /// Pass as `after` for the next page; when the page was not full it is
    /// where the stream stands, so polling with it never misses an event.
    next_cursor: String,
}

#[utoipa::path(params(EventQuery), responses((status = 200, body = EventPage), (status = 400, body = ErrorBody, description = "A cursor this API did not hand out, an unknown event type or a bad limit"), (status = 404, body = ErrorBody, description = "An organization this caller may not read")), tag = "events")]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    reach: Reach,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit, 100)?;
    let types =
        EventType::parse_list(query.types.as_deref().unwrap_or_default()).map_err(|unknown| {
            ApiError::bad_request(format!(
                "types: unknown event type {unknown:?}; known: {}",
                EventType::ALL.map(EventType::as_str).join(", ")
            ))
        })?;
    let org_id = match (reach, query.organization_id) {
        (Reach::Deployment, named) => named,
        (Reach::Organization(own), Some(named)) if named != own => {
            return Err(ApiError::not_found("organization"))
        }
        (Reach::Organization(own), _) => Some(own),
    };
    // Read first: every id up to it is committed (event ids are handed out
    // in commit order), so an empty or short page may move the cursor here.
    let stream_end = state.store.last_event_id().await?;
    let after = match query.after.as_deref().filter(|a| !a.is_empty()) {
        None => 0,
        Some(raw) => match parse_event_id(raw) {
            Some(after) if after <= stream_end => after,
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "after: no event {raw} exists yet; pass an id this API returned"
                )))
            }
            None => {
                return Err(ApiError::bad_request(
                    "after must be an event id (evt_…) or a next_cursor this API returned",
                ))
            }
        },
    };
    let filter = EventFilter { org_id, types };
    let events = state
        .store
        .events_after(after, stream_end, &filter, limit)
        .await?;
    let next = match events.last() {
        Some(last) if events.len() as i64 == limit => last.id,
        _ => stream_end.max(after),
    };
    let page = EventPage {
        events: events
            .iter()
            .map(|e| e.envelope().map_err(|_| ApiError::internal()))
            .collect::<Result<_, _>>()?,
        next_cursor: format_event_id(next),
    };
    Ok(HttpResponse::Ok().json(page))
}
