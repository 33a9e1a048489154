//! `/api/v1/domains`: the organization's email domains and their DNS proof.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::OrgAdmin;
use super::body::Object;
use crate::api_error::{ApiError, ErrorBody};
use crate::provisioning;
use crate::state::AppState;
use crate::store::OrgDomain;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    /// The email domain (`example.com`).
    #[schema(max_length = 253)]
    pub domain: String,
}

/// The DNS record that proves the organization owns the domain.
#[derive(Serialize, ToSchema)]
pub struct TxtRecord {
    /// Where to add it (a TXT record on this name).
    pub name: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
pub struct DomainView {
    pub domain: String,
    pub verified: bool,
    pub txt_record: TxtRecord,
    /// When it was verified (unix ms).
    pub verified_at: Option<i64>,
    /// Set when a re-check stopped finding the record (unix ms): the domain
    /// loses its verification once the grace period has passed.
    pub record_missing_since: Option<i64>,
    pub created_at: i64,
}

impl From<&OrgDomain> for DomainView {
    fn from(d: &OrgDomain) -> Self {
        let (name, value) = provisioning::txt_record(d);
        DomainView {
            domain: d.domain.clone(),
            verified: provisioning::is_verified(d),
            txt_record: TxtRecord { name, value },
            verified_at: d.verified_at,
            record_missing_since: d.failing_since,
            created_at: d.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DomainList {
    pub domains: Vec<DomainView>,
}

/// Adds a domain to verify; the answer names the TXT record to publish.
#[utoipa::path(request_body = AddDomain, responses((status = 201, body = DomainView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), tag = "domains")]
#[post("/domains")]
pub async fn add_domain(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    body: web::Json<Object<AddDomain>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    let claim =
        provisioning::claim_domain(&state.store, &admin.org_id, &body.domain, &admin.actor).await?;
    Ok(HttpResponse::Created().json(DomainView::from(&claim)))
}

#[utoipa::path(responses((status = 200, body = DomainList)), tag = "domains")]
#[get("/domains")]
pub async fn list_domains(
    state: web::Data<AppState>,
    admin: OrgAdmin,
) -> Result<HttpResponse, ApiError> {
    let domains = state.store.org_domains(&admin.org_id).await?;
    Ok(HttpResponse::Ok().json(DomainList {
        domains: domains.iter().map(DomainView::from).collect(),
    }))
}

/// Looks the TXT record up now: 200 when it is there, else 422 saying what
/// the look-up found (no record, other values, a DNS failure).
#[utoipa::path(responses((status = 200, body = DomainView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), tag = "domains")]
#[post("/domains/{domain}/verify")]
pub async fn verify_domain(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let domain =
        provisioning::verify_domain(&state.store, &state.dns, &admin.org_id, &path, &admin.actor)
            .await?;
    Ok(HttpResponse::Ok().json(DomainView::from(&domain)))
}

#[utoipa::path(responses((status = 204), (status = 404, body = ErrorBody)), tag = "domains")]
#[delete("/domains/{domain}")]
pub async fn remove_domain(
    state: web::Data<AppState>,
    admin: OrgAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    provisioning::remove_domain(&state.store, &admin.org_id, &path, &admin.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}
