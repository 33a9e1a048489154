//! SCIM 2.0 (RFC 7643/7644) provisioning server under
//! `{public_url}/scim/v2/{integration id}`: authentication by the
//! integration's token, a per-integration rate limit, bodies in any JSON
//! media type (or none), SCIM errors everywhere.

mod discovery;
pub mod error;
mod extract;
pub mod filter;
mod groups;
pub mod patch;
pub mod resource;
pub mod schema;
pub mod urn;
mod users;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::state::AppState;
use error::{ScimError, SCIM_JSON};
pub use extract::{ScimClient, ScimJson};
use filter::{matches, parse_filter, Filter};

/// What a list or search asks for: from the query string (GET) or a
/// SearchRequest body (POST .search, where the attribute lists are arrays).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    #[serde(default, deserialize_with = "names")]
    attributes: Option<String>,
    #[serde(default, deserialize_with = "names")]
    excluded_attributes: Option<String>,
}

/// Accepts `"a,b"` (query string) or `["a", "b"]` (SearchRequest).
fn names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    })
}

impl ListParams {
    pub fn parsed_filter(&self) -> Result<Option<Filter>, ScimError> {
        self.filter
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| {
                parse_filter(f).map_err(|e| {
                    ScimError::bad(
                        "invalidFilter",
                        format!("{} (at character {})", e.message, e.position),
                    )
                })
            })
            .transpose()
    }
}

/// Whether a rendered resource passes the filter.
pub fn keeps(filter: Option<&Filter>, resource: &Value) -> Result<bool, ScimError> {
    match filter {
        Some(f) => matches(f, resource, &patch::case_exact)
            .map_err(|e| ScimError::bad("invalidFilter", e.message)),
        None => Ok(true),
    }
}

/// A ListResponse page (1-based startIndex, count ≤ 1000, stable order).
pub fn list_response(resources: Vec<Value>, params: &ListParams) -> HttpResponse {
    let total = resources.len();
    let start = params.start_index.unwrap_or(1).max(1);
    let count = params.count.unwrap_or(100).clamp(0, 1000);
    let page: Vec<Value> = resources
        .into_iter()
        .skip((start - 1) as usize)
        .take(count as usize)
        .map(|r| {
            resource::project(
                r,
                params.attributes.as_deref(),
                params.excluded_attributes.as_deref(),
            )
        })
        .collect();
    scim_json(
        StatusCode::OK,
        &json!({ "schemas": [schema::LIST_RESPONSE], "totalResults": total, "startIndex": start, "itemsPerPage": page.len(), "Resources": page }),
    )
}

/// POST `.search` (RFC 7644 §3.4.3) at the root (users and groups) or on one resource type.
async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<HttpResponse, ScimError> {
    let params: ListParams = serde_json::from_value(body)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("not a SearchRequest: {e}")))?;
    let filter = params.parsed_filter()?;
    let path = req.path();
    let mut resources = Vec::new();
    if !path.ends_with("/Groups/.search") {
        resources.extend(users::matching(&state, &client, filter.as_ref()).await?);
    }
    if !path.ends_with("/Users/.search") {
        resources.extend(groups::matching(&state, &client, filter.as_ref()).await?);
    }
    Ok(list_response(resources, &params))
}

pub fn scim_json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(SCIM_JSON)
        .body(body.to_string())
}

/// `scim_json` with the resource's URI in `Location` (RFC 7644 §3.3 SHALL
/// for a created resource; every user response carries it).
pub fn scim_json_at(status: StatusCode, body: &Value, location: &str) -> HttpResponse {
    let mut response = scim_json(status, body);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn base_url(state: &AppState, integration_id: &str) -> String {
    crate::integrations::scim_tenant_url(&state.config, integration_id)
}

async fn no_such_endpoint(req: HttpRequest) -> Result<HttpResponse, ScimError> {
    Err(ScimError::not_found(&format!(
        "SCIM endpoint {}",
        req.path()
    )))
}

/// Counts every SCIM request in `sso_gateway_scim_operations_total` by
/// resource (Users, Groups, discovery …), operation (the HTTP method) and
/// outcome.
async fn count_operation(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let resource = req
        .match_info()
        .unprocessed()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let resource = if resource.is_empty() {
        req.path().rsplit('/').next().unwrap_or("").to_string()
    } else {
        resource
    };
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    if let Some(state) = state {
        let outcome = if status.is_success() {
            "success".to_string()
        } else {
            status.as_u16().to_string()
        };
        let known = [
            "Users",
            "Groups",
            ".search",
            "ServiceProviderConfig",
            "ResourceTypes",
            "Schemas",
        ];
        let resource = if known.contains(&resource.as_str()) {
            resource.as_str()
        } else {
            "other"
        };
        state
            .metrics
            .scim_operations
            .with_label_values(&[resource, &method, &outcome])
            .inc();
    }
    result
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2/{integration}")
            .wrap(actix_web::middleware::from_fn(count_operation))
            .route("/.search", web::post().to(search))
            .route("/Users/.search", web::post().to(search))
            .route("/Groups/.search", web::post().to(search))
            .service(
                web::resource("/Users")
                    .route(web::get().to(users::list))
                    .route(web::post().to(users::create)),
            )
            .service(
                web::resource("/Users/{id}")
                    .route(web::get().to(users::get))
                    .route(web::put().to(users::replace))
                    .route(web::patch().to(users::patch))
                    .route(web::delete().to(users::delete)),
            )
            .service(
                web::resource("/Groups")
                    .route(web::get().to(groups::list))
                    .route(web::post().to(groups::create)),
            )
            .service(
                web::resource("/Groups/{id}")
                    .route(web::get().to(groups::get))
                    .route(web::put().to(groups::replace))
                    .route(web::patch().to(groups::patch))
                    .route(web::delete().to(groups::delete)),
            )
            .configure(discovery::configure)
            .default_service(web::to(no_such_endpoint)),
    );
}
