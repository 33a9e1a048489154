//! The admin JSON API under `/api/v1`, authenticated by an organization
//! admin token or the host product's platform API key (`auth`). Handlers
//! only parse, call the rules (`provisioning`, `integrations`) and shape
//! the answer.

mod audit;
pub mod auth;
mod body;
mod clients;
mod domains;
mod events;
mod integrations;
mod org;
mod platform;
mod schema;
mod teams;
mod users;
mod webhooks;

use std::sync::LazyLock;

use actix_web::dev::ResourceDef;
use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{get, web, HttpRequest, HttpResponse, ResponseError};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api_error::ApiError;
use schema::ExtractorResponses;

#[derive(OpenApi)]
#[openapi(
    info(title = "sso-gateway admin API", description = "Organizations, teams, integrations, provisioning, members and audit; the platform routes of the host product."),
    paths(
        platform::create_organization, platform::list_organizations, platform::get_organization,
        platform::update_organization, platform::create_setup_link,
        clients::create_client, clients::list_clients, clients::delete_client,
        org::get_organization, org::update_organization, org::rotate_admin_token,
        teams::create_team, teams::list_teams, teams::get_team, teams::update_team, teams::delete_team, teams::restore_team,
        integrations::create_integration, integrations::list_integrations, integrations::get_integration,
        integrations::update_integration, integrations::delete_integration,
        integrations::enable_provisioning, integrations::disable_provisioning,
        users::list_users, users::invite_user, users::get_user, users::update_user, users::remove_user,
        domains::add_domain, domains::list_domains, domains::verify_domain, domains::remove_domain,
        audit::list_audit, events::list_events,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook,
        webhooks::delete_webhook, webhooks::rotate_secret, webhooks::list_deliveries,
        webhooks::redeliver,
    ),
    modifiers(&BearerAuth, &CallerScopes, &ExtractorResponses),
    // An organization's routes: its admin token, or the platform API key
    // together with the header naming the organization.
    security(("admin_token" = []), ("api_key" = [], "organization_id" = [])),
    tags(
        (name = "platform", description = "The host product's door, with a platform API key (`sso-gateway api-key create`)"),
        (name = "clients", description = "The product's apps that sign people in with the gateway's OpenID Provider (platform API key)"),
        (name = "organization"), (name = "teams", description = "Teams and their pre-approved domains"),
        (name = "integrations", description = "Identity providers and SCIM provisioning"),
        (name = "users", description = "Members of the organization"), (name = "audit"),
        (name = "domains", description = "Email domains the organization proves it owns (DNS TXT)"),
        (name = "events", description = "Lifecycle events: every change of who belongs where, in order"),
        (name = "webhooks", description = "The lifecycle events pushed to the product (Standard Webhooks), with a platform API key"),
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
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(format!(
                        "A platform API key ({}…). On an organization's routes it goes \
                         with `organization_id`.",
                        crate::secrets::API_KEY_PREFIX,
                    )))
                    .build(),
            ),
        );
        // Modelled as a credential rather than a parameter: it is part of
        // how the API key authenticates on an organization's routes.
        components.add_security_scheme(
            "organization_id",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                auth::ORGANIZATION_HEADER,
                "The id of the organization a platform API key acts on. An admin token \
                 may only name its own organization here.",
            ))),
        );
        // The API lives under /api/v1; utoipa saw only the in-scope paths.
        openapi.paths.paths = std::mem::take(&mut openapi.paths.paths)
            .into_iter()
            .map(|(path, item)| (format!("/api/v1{path}"), item))
            .collect();
    }
}

/// What each kind of caller meets: a platform route answers an admin token
/// 403; an organization's route answers an API key without
/// `X-Organization-Id` 400, and 404 when the header names an organization
/// the caller cannot reach.
struct CallerScopes;

impl Modify for CallerScopes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for operation in schema::operations_mut(openapi) {
            let is_platform = operation
                .tags
                .iter()
                .flatten()
                .any(|tag| tag == platform::TAG || tag == webhooks::TAG);
            if is_platform {
                schema::error_response(
                    operation,
                    "403",
                    "An organization admin token: platform routes take a platform API key",
                );
                continue;
            }
            schema::error_response(
                operation,
                "400",
                "A platform API key without the `X-Organization-Id` header, or a query \
                     parameter or body that cannot be read",
            );
            schema::error_response(
                operation,
                "404",
                "`X-Organization-Id` names no organization this caller may act on, \
                     or the record does not exist",
            );
        }
    }
}

/// Each documented path with the methods it answers, for the `Allow` header.
static ALLOWED_METHODS: LazyLock<Vec<(ResourceDef, HeaderValue)>> = LazyLock::new(|| {
    ApiDoc::openapi()
        .paths
        .paths
        .iter()
        .filter_map(|(path, item)| {
            let methods = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ]
            .into_iter()
            .filter_map(|(method, operation)| operation.as_ref().map(|_| method))
            .collect::<Vec<_>>()
            .join(", ");
            // Method names are ASCII, so every path keeps its header.
            let allow = HeaderValue::from_str(&methods).ok()?;
            Some((ResourceDef::new(path.as_str()), allow))
        })
        .collect()
});

/// A request no route took: 405 with `Allow` on a path the API has (so a
/// client learns which methods it may use), else 404.
async fn unrouted(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    match ALLOWED_METHODS.iter().find(|(def, _)| def.is_match(path)) {
        Some((_, allow)) => {
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{path} answers only {}", allow.to_str().unwrap_or("")),
            )
            .error_response();
            response.headers_mut().insert(ALLOW, allow.clone());
            response
        }
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {} {path}", req.method()),
        )
        .error_response(),
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
            .service(platform::create_organization)
            .service(platform::list_organizations)
            .service(platform::get_organization)
            .service(platform::update_organization)
            .service(platform::create_setup_link)
            .service(clients::create_client)
            .service(clients::list_clients)
            .service(clients::delete_client)
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
            .service(users::invite_user)
            .service(domains::add_domain)
            .service(domains::list_domains)
            .service(domains::verify_domain)
            .service(domains::remove_domain)
            .service(users::get_user)
            .service(users::update_user)
            .service(users::remove_user)
            .service(audit::list_audit)
            .service(events::list_events)
            .service(webhooks::create_webhook)
            .service(webhooks::list_webhooks)
            .service(webhooks::get_webhook)
            .service(webhooks::delete_webhook)
            .service(webhooks::rotate_secret)
            .service(webhooks::list_deliveries)
            .service(webhooks::redeliver)
            .default_service(web::to(unrouted)),
    );
}
