//! Teams: list and create, configure pre-approved domains (the Okta
//! guide's "three dots → Configure"), members, delete and restore.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{
    field_errors, page, relative, see_other, Admin, Chrome, DoneQuery, FieldErrors, UiError,
};
use crate::provisioning::{self, TeamChanges};
use crate::state::AppState;
use crate::store::{Member, Team, TeamState};

/// Members a team page lists at most (the members page pages through all).
const TEAM_MEMBERS_SHOWN: i64 = 1000;

/// Domains as typed: one per line, or separated by commas or spaces.
fn domain_list(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// IdP groups as typed: one per line (names may hold spaces and commas).
pub(super) fn group_lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

pub struct DeletedTeam {
    pub team: Team,
    pub purge_in: String,
}

#[derive(Template)]
#[template(path = "admin/teams.html")]
struct TeamsPage {
    chrome: Chrome,
    teams: Vec<Team>,
    deleted: Vec<DeletedTeam>,
    name: String,
    domains: String,
    errors: FieldErrors,
    /// The organization's verified domains, to mark pre-approved ones.
    verified: Vec<String>,
}

async fn teams_page(
    state: &AppState,
    admin: &Admin,
    done: Option<&str>,
    form: Option<&TeamForm>,
    errors: FieldErrors,
) -> Result<HttpResponse, UiError> {
    let retention_ms =
        i64::from(state.config.provisioning.deleted_team_retention_days) * 86_400_000;
    let teams = state.store.teams(&admin.org_id, TeamState::Live).await?;
    let deleted = state
        .store
        .teams(&admin.org_id, TeamState::Deleted)
        .await?
        .into_iter()
        .map(|team| DeletedTeam {
            purge_in: team
                .deleted_at
                .map(|at| relative(at + retention_ms))
                .unwrap_or_default(),
            team,
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let verified = state
        .store
        .org_domains(&admin.org_id)
        .await?
        .into_iter()
        .filter(provisioning::is_verified)
        .map(|d| d.domain)
        .collect();
    let page_ = TeamsPage {
        chrome: admin.chrome("teams", done),
        teams,
        deleted,
        verified,
        name: form.and_then(|f| f.name.clone()).unwrap_or_default(),
        domains: form
            .and_then(|f| f.preapproved_domains.clone())
            .unwrap_or_default(),
        errors,
    };
    Ok(page(admin, status, page_.render()))
}

#[get("/teams")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, UiError> {
    teams_page(
        &state,
        &admin,
        query.done.as_deref(),
        None,
        FieldErrors::default(),
    )
    .await
}

#[derive(Deserialize)]
struct TeamForm {
    name: Option<String>,
    preapproved_domains: Option<String>,
    idp_groups: Option<String>,
}

#[post("/teams")]
pub async fn create(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form: TeamForm = admin.form(&body)?;
    let domains = domain_list(form.preapproved_domains.as_deref().unwrap_or_default());
    let created = provisioning::create_team(
        &state.store,
        &admin.org_id,
        form.name.as_deref().unwrap_or_default(),
        &domains,
        &admin.actor,
    )
    .await;
    match created {
        Ok(_) => Ok(see_other("/admin/teams?done=team_created")),
        Err(e) => {
            let errors = field_errors(e, "name")?;
            teams_page(&state, &admin, None, Some(&form), errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/team.html")]
struct TeamPage {
    chrome: Chrome,
    team: Team,
    name: String,
    domains: String,
    idp_groups: String,
    members: Vec<Member>,
    errors: FieldErrors,
}

async fn team_page(
    state: &AppState,
    admin: &Admin,
    team: Team,
    done: Option<&str>,
    form: Option<&TeamForm>,
    errors: FieldErrors,
) -> Result<HttpResponse, UiError> {
    let members = state
        .store
        .members(&admin.org_id, None, TEAM_MEMBERS_SHOWN)
        .await?
        .into_iter()
        .filter(|m| m.teams.iter().any(|t| t.id == team.id))
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page_ = TeamPage {
        chrome: admin.chrome("teams", done),
        name: form
            .and_then(|f| f.name.clone())
            .unwrap_or_else(|| team.name.clone()),
        domains: form
            .and_then(|f| f.preapproved_domains.clone())
            .unwrap_or_else(|| team.preapproved_domains.join("\n")),
        idp_groups: form
            .and_then(|f| f.idp_groups.clone())
            .unwrap_or_else(|| team.idp_groups.join("\n")),
        team,
        members,
        errors,
    };
    Ok(page(admin, status, page_.render()))
}

async fn live_team(state: &AppState, admin: &Admin, id: &str) -> Result<Team, UiError> {
    state
        .store
        .team(&admin.org_id, id)
        .await?
        .filter(|t| t.deleted_at.is_none())
        .ok_or_else(|| UiError::not_found("team"))
}

#[get("/teams/{id}")]
pub async fn configure_page(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, UiError> {
    let team = live_team(&state, &admin, &path).await?;
    team_page(
        &state,
        &admin,
        team,
        query.done.as_deref(),
        None,
        FieldErrors::default(),
    )
    .await
}

/// "Save changes": the name, the pre-approved domains and the IdP groups.
#[post("/teams/{id}")]
pub async fn save(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form: TeamForm = admin.form(&body)?;
    let changes = TeamChanges {
        name: form.name.clone(),
        preapproved_domains: form.preapproved_domains.as_deref().map(domain_list),
        idp_groups: form.idp_groups.as_deref().map(group_lines),
    };
    match provisioning::update_team(&state.store, &admin.org_id, &path, &changes, &admin.actor)
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/admin/teams/{}?done=team_saved",
            path.as_str()
        ))),
        Err(e) => {
            let errors = field_errors(e, "name")?;
            let team = live_team(&state, &admin, &path).await?;
            team_page(&state, &admin, team, None, Some(&form), errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/team_delete.html")]
struct DeletePage {
    chrome: Chrome,
    team: Team,
    retention_days: u32,
}

#[get("/teams/{id}/delete")]
pub async fn delete_page(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let team = live_team(&state, &admin, &path).await?;
    let page_ = DeletePage {
        chrome: admin.chrome("teams", None),
        team,
        retention_days: state.config.provisioning.deleted_team_retention_days,
    };
    Ok(page(&admin, StatusCode::OK, page_.render()))
}

#[post("/teams/{id}/delete")]
pub async fn delete(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    provisioning::delete_team(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(see_other("/admin/teams?done=team_deleted"))
}

#[post("/teams/{id}/restore")]
pub async fn restore(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    provisioning::restore_team(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(see_other("/admin/teams?done=team_restored"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_one_per_line_or_comma_separated() {
        assert_eq!(
            domain_list("acme.com\r\n example.org, b.io  c.io\n"),
            vec!["acme.com", "example.org", "b.io", "c.io"]
        );
        assert!(domain_list("  \n ").is_empty());
    }

    #[test]
    fn idp_groups_one_per_line_keeping_spaces_and_commas() {
        assert_eq!(
            group_lines(" Eng, Berlin \r\n\n72f988bf-86f1-41af-91ab-2d7cd011db47\n"),
            vec!["Eng, Berlin", "72f988bf-86f1-41af-91ab-2d7cd011db47"]
        );
    }
}
