use actix_web::{get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::OrgAdmin;
use super::body::Object;
use super::schema;
use crate::api_error::{ApiError, ErrorBody};
use crate::provisioning;
use crate::state::AppState;
use crate::store::Organization;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    #[schema(schema_with = schema::name)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedToken {
    /// The new admin token, shown only here. Every earlier one is revoked.
    pub admin_token: String,
}

/// The organization this token administers.
#[utoipa::path(responses((status = 200, body = Organization)), tag = "organization")]
#[get("/organization")]
pub async fn get_organization(
    state: web::Data<AppState>,
    admin: OrgAdmin,
) -> Result<HttpResponse, ApiError> {
    let org = state
        .store
        .organization(&admin.org_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(HttpResponse::Ok().json(org))
}

#[utoipa::path(request_body = UpdateOrganization, responses((status = 200, body = Organization), (status = 422, body = ErrorBody)), tag = "organization")]
#[patch("/organization")]
pub async fn update_organization(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    body: web::Json<Object<UpdateOrganization>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    schema::check_name("name", &body.name)?;
    provisioning::rename_organization(&state.store, &admin.org_id, &body.name, &admin.actor)
        .await?;
    let org = state
        .store
        .organization(&admin.org_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(HttpResponse::Ok().json(org))
}

/// Issues a new admin token and revokes all others, this one included.
#[utoipa::path(responses((status = 201, body = RotatedToken)), tag = "organization")]
#[post("/admin-token/rotate")]
pub async fn rotate_admin_token(
    state: web::Data<AppState>,
    admin: OrgAdmin,
) -> Result<HttpResponse, ApiError> {
    let admin_token =
        provisioning::rotate_admin_token(&state.store, &admin.org_id, &admin.actor).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(RotatedToken { admin_token }))
}
