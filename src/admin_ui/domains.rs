//! Domains: the email domains the organization proves it owns, with the
//! TXT record to copy and a "Verify" button. A verified domain routes its
//! people from the sign-in page and lets this organization's IdP sign in
//! accounts that also belong to another organization.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{field_errors, page, relative, see_other, Admin, Chrome, FieldErrors, UiError};
use crate::provisioning::{self, RuleError};
use crate::state::AppState;
use crate::store::OrgDomain;

pub struct DomainRow {
    pub domain: String,
    pub verified: bool,
    pub record_name: String,
    pub record_value: String,
    /// Element ids of the two copy fields.
    pub name_id: String,
    pub value_id: String,
    /// When the record went missing, said the way people say it.
    pub missing_since: Option<String>,
    /// Why the last "Verify" did not verify it (only on that re-render).
    pub problem: Option<String>,
}

fn row(domain: &OrgDomain, problem: Option<String>) -> DomainRow {
    let (record_name, record_value) = provisioning::txt_record(domain);
    DomainRow {
        name_id: format!("name-{}", domain.domain),
        value_id: format!("value-{}", domain.domain),
        domain: domain.domain.clone(),
        verified: provisioning::is_verified(domain),
        record_name,
        record_value,
        missing_since: domain.failing_since.map(relative),
        problem,
    }
}

#[derive(Template)]
#[template(path = "admin/domains.html")]
struct DomainsPage {
    chrome: Chrome,
    domains: Vec<DomainRow>,
    new_domain: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

async fn domains_page(
    state: &AppState,
    admin: &Admin,
    done: Option<&str>,
    new_domain: &str,
    errors: FieldErrors,
    problem: Option<(&str, String)>,
) -> Result<HttpResponse, UiError> {
    let status = if errors.is_empty() && problem.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let domains = state
        .store
        .org_domains(&admin.org_id)
        .await?
        .iter()
        .map(|d| {
            let why = problem
                .as_ref()
                .filter(|(name, _)| *name == d.domain)
                .map(|(_, why)| why.clone());
            row(d, why)
        })
        .collect();
    let page_ = DomainsPage {
        chrome: admin.chrome("domains", done),
        domains,
        new_domain: new_domain.to_string(),
        errors,
    };
    Ok(page(admin, status, page_.render()))
}

#[get("/domains")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, UiError> {
    domains_page(
        &state,
        &admin,
        query.done.as_deref(),
        "",
        FieldErrors::default(),
        None,
    )
    .await
}

#[derive(Deserialize)]
struct AddForm {
    domain: Option<String>,
}

#[post("/domains")]
pub async fn add(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form: AddForm = admin.form(&body)?;
    let typed = form.domain.unwrap_or_default();
    match provisioning::claim_domain(&state.store, &admin.org_id, &typed, &admin.actor).await {
        Ok(_) => Ok(see_other("/admin/domains?done=domain_added")),
        Err(e) => {
            let errors = field_errors(e, "domain")?;
            domains_page(&state, &admin, None, &typed, errors, None).await
        }
    }
}

#[post("/domains/{domain}/verify")]
pub async fn verify(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    let domain = path.into_inner();
    let outcome = provisioning::verify_domain(
        &state.store,
        &state.dns,
        &admin.org_id,
        &domain,
        &admin.actor,
    )
    .await;
    match outcome {
        Ok(_) => Ok(see_other("/admin/domains?done=domain_verified")),
        Err(RuleError::Invalid { message, .. } | RuleError::Conflict(message)) => {
            let problem = Some((domain.as_str(), message));
            domains_page(&state, &admin, None, "", FieldErrors::default(), problem).await
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/domains/{domain}/remove")]
pub async fn remove(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    provisioning::remove_domain(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(see_other("/admin/domains?done=domain_removed"))
}
