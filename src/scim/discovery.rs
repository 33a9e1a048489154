//! Discovery (RFC 7644 §4): what this server supports, and nothing more.
//! Read-only: other methods get 405.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::error::ScimError;
use super::schema;
use super::{base_url, scim_json, ScimClient};
use crate::state::AppState;

fn schema_document(
    id: &str,
    name: &str,
    description: &str,
    attributes: &[schema::Attribute],
) -> Value {
    json!({
        "schemas": [schema::SCHEMA],
        "id": id, "name": name, "description": description,
        "attributes": attributes.iter().map(schema::Attribute::describe).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("/Schemas/{id}") },
    })
}

fn all_schemas() -> Vec<Value> {
    vec![
        schema_document(
            schema::USER,
            "User",
            "User Account",
            schema::USER_ATTRIBUTES,
        ),
        schema_document(
            schema::ENTERPRISE_USER,
            "EnterpriseUser",
            "Enterprise User",
            schema::ENTERPRISE_USER_ATTRIBUTES,
        ),
        schema_document(
            schema::GROUP,
            "Group",
            "Group: a team of the organization",
            schema::GROUP_ATTRIBUTES,
        ),
    ]
}

fn list(resources: Vec<Value>) -> Value {
    json!({ "schemas": [schema::LIST_RESPONSE], "totalResults": resources.len(), "startIndex": 1, "itemsPerPage": resources.len(), "Resources": resources })
}

async fn service_provider_config(
    state: web::Data<AppState>,
    client: ScimClient,
) -> Result<HttpResponse, ScimError> {
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [schema::SERVICE_PROVIDER_CONFIG],
            "documentationUri": state.config.external_url("/api/v1/openapi.json"),
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": 1000 },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken", "name": "Bearer token", "primary": true,
                "description": "The Secret/Bearer token shown when provisioning is turned on",
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", base_url(&state, &client.integration.id)) },
        }),
    ))
}

fn resource_type_list(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [schema::RESOURCE_TYPE],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
            "schema": schema::USER,
            "schemaExtensions": [{ "schema": schema::ENTERPRISE_USER, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": [schema::RESOURCE_TYPE],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Group (a team)",
            "schema": schema::GROUP,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

async fn resource_types(
    state: web::Data<AppState>,
    client: ScimClient,
) -> Result<HttpResponse, ScimError> {
    let types = resource_type_list(&base_url(&state, &client.integration.id));
    Ok(scim_json(StatusCode::OK, &list(types)))
}

async fn resource_type(
    state: web::Data<AppState>,
    client: ScimClient,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ScimError> {
    resource_type_list(&base_url(&state, &client.integration.id))
        .into_iter()
        .find(|t| t["id"] == path.1.as_str())
        .map(|t| scim_json(StatusCode::OK, &t))
        .ok_or_else(|| ScimError::not_found(&format!("resource type {}", path.1)))
}

async fn schemas(_client: ScimClient) -> Result<HttpResponse, ScimError> {
    Ok(scim_json(StatusCode::OK, &list(all_schemas())))
}

async fn schema(
    _client: ScimClient,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ScimError> {
    all_schemas()
        .into_iter()
        .find(|s| s["id"] == path.1.as_str())
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found(&format!("schema {}", path.1)))
}

async fn read_only() -> Result<HttpResponse, ScimError> {
    Err(ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "discovery endpoints are read-only",
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ServiceProviderConfig")
            .route(web::get().to(service_provider_config))
            .default_service(web::to(read_only)),
    )
    .service(
        web::resource("/ResourceTypes")
            .route(web::get().to(resource_types))
            .default_service(web::to(read_only)),
    )
    .service(
        web::resource("/ResourceTypes/{name}")
            .route(web::get().to(resource_type))
            .default_service(web::to(read_only)),
    )
    .service(
        web::resource("/Schemas")
            .route(web::get().to(schemas))
            .default_service(web::to(read_only)),
    )
    .service(
        web::resource("/Schemas/{id}")
            .route(web::get().to(schema))
            .default_service(web::to(read_only)),
    );
}
