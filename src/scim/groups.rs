//! `/Groups`: each group is a live team of the organization; members are
//! the SCIM users of this integration.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::filter::{CompareOp, Filter};
use super::patch::PatchOps;
use super::resource::project;
use super::schema::{self, get_ci};
use super::{
    base_url, keeps, list_response, scim_json, scim_json_at, ListParams, ScimClient, ScimJson,
};
use crate::provisioning::{
    delete_team, scim_change_group, scim_create_group, ScimGroup, ScimGroupChange, ScimGroupFields,
};
use crate::state::AppState;
use crate::store::{Store, Team, TeamState};

/// The SCIM user ids in a resource's `members`, each once (the rule checks
/// they are users of this integration).
fn listed_members(object: &Map<String, Value>) -> Result<Vec<String>, ScimError> {
    let Some(members) = get_ci(object, "members") else {
        return Ok(Vec::new());
    };
    let members = members
        .as_array()
        .ok_or_else(|| ScimError::bad("invalidValue", "members must be an array"))?;
    let mut out: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for member in members {
        let id = member
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ScimError::bad("invalidValue", "each member needs a value"))?;
        if seen.insert(id) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

/// What a group resource says that a team keeps, checked: the rest of what
/// a client sends (Entra's extra schema, `meta`) is not stored.
fn group_fields(resource: &Value) -> Result<ScimGroupFields, ScimError> {
    let object = resource
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    schema::check_lengths(object, schema::GROUP_ATTRIBUTES, "")?;
    let text = |name| {
        get_ci(object, name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(ScimGroupFields {
        display_name: text("displayName")
            .ok_or_else(|| ScimError::bad("invalidValue", "displayName is required"))?,
        external_id: text("externalId"),
        members: listed_members(object)?,
    })
}

/// A group resource without `meta`: what a PATCH applies to and what a
/// GET shows (with `meta`).
fn group_document(
    base: &str,
    id: &str,
    name: &str,
    external_id: Option<&str>,
    members: &[String],
) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|id| json!({ "value": id, "type": "User", "$ref": format!("{base}/Users/{id}") }))
        .collect();
    let mut group = json!({
        "schemas": [schema::GROUP],
        "id": id,
        "displayName": name,
        "members": members,
    });
    if let Some(external) = external_id {
        group["externalId"] = json!(external);
    }
    group
}

async fn render(state: &AppState, client: &ScimClient, team: &Team) -> Result<Value, ScimError> {
    let base = base_url(state, &client.integration.id);
    let members = Store::scim_group_members(state.store.pool(), &team.id).await?;
    let stamp = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let mut group = group_document(
        &base,
        &team.id,
        &team.name,
        team.scim_external_id.as_deref(),
        &members,
    );
    group["meta"] = json!({ "resourceType": "Group", "created": stamp(team.created_at), "lastModified": stamp(team.updated_at), "location": location(state, client, &team.id) });
    Ok(group)
}

/// PUT: the resource as sent, whatever the group held.
struct Replaced(ScimGroupFields);

impl ScimGroupChange for Replaced {
    type Refusal = ScimError;
    fn changed(&self, _: &ScimGroup) -> Result<ScimGroupFields, ScimError> {
        Ok(self.0.clone())
    }
}

/// PATCH: the operations applied to the group as it is when written.
struct Patched {
    ops: PatchOps,
    base: String,
}

impl ScimGroupChange for Patched {
    type Refusal = ScimError;
    fn changed(&self, group: &ScimGroup) -> Result<ScimGroupFields, ScimError> {
        let team = &group.team;
        let mut document = group_document(
            &self.base,
            &team.id,
            &team.name,
            team.external_id.as_deref(),
            &group.members,
        );
        self.ops.apply(&mut document)?;
        group_fields(&document)
    }
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

fn location(state: &AppState, client: &ScimClient, id: &str) -> String {
    format!("{}/Groups/{id}", base_url(state, &client.integration.id))
}

pub async fn create(
    state: web::Data<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<HttpResponse, ScimError> {
    let team_id = scim_create_group(
        &state.store,
        &client.integration,
        group_fields(&body)?,
        &client.actor,
    )
    .await?;
    let team = live_team(&state, &client, &team_id).await?;
    Ok(scim_json_at(
        StatusCode::CREATED,
        &render(&state, &client, &team).await?,
        &location(&state, &client, &team.id),
    ))
}

pub async fn get(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
    query: web::Query<ListParams>,
) -> Result<HttpResponse, ScimError> {
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

fn display_name_lookup(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare(path, CompareOp::Eq, Value::String(v))
            if path.sub_attr.is_none()
                && path.schema.is_none()
                && path.attr.eq_ignore_ascii_case("displayName") =>
        {
            Some(v)
        }
        _ => None,
    }
}

/// The groups (live teams) the search selects, rendered.
pub async fn matching(
    state: &AppState,
    client: &ScimClient,
    filter: Option<&Filter>,
) -> Result<Vec<Value>, ScimError> {
    // `displayName eq "…"` — what Entra sends before every group create —
    // is answered from the name index; the filter still decides below.
    let teams = match filter.and_then(display_name_lookup) {
        Some(name) => {
            state
                .store
                .live_teams_named(&client.integration.org_id, name)
                .await?
        }
        None => {
            state
                .store
                .teams(&client.integration.org_id, TeamState::Live)
                .await?
        }
    };
    let mut groups = Vec::new();
    for team in teams
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
    client: ScimClient,
    query: web::Query<ListParams>,
) -> Result<HttpResponse, ScimError> {
    let groups = matching(&state, &client, query.parsed_filter()?.as_ref()).await?;
    Ok(list_response(groups, &query))
}

/// Applies a PUT's or PATCH's change to the group: the rules' refusal and
/// the change's own both answer as SCIM errors.
async fn change_group<C: ScimGroupChange<Refusal = ScimError>>(
    state: &AppState,
    client: &ScimClient,
    id: &str,
    change: C,
    operation: &'static str,
) -> Result<(), ScimError> {
    let integration = &client.integration;
    scim_change_group(
        &state.store,
        integration,
        id,
        change,
        operation,
        &client.actor,
    )
    .await?
}

pub async fn replace(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
    ScimJson(body): ScimJson,
) -> Result<HttpResponse, ScimError> {
    let change = Replaced(group_fields(&body)?);
    change_group(&state, &client, &path.1, change, "PUT /Groups").await?;
    let team = live_team(&state, &client, &path.1).await?;
    Ok(scim_json(
        StatusCode::OK,
        &render(&state, &client, &team).await?,
    ))
}

pub async fn patch(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
    ScimJson(body): ScimJson,
) -> Result<HttpResponse, ScimError> {
    let change = Patched {
        ops: PatchOps::parse(&body)?,
        base: base_url(&state, &client.integration.id),
    };
    change_group(&state, &client, &path.1, change, "PATCH /Groups").await?;
    // Nothing is rendered back: Entra's member changes expect 204, which
    // RFC 7644 §3.5.2 allows.
    Ok(HttpResponse::NoContent().finish())
}

/// The team is deleted at once for SCIM and its members, restorable by the
/// admin for the retention period.
pub async fn delete(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ScimError> {
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
