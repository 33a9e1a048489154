use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::OrgAdmin;
use super::body::Object;
use super::schema;
use crate::api_error::{ApiError, ErrorBody};
use crate::provisioning::{self, TeamChanges};
use crate::state::AppState;
use crate::store::{Team, TeamState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::domains)]
    pub preapproved_domains: Vec<String>,
    /// IdP group names or object ids whose members a sign-in puts in the team.
    #[serde(default)]
    pub idp_groups: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeam {
    #[schema(schema_with = schema::name_or_null)]
    pub name: Option<String>,
    #[schema(schema_with = schema::domains_or_null)]
    pub preapproved_domains: Option<Vec<String>>,
    pub idp_groups: Option<Vec<String>>,
}

/// Which teams a listing shows.
#[derive(Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListedState {
    #[default]
    Live,
    /// The deleted, still restorable teams.
    Deleted,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TeamListQuery {
    /// `live` (the default) or `deleted`: the deleted, still restorable teams.
    #[param(inline)]
    pub state: Option<ListedState>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    pub teams: Vec<TeamView>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamView {
    #[serde(flatten)]
    pub team: Team,
    /// For a deleted team: when it will be purged for good (unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<i64>,
}

fn team_view(state: &AppState, team: Team) -> TeamView {
    let retention_ms =
        i64::from(state.config.provisioning.deleted_team_retention_days) * 86_400_000;
    TeamView {
        purge_at: team.deleted_at.map(|at| at + retention_ms),
        team,
    }
}

#[utoipa::path(request_body = CreateTeam, responses((status = 201, body = TeamView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), tag = "teams")]
#[post("/teams")]
pub async fn create_team(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    body: web::Json<Object<CreateTeam>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    schema::check_name("name", &body.name)?;
    schema::check_domains(&body.preapproved_domains)?;
    let team = provisioning::create_team_with(
        &state.store,
        &admin.org_id,
        &body.name,
        &body.preapproved_domains,
        &body.idp_groups,
        &admin.actor,
    )
    .await?;
    Ok(HttpResponse::Created().json(team_view(&state, team)))
}

#[utoipa::path(params(TeamListQuery), responses((status = 200, body = TeamList)), tag = "teams")]
#[get("/teams")]
pub async fn list_teams(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    query: web::Query<TeamListQuery>,
) -> Result<HttpResponse, ApiError> {
    let which = match query.state.unwrap_or_default() {
        ListedState::Live => TeamState::Live,
        ListedState::Deleted => TeamState::Deleted,
    };
    let teams = state.store.teams(&admin.org_id, which).await?;
    Ok(HttpResponse::Ok().json(TeamList {
        teams: teams.into_iter().map(|t| team_view(&state, t)).collect(),
    }))
}

/// A live team. A deleted one answers 404 here (as to every other change);
/// `GET /teams?state=deleted` lists it until it is restored or purged.
#[utoipa::path(responses((status = 200, body = TeamView), (status = 404, body = ErrorBody)), tag = "teams")]
#[get("/teams/{team_id}")]
pub async fn get_team(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let team = state
        .store
        .team(&admin.org_id, &path)
        .await?
        .filter(|team| team.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("team"))?;
    Ok(HttpResponse::Ok().json(team_view(&state, team)))
}

#[utoipa::path(request_body = UpdateTeam, responses((status = 200, body = TeamView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), tag = "teams")]
#[patch("/teams/{team_id}")]
pub async fn update_team(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
    body: web::Json<Object<UpdateTeam>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    if let Some(name) = &body.name {
        schema::check_name("name", name)?;
    }
    if let Some(domains) = &body.preapproved_domains {
        schema::check_domains(domains)?;
    }
    let changes = TeamChanges {
        name: body.name,
        preapproved_domains: body.preapproved_domains,
        idp_groups: body.idp_groups,
    };
    let team =
        provisioning::update_team(&state.store, &admin.org_id, &path, &changes, &admin.actor)
            .await?;
    Ok(HttpResponse::Ok().json(team_view(&state, team)))
}

/// Deletes the team at once; it stays restorable for the retention period.
#[utoipa::path(responses((status = 204), (status = 404, body = ErrorBody)), tag = "teams")]
#[delete("/teams/{team_id}")]
pub async fn delete_team(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    provisioning::delete_team(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(responses((status = 200, body = TeamView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), tag = "teams")]
#[post("/teams/{team_id}/restore")]
pub async fn restore_team(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let team = provisioning::restore_team(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(HttpResponse::Ok().json(team_view(&state, team)))
}
