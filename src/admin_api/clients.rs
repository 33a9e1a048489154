//! The OpenID Provider's clients (the product's apps), with the platform
//! API key: register, list, delete.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::PlatformKey;
use super::body::Object;
use super::platform::TAG as PLATFORM;
use super::schema;
use crate::api_error::{ApiError, ErrorBody};
use crate::op::clients::{self, NewClient};
use crate::state::AppState;
use crate::store::OpClient;

pub const TAG: &str = "clients";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    #[schema(schema_with = schema::name)]
    pub name: String,
    /// Where codes may be sent: absolute https URLs (http only on
    /// localhost/127.0.0.1), no fragment; matched exactly.
    #[schema(min_items = 1, max_items = 20, value_type = Vec<String>)]
    pub redirect_uris: Vec<String>,
    /// Where `end_session_endpoint` may send the person back to.
    #[serde(default)]
    #[schema(max_items = 20, value_type = Vec<String>)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A browser or native app without a secret; it must use PKCE S256.
    #[serde(default)]
    pub public: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<OpClient> for ClientView {
    fn from(c: OpClient) -> Self {
        ClientView {
            client_id: c.id,
            name: c.name,
            public: c.public,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            created_at: c.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    /// Shown only here; absent for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    /// Oldest first.
    pub clients: Vec<ClientView>,
}

/// Registers an app that signs people in with the gateway's OpenID Provider.
#[utoipa::path(request_body = CreateClient, responses((status = 201, body = CreatedClient), (status = 422, body = ErrorBody)), tags = [PLATFORM, TAG], security(("api_key" = [])))]
#[post("/clients")]
pub async fn create_client(
    state: web::Data<AppState>,
    _key: PlatformKey,
    body: web::Json<Object<CreateClient>>,
) -> Result<HttpResponse, ApiError> {
    let Object(body) = body.into_inner();
    schema::check_name("name", &body.name)?;
    let created = clients::create(
        &state.store,
        &NewClient {
            name: &body.name,
            redirect_uris: &body.redirect_uris,
            post_logout_redirect_uris: &body.post_logout_redirect_uris,
            public: body.public,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(CreatedClient {
        client: created.client.into(),
        client_secret: created.client_secret,
    }))
}

#[utoipa::path(responses((status = 200, body = ClientList)), tags = [PLATFORM, TAG], security(("api_key" = [])))]
#[get("/clients")]
pub async fn list_clients(
    state: web::Data<AppState>,
    _key: PlatformKey,
) -> Result<HttpResponse, ApiError> {
    let clients = state.store.op_clients().await?;
    Ok(HttpResponse::Ok().json(ClientList {
        clients: clients.into_iter().map(ClientView::from).collect(),
    }))
}

/// Deletes a client: its codes and access tokens stop working.
#[utoipa::path(responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)), tags = [PLATFORM, TAG], security(("api_key" = [])))]
#[delete("/clients/{client_id}")]
pub async fn delete_client(
    state: web::Data<AppState>,
    _key: PlatformKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    clients::delete(&state.store, &path).await?;
    state.op.forget_client(&path);
    Ok(HttpResponse::NoContent().finish())
}
