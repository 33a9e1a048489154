//! `/Users`: thin handlers over the provisioning rules.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ScimError;
use super::filter::{CompareOp, Filter};
use super::patch::PatchOps;
use super::resource::{normalize_user, project, render_user, user_facts};
use super::{base_url, keeps, list_response, scim_json_at, ListParams, ScimClient, ScimJson};
use crate::provisioning::{
    scim_create_user, scim_delete_user, scim_patch_user, scim_replace_user, ScimUserFacts,
    ScimUserPatch, ScimUserWrite,
};
use crate::state::AppState;
use crate::store::{ScimUserRow, Store};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

/// Okta's "Sync password": write-only, argon2 at rest.
/// Runs on the blocking pool: argon2 is deliberately slow and memory-hard.
async fn hash_password(password: Option<String>) -> Result<Option<String>, ScimError> {
    let Some(password) = password else {
        return Ok(None);
    };
    web::block(move || {
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| {
        ScimError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "password hashing is unavailable; retry",
        )
    })?
    .map(Some)
    .map_err(|e| ScimError::bad("invalidValue", format!("password cannot be hashed: {e}")))
}

fn location(state: &AppState, client: &ScimClient, id: &str) -> String {
    format!("{}/Users/{id}", base_url(state, &client.integration.id))
}

fn answer(
    state: &AppState,
    client: &ScimClient,
    row: &ScimUserRow,
    status: StatusCode,
    selection: &Selection,
) -> HttpResponse {
    let location = location(state, client, &row.id);
    let body = project(
        render_user(row, &location),
        selection.attributes.as_deref(),
        selection.excluded_attributes.as_deref(),
    );
    scim_json_at(status, &body, &location)
}

/// A whole resource a client sent (POST, PUT): normalised, its facts, and
/// the hash of any password in it.
async fn prepared(body: Value) -> Result<(Value, ScimUserFacts, Option<String>), ScimError> {
    let (resource, password) = normalize_user(body)?;
    let facts = user_facts(&resource)?;
    Ok((resource, facts, hash_password(password).await?))
}

pub async fn create(
    state: web::Data<AppState>,
    client: ScimClient,
    ScimJson(body): ScimJson,
) -> Result<HttpResponse, ScimError> {
    let (resource, facts, password_hash) = prepared(body).await?;
    let write = ScimUserWrite {
        facts: &facts,
        resource: &resource,
        password_hash: password_hash.as_deref(),
        operation: "POST /Users",
    };
    let row = scim_create_user(&state.store, &client.integration, &write, &client.actor).await?;
    Ok(answer(
        &state,
        &client,
        &row,
        StatusCode::CREATED,
        &Selection::default(),
    ))
}

pub async fn get(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
    selection: web::Query<Selection>,
) -> Result<HttpResponse, ScimError> {
    let row = Store::scim_user(state.store.pool(), &client.integration.id, &path.1)
        .await?
        .ok_or_else(|| ScimError::not_found("user"))?;
    Ok(answer(&state, &client, &row, StatusCode::OK, &selection))
}

/// `userName eq "…"` — what Okta and Entra send before every create — is
/// answered from the index; any other filter is evaluated on the resources.
fn user_name_lookup(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare(path, CompareOp::Eq, Value::String(v))
            if path.sub_attr.is_none() && path.attr.eq_ignore_ascii_case("userName") =>
        {
            Some(v)
        }
        _ => None,
    }
}

/// The users the search selects, rendered, in stable order.
pub async fn matching(
    state: &AppState,
    client: &ScimClient,
    filter: Option<&Filter>,
) -> Result<Vec<Value>, ScimError> {
    let rows = match filter.and_then(user_name_lookup) {
        Some(name) => {
            Store::scim_users_named(state.store.pool(), &client.integration.id, name).await?
        }
        None => state.store.scim_users(&client.integration.id).await?,
    };
    let mut resources = Vec::new();
    for row in &rows {
        let rendered = render_user(row, &location(state, client, &row.id));
        if keeps(filter, &rendered)? {
            resources.push(rendered);
        }
    }
    Ok(resources)
}

pub async fn list(
    state: web::Data<AppState>,
    client: ScimClient,
    query: web::Query<ListParams>,
) -> Result<HttpResponse, ScimError> {
    let users = matching(&state, &client, query.parsed_filter()?.as_ref()).await?;
    Ok(list_response(users, &query))
}

pub async fn replace(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
    ScimJson(body): ScimJson,
) -> Result<HttpResponse, ScimError> {
    let (resource, facts, password_hash) = prepared(body).await?;
    let write = ScimUserWrite {
        facts: &facts,
        resource: &resource,
        password_hash: password_hash.as_deref(),
        operation: "PUT /Users",
    };
    let row = scim_replace_user(
        &state.store,
        &client.integration,
        &path.1,
        &write,
        &client.actor,
    )
    .await?;
    Ok(answer(
        &state,
        &client,
        &row,
        StatusCode::OK,
        &Selection::default(),
    ))
}

/// A PATCH of a user: applied to the stored resource, then normalised as a
/// PUT of the result would be.
impl ScimUserPatch for PatchOps {
    type Error = ScimError;

    fn patched(&self, stored: &str) -> Result<(Value, ScimUserFacts), ScimError> {
        let mut resource: Value = serde_json::from_str(stored).unwrap_or_else(|_| json!({}));
        self.apply(&mut resource)?;
        // The password is write-only: `PatchOps::password` hashed it already.
        let (resource, _) = normalize_user(resource)?;
        let facts = user_facts(&resource)?;
        Ok((resource, facts))
    }
}

pub async fn patch(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
    ScimJson(body): ScimJson,
) -> Result<HttpResponse, ScimError> {
    let ops = PatchOps::parse(&body)?;
    let password_hash = hash_password(ops.password().map(str::to_string)).await?;
    let row = scim_patch_user(
        &state.store,
        &client.integration,
        &path.1,
        &ops,
        password_hash.as_deref(),
        &client.actor,
    )
    .await?;
    Ok(answer(
        &state,
        &client,
        &row,
        StatusCode::OK,
        &Selection::default(),
    ))
}

pub async fn delete(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ScimError> {
    scim_delete_user(&state.store, &client.integration, &path.1, &client.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}
