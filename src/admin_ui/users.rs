//! Members of the organization: role, teams, SCIM-managed, removal.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{field_errors, page, see_other, when, Admin, Chrome, FieldErrors, UiError};
use crate::provisioning;
use crate::state::AppState;
use crate::store::{email_key, Member, Role};

const PAGE_SIZE: i64 = 100;

#[derive(Deserialize)]
pub struct UsersQuery {
    done: Option<String>,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    members: Vec<Member>,
    next: Option<String>,
    /// The invitation form as typed, when it is shown again.
    invite_email: String,
    errors: FieldErrors,
}

impl UsersPage {
    fn joined(&self, member: &Member) -> String {
        when(member.joined_at)
    }
}

async fn users_page(
    state: &AppState,
    admin: &Admin,
    query: &UsersQuery,
    invite_email: &str,
    errors: FieldErrors,
) -> Result<HttpResponse, UiError> {
    let members = state
        .store
        .members(&admin.org_id, query.after.as_deref(), PAGE_SIZE)
        .await?;
    let next = (members.len() as i64 == PAGE_SIZE)
        .then(|| members.last().map(|m| email_key(&m.email)))
        .flatten();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page_ = UsersPage {
        chrome: admin.chrome("users", query.done.as_deref()),
        members,
        next,
        invite_email: invite_email.to_string(),
        errors,
    };
    Ok(page(admin, status, page_.render()))
}

#[get("/users")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, UiError> {
    users_page(&state, &admin, &query, "", FieldErrors::default()).await
}

#[derive(Deserialize)]
struct InviteForm {
    email: Option<String>,
    role: Option<String>,
}

/// Adds a person by email (an invitation), as `POST /api/v1/users` does.
#[post("/users")]
pub async fn invite(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form: InviteForm = admin.form(&body)?;
    let email = form.email.unwrap_or_default();
    let role: Role = form
        .role
        .as_deref()
        .unwrap_or("member")
        .parse()
        .map_err(|_| UiError::bad_form("role must be owner, admin or member"))?;
    let invited =
        provisioning::invite_member(&state.store, &admin.org_id, &email, role, &[], &admin.actor)
            .await;
    match invited {
        Ok(_) => Ok(see_other("/admin/users?done=invited")),
        Err(e) => {
            let errors = field_errors(e, "email")?;
            let query = UsersQuery {
                done: None,
                after: None,
            };
            users_page(&state, &admin, &query, &email, errors).await
        }
    }
}

#[derive(Deserialize)]
struct RoleForm {
    role: Option<String>,
}

#[post("/users/{id}/role")]
pub async fn set_role(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form: RoleForm = admin.form(&body)?;
    let role: Role = form
        .role
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|_| UiError::bad_form("role must be owner, admin or member"))?;
    provisioning::set_member_role(&state.store, &admin.org_id, &path, role, &admin.actor).await?;
    Ok(see_other("/admin/users?done=role_saved"))
}

#[derive(Template)]
#[template(path = "admin/user_remove.html")]
struct RemovePage {
    chrome: Chrome,
    member: Member,
}

#[get("/users/{id}/remove")]
pub async fn remove_page(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let member = state
        .store
        .member(&admin.org_id, &path)
        .await?
        .ok_or_else(|| UiError::not_found("member"))?;
    let page_ = RemovePage {
        chrome: admin.chrome("users", None),
        member,
    };
    Ok(page(&admin, StatusCode::OK, page_.render()))
}

#[post("/users/{id}/remove")]
pub async fn remove(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    provisioning::deprovision_member(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(see_other("/admin/users?done=removed"))
}
