use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::OrgAdmin;
use super::body::Object;
use super::schema::NewIntegration;
use crate::api_error::{ApiError, ErrorBody};
use crate::integrations::{self, IntegrationInput, IntegrationView, ScimCredentials};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct IntegrationList {
    pub integrations: Vec<IntegrationView>,
}

#[utoipa::path(request_body = NewIntegration, responses((status = 201, body = IntegrationView), (status = 422, body = ErrorBody)), tag = "integrations")]
#[post("/integrations")]
pub async fn create_integration(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    body: web::Json<Object<IntegrationInput>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    let created = integrations::create(&state, &admin.org_id, &body, &admin.actor).await?;
    Ok(HttpResponse::Created().json(integrations::view(&state.config, &created)?))
}

#[utoipa::path(responses((status = 200, body = IntegrationList)), tag = "integrations")]
#[get("/integrations")]
pub async fn list_integrations(
    state: web::Data<AppState>,
    admin: OrgAdmin,
) -> Result<HttpResponse, ApiError> {
    let views = state
        .store
        .integrations(&admin.org_id)
        .await?
        .iter()
        .map(|i| integrations::view(&state.config, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(IntegrationList {
        integrations: views,
    }))
}

#[utoipa::path(responses((status = 200, body = IntegrationView), (status = 404, body = ErrorBody)), tag = "integrations")]
#[get("/integrations/{id}")]
pub async fn get_integration(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = state
        .store
        .org_integration(&admin.org_id, &path)
        .await?
        .ok_or_else(|| ApiError::not_found("integration"))?;
    Ok(HttpResponse::Ok().json(integrations::view(&state.config, &found)?))
}

/// Changes the name or settings; send only what changes.
#[utoipa::path(request_body = IntegrationInput, responses((status = 200, body = IntegrationView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), tag = "integrations")]
#[patch("/integrations/{id}")]
pub async fn update_integration(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
    body: web::Json<Object<IntegrationInput>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    let updated = integrations::update(&state, &admin.org_id, &path, &body, &admin.actor).await?;
    Ok(HttpResponse::Ok().json(integrations::view(&state.config, &updated)?))
}

#[utoipa::path(responses((status = 204), (status = 404, body = ErrorBody)), tag = "integrations")]
#[delete("/integrations/{id}")]
pub async fn delete_integration(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    integrations::delete(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Turns SCIM provisioning on, or rotates its token. The token is in this
/// response only; it is stored hashed.
#[utoipa::path(responses((status = 201, body = ScimCredentials), (status = 404, body = ErrorBody)), tag = "integrations")]
#[post("/integrations/{id}/provisioning")]
pub async fn enable_provisioning(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credentials = integrations::enable_provisioning(
        &state.store,
        &state.config,
        &admin.org_id,
        &path,
        &admin.actor,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(credentials))
}

#[utoipa::path(responses((status = 204), (status = 404, body = ErrorBody)), tag = "integrations")]
#[delete("/integrations/{id}/provisioning")]
pub async fn disable_provisioning(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    integrations::disable_provisioning(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}
