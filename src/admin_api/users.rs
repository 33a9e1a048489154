use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::OrgAdmin;
use super::body::Object;
use crate::api_error::{ApiError, ErrorBody};
use crate::provisioning;
use crate::state::AppState;
use crate::store::{Member, Role};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<Member>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteMember {
    #[schema(max_length = 320)]
    pub email: String,
    /// Default `member`.
    pub role: Option<Role>,
    /// Ids of live teams to put them in.
    #[serde(default)]
    pub teams: Vec<String>,
}

/// Adds a person by email (an invitation): they are a member at once, and
/// this organization's IdP may sign them in even if their account also
/// belongs to another organization.
#[utoipa::path(request_body = InviteMember, responses((status = 201, body = Member), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), tag = "users")]
#[post("/users")]
pub async fn invite_user(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    body: web::Json<Object<InviteMember>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    let user = provisioning::invite_member(
        &state.store,
        &admin.org_id,
        &body.email,
        body.role.unwrap_or(Role::Member),
        &body.teams,
        &admin.actor,
    )
    .await?;
    let member = state
        .store
        .member(&admin.org_id, &user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    Ok(HttpResponse::Created().json(member))
}

pub(super) fn page_limit(limit: Option<i64>, default: i64) -> Result<i64, ApiError> {
    match limit.unwrap_or(default) {
        n @ 1..=1000 => Ok(n),
        n => Err(ApiError::bad_request(format!(
            "limit must be between 1 and 1000, not {n}"
        ))),
    }
}

/// The organization's current members, ordered by email.
#[utoipa::path(params(UserListQuery), responses((status = 200, body = UserList)), tag = "users")]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    query: web::Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit, 100)?;
    let users = state
        .store
        .members(&admin.org_id, query.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| crate::store::email_key(&u.email)))
        .flatten();
    Ok(HttpResponse::Ok().json(UserList { users, next_cursor }))
}

#[utoipa::path(responses((status = 200, body = Member), (status = 404, body = ErrorBody)), tag = "users")]
#[get("/users/{user_id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let member = state
        .store
        .member(&admin.org_id, &path)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    Ok(HttpResponse::Ok().json(member))
}

#[utoipa::path(request_body = UpdateMember, responses((status = 200, body = Member), (status = 404, body = ErrorBody)), tag = "users")]
#[patch("/users/{user_id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
    body: web::Json<Object<UpdateMember>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    provisioning::set_member_role(&state.store, &admin.org_id, &path, body.role, &admin.actor)
        .await?;
    let member = state
        .store
        .member(&admin.org_id, &path)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    Ok(HttpResponse::Ok().json(member))
}

/// Removes the member from the organization and its teams, by the same
/// rule as SCIM deprovisioning.
#[utoipa::path(responses((status = 204), (status = 404, body = ErrorBody)), tag = "users")]
#[delete("/users/{user_id}")]
pub async fn remove_user(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    provisioning::deprovision_member(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}
