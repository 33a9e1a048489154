//! The admin JSON API under `/api/v1`, authenticated by an organization
//! admin token. Handlers only parse, call the rules (`provisioning`,
//! `integrations`) and shape the answer.

mod audit;
pub mod auth;
mod integrations;
mod org;
mod teams;
mod users;

use actix_web::middleware::DefaultHeaders;
use actix_web::{get, web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "sso-gateway admin API", description = "Organizations, teams, integrations, provisioning, members and audit."),
    paths(
        org::get_organization, org::update_organization, org::rotate_admin_token,
        teams::create_team, teams::list_teams, teams::get_team, teams::update_team, teams::delete_team, teams::restore_team,
        integrations::create_integration, integrations::list_integrations, integrations::get_integration,
        integrations::update_integration, integrations::delete_integration,
        integrations::enable_provisioning, integrations::disable_provisioning,
        users::list_users, users::get_user, users::update_user, users::remove_user,
        audit::list_audit,
    ),
    modifiers(&BearerAuth),
    security(("admin_token" = [])),
    tags(
        (name = "organization"), (name = "teams", description = "Teams and their pre-approved domains"),
        (name = "integrations", description = "Identity providers and SCIM provisioning"),
        (name = "users", description = "Members of the organization"), (name = "audit"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The API lives under /api/v1; utoipa saw only the in-scope paths.
        openapi.paths.paths = std::mem::take(&mut openapi.paths.paths)
            .into_iter()
            .map(|(path, item)| (format!("/api/v1{path}"), item))
            .collect();
    }
}

#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(DefaultHeaders::new().add(("Cache-Control", "no-store")))
            .service(openapi_json)
            .service(org::get_organization)
            .service(org::update_organization)
            .service(org::rotate_admin_token)
            .service(teams::create_team)
            .service(teams::list_teams)
            .service(teams::get_team)
            .service(teams::update_team)
            .service(teams::delete_team)
            .service(teams::restore_team)
            .service(integrations::create_integration)
            .service(integrations::list_integrations)
            .service(integrations::get_integration)
            .service(integrations::update_integration)
            .service(integrations::delete_integration)
            .service(integrations::enable_provisioning)
            .service(integrations::disable_provisioning)
            .service(users::list_users)
            .service(users::get_user)
            .service(users::update_user)
            .service(users::remove_user)
            .service(audit::list_audit),
    );
}
