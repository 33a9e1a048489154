//! The platform routes: the host product, with its API key, creates and
//! names organizations and hands their IT admins setup links.

use actix_web::{get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::PlatformKey;
use super::body::Object;
use super::schema;
use super::users::page_limit;
use crate::api_error::{ApiError, ErrorBody};
use crate::provisioning;
use crate::state::AppState;
use crate::store::Organization;

/// The tag of every platform route: `schema::PlatformAuth` documents the
/// API key (and the 403 to an admin token) on exactly these.
pub const TAG: &str = "platform";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    #[schema(schema_with = schema::name)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedOrganization {
    #[serde(flatten)]
    pub organization: Organization,
    /// The organization's first admin token, shown only here. The API key
    /// needs none; hand it to the organization or discard it.
    pub admin_token: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrganizationListQuery {
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationList {
    /// Oldest first.
    pub organizations: Vec<Organization>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSetupLink {
    /// How long the link may be opened, in seconds (default 7 days).
    #[schema(minimum = 60, maximum = 2_592_000)]
    pub expires_in_seconds: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SetupLinkView {
    pub id: String,
    /// Opens the admin pages of the organization once; shown only here.
    pub url: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

#[utoipa::path(request_body = CreateOrganization, responses((status = 201, body = CreatedOrganization), (status = 422, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[post("/organizations")]
pub async fn create_organization(
    state: web::Data<AppState>,
    key: PlatformKey,
    body: web::Json<Object<CreateOrganization>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    schema::check_name("name", &body.name)?;
    let created = provisioning::create_organization(&state.store, &body.name, &key.actor).await?;
    Ok(HttpResponse::Created().json(CreatedOrganization {
        organization: created.organization,
        admin_token: created.admin_token,
    }))
}

#[utoipa::path(params(OrganizationListQuery), responses((status = 200, body = OrganizationList)), tag = TAG, security(("api_key" = [])))]
#[get("/organizations")]
pub async fn list_organizations(
    state: web::Data<AppState>,
    _key: PlatformKey,
    query: web::Query<OrganizationListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit, 100)?;
    let after = match &query.cursor {
        Some(cursor) => Some(state.store.organization(cursor).await?.ok_or_else(|| {
            ApiError::bad_request("cursor must be the `next_cursor` of a previous page")
        })?),
        None => None,
    };
    let organizations = state
        .store
        .organizations_after(after.as_ref(), limit)
        .await?;
    let next_cursor = (organizations.len() as i64 == limit)
        .then(|| organizations.last().map(|o| o.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(OrganizationList {
        organizations,
        next_cursor,
    }))
}

#[utoipa::path(responses((status = 200, body = Organization), (status = 404, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[get("/organizations/{org_id}")]
pub async fn get_organization(
    state: web::Data<AppState>,
    _key: PlatformKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = state
        .store
        .organization(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(HttpResponse::Ok().json(org))
}

#[utoipa::path(request_body = super::org::UpdateOrganization, responses((status = 200, body = Organization), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[patch("/organizations/{org_id}")]
pub async fn update_organization(
    state: web::Data<AppState>,
    key: PlatformKey,
    path: web::Path<String>,
    body: web::Json<Object<super::org::UpdateOrganization>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    schema::check_name("name", &body.name)?;
    provisioning::rename_organization(&state.store, &path, &body.name, &key.actor).await?;
    let org = state
        .store
        .organization(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(HttpResponse::Ok().json(org))
}

/// A single-use link that signs whoever opens it into the organization's
/// admin pages (as its admin token would).
#[utoipa::path(request_body = CreateSetupLink, responses((status = 201, body = SetupLinkView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), tag = TAG, security(("api_key" = [])))]
#[post("/organizations/{org_id}/setup-links")]
pub async fn create_setup_link(
    state: web::Data<AppState>,
    key: PlatformKey,
    path: web::Path<String>,
    body: web::Json<Object<CreateSetupLink>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    let link =
        provisioning::create_setup_link(&state.store, &path, body.expires_in_seconds, &key.actor)
            .await?;
    Ok(HttpResponse::Created().json(SetupLinkView {
        url: state
            .config
            .external_url(&format!("/admin/setup/{}", link.token)),
        id: link.id,
        expires_at: link.expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::{SETUP_LINK_MAX_SECONDS, SETUP_LINK_MIN_SECONDS};
    use utoipa::PartialSchema;

    #[test]
    fn the_documented_lifetime_bounds_are_the_rule_s() {
        let schema = serde_json::to_value(CreateSetupLink::schema()).unwrap();
        let field = &schema["properties"]["expires_in_seconds"];
        assert_eq!(field["minimum"], SETUP_LINK_MIN_SECONDS);
        assert_eq!(field["maximum"], SETUP_LINK_MAX_SECONDS);
    }
}
