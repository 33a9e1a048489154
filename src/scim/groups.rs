//! `/Groups`: each group is a live team of the organization; members are
//! the SCIM users of this integration.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::ScimError;
use super::filter::Filter;
use super::patch::apply_patch;
use super::resource::{get_ci, project};
use super::{base_url, keeps, list_response, read_json, scim_json, ListParams, ScimClient};
use crate::provisioning::{delete_team, scim_create_group, scim_update_group, ScimGroupWrite};
use crate::state::AppState;
use crate::store::{Team, TeamState};

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// This integration's SCIM user ids: group members must be among them.
struct Directory {
    known: HashSet<String>,
}

impl Directory {
    async fn load(state: &AppState, client: &ScimClient) -> Result<Directory, ScimError> {
        let rows = state.store.scim_users(&client.integration.id).await?;
        Ok(Directory {
            known: rows.into_iter().map(|r| r.id).collect(),
        })
    }

    /// The SCIM user ids in a resource's `members`; unknown ones are refused.
    fn members(&self, resource: &Value) -> Result<Vec<String>, ScimError> {
        let Some(members) = resource.as_object().and_then(|o| get_ci(o, "members")) else {
            return Ok(Vec::new());
        };
        let members = members
            .as_array()
            .ok_or_else(|| ScimError::bad("invalidValue", "members must be an array"))?;
        let mut out = Vec::new();
        for member in members {
            let id = member
                .get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| ScimError::bad("invalidValue", "each member needs a value"))?;
            if !self.known.contains(id) {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("member {id:?} is not a user of this tenant"),
                ));
            }
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
        Ok(out)
    }
}

async fn render(state: &AppState, client: &ScimClient, team: &Team) -> Result<Value, ScimError> {
    let base = base_url(state, &client.integration.id);
    let members: Vec<Value> = state
        .store
        .scim_group_members(&team.id)
        .await?
        .into_iter()
        .map(|id| json!({ "value": id, "type": "User", "$ref": format!("{base}/Users/{id}") }))
        .collect();
    let stamp = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let mut group = json!({
        "schemas": [GROUP_SCHEMA],
        "id": team.id,
        "displayName": team.name,
        "members": members,
        "meta": { "resourceType": "Group", "created": stamp(team.created_at), "lastModified": stamp(team.updated_at), "location": format!("{base}/Groups/{}", team.id) },
    });
    if let Some(external) = &team.scim_external_id {
        group["externalId"] = json!(external);
    }
    Ok(group)
}

async fn live_team(state: &AppState, client: &ScimClient, id: &str) -> Result<Team, ScimError> {
    match state.store.team(&client.integration.org_id, id).await? {
        Some(team)
            if team.deleted_at.is_none()
                && team.scim_integration_id.as_deref() == Some(client.integration.id.as_str()) =>
        {
            Ok(team)
        }
        _ => Err(ScimError::not_found("group")),
    }
}

fn display_name(resource: &Value) -> Result<String, ScimError> {
    resource
        .as_object()
        .and_then(|o| get_ci(o, "displayName"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ScimError::bad("invalidValue", "displayName is required"))
}

fn external_id(resource: &Value) -> Option<String> {
    resource
        .as_object()
        .and_then(|o| get_ci(o, "externalId"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let client = ScimClient::authenticate(&state, &req).await?;
    let body = read_json(payload, state.config.scim.max_body_bytes).await?;
    let directory = Directory::load(&state, &client).await?;
    let (name, external) = (display_name(&body)?, external_id(&body));
    let members = directory.members(&body)?;
    let write = ScimGroupWrite {
        display_name: &name,
        external_id: external.as_deref(),
        members: &members,
        operation: "POST /Groups",
    };
    let team_id =
        scim_create_group(&state.store, &client.integration, &write, &client.actor).await?;
    let team = live_team(&state, &client, &team_id).await?;
    Ok(scim_json(
        StatusCode::CREATED,
        &render(&state, &client, &team).await?,
    ))
}

pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ListParams>,
) -> Result<HttpResponse, ScimError> {
    let client = ScimClient::authenticate(&state, &req).await?;
    let team = live_team(&state, &client, &path.1).await?;
    let group = render(&state, &client, &team).await?;
    Ok(scim_json(
        StatusCode::OK,
        &project(
            group,
            query.attributes.as_deref(),
            query.excluded_attributes.as_deref(),
        ),
    ))
}

/// The groups (live teams) the search selects, rendered.
pub async fn matching(
    state: &AppState,
    client: &ScimClient,
    filter: Option<&Filter>,
) -> Result<Vec<Value>, ScimError> {
    let mut groups = Vec::new();
    for team in state
        .store
        .teams(&client.integration.org_id, TeamState::Live)
        .await?
        .into_iter()
        .filter(|t| t.scim_integration_id.as_deref() == Some(client.integration.id.as_str()))
    {
        let group = render(state, client, &team).await?;
        if keeps(filter, &group)? {
            groups.push(group);
        }
    }
    Ok(groups)
}

pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ListParams>,
) -> Result<HttpResponse, ScimError> {
    let client = ScimClient::authenticate(&state, &req).await?;
    let groups = matching(&state, &client, query.parsed_filter()?.as_ref()).await?;
    Ok(list_response(groups, &query))
}

async fn save(
    state: &AppState,
    client: &ScimClient,
    id: &str,
    resource: &Value,
    directory: &Directory,
    operation: &str,
) -> Result<Value, ScimError> {
    let (name, external) = (display_name(resource)?, external_id(resource));
    let members = directory.members(resource)?;
    let write = ScimGroupWrite {
        display_name: &name,
        external_id: external.as_deref(),
        members: &members,
        operation,
    };
    scim_update_group(&state.store, &client.integration, id, &write, &client.actor).await?;
    let team = live_team(state, client, id).await?;
    render(state, client, &team).await
}

pub async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let client = ScimClient::authenticate(&state, &req).await?;
    let body = read_json(payload, state.config.scim.max_body_bytes).await?;
    live_team(&state, &client, &path.1).await?;
    let directory = Directory::load(&state, &client).await?;
    Ok(scim_json(
        StatusCode::OK,
        &save(&state, &client, &path.1, &body, &directory, "PUT /Groups").await?,
    ))
}

pub async fn patch(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let client = ScimClient::authenticate(&state, &req).await?;
    let body = read_json(payload, state.config.scim.max_body_bytes).await?;
    let team = live_team(&state, &client, &path.1).await?;
    let directory = Directory::load(&state, &client).await?;
    let mut group = render(&state, &client, &team).await?;
    apply_patch(&mut group, &body)?;
    save(
        &state,
        &client,
        &path.1,
        &group,
        &directory,
        "PATCH /Groups",
    )
    .await?;
    // What Entra's member changes expect (RFC 7644 §3.5.2 allows 204).
    Ok(HttpResponse::NoContent().finish())
}

/// The team is deleted at once for SCIM and its members, restorable by the
/// admin for the retention period.
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ScimError> {
    let client = ScimClient::authenticate(&state, &req).await?;
    live_team(&state, &client, &path.1).await?;
    delete_team(
        &state.store,
        &client.integration.org_id,
        &path.1,
        &client.actor,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
