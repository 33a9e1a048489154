//! Who calls the admin API: an organization admin token (one organization,
//! no other), or the host product's platform API key (the platform routes,
//! and any one organization named by `X-Organization-Id`).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};

use crate::api_error::ApiError;
use crate::provisioning::{self, Actor};
use crate::secrets::{token_hash, token_matches, API_KEY_PREFIX};
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// The header a platform API key names its organization with.
pub const ORGANIZATION_HEADER: &str = "X-Organization-Id";

/// A request that may act on this one organization (and can see no other).
pub struct OrgAdmin {
    pub org_id: String,
    pub actor: Actor,
}

/// A request made with a platform API key, on a platform route.
pub struct PlatformKey {
    pub actor: Actor,
}

/// How far a reader of deployment-wide streams (events) sees: the platform
/// key every organization (or the one it names), an admin token its own.
pub enum Reach {
    Deployment,
    Organization(String),
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `(token id, org id)` of a live admin token: looked up by its SHA-256,
/// then compared in constant time. The admin API and the admin UI sign-in
/// both go through here.
pub async fn verify_admin_token(
    store: &Store,
    token: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let found = store.admin_token_by_hash(&token_hash(token)).await?;
    Ok(found
        .filter(|(_, _, stored)| token_matches(token, stored))
        .map(|(token_id, org_id, _)| (token_id, org_id)))
}

/// Whose bearer credential a request carries.
enum Caller {
    AdminToken { token_id: String, org_id: String },
    ApiKey { key_id: String },
}

/// The request's caller, or 401. The prefix says which kind of credential
/// was sent, so each is looked up in its own table only.
async fn caller(state: &AppState, token: Option<String>) -> Result<Caller, ApiError> {
    let token = token.ok_or_else(|| {
        ApiError::unauthorized(
            "send the organization admin token or a platform API key as \
             `Authorization: Bearer <token>`",
        )
    })?;
    if token.starts_with(API_KEY_PREFIX) {
        return match provisioning::verify_api_key(&state.store, &token).await? {
            Some(key) => Ok(Caller::ApiKey { key_id: key.id }),
            None => Err(ApiError::unauthorized(
                "the API key is not valid (revoked or mistyped?)",
            )),
        };
    }
    match verify_admin_token(&state.store, &token).await? {
        Some((token_id, org_id)) => Ok(Caller::AdminToken { token_id, org_id }),
        None => Err(ApiError::unauthorized(
            "the admin token is not valid (revoked or mistyped?)",
        )),
    }
}

/// What the request says in `X-Organization-Id`. A value that is not
/// text names no organization (and so is answered 404 like any unknown id).
fn named_organization(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(ORGANIZATION_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
}

fn request_parts(req: &HttpRequest) -> (Option<String>, Option<web::Data<AppState>>) {
    (
        bearer_token(req).map(str::to_string),
        req.app_data::<web::Data<AppState>>().cloned(),
    )
}

impl FromRequest for OrgAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let (token, state) = request_parts(req);
        let named = named_organization(req);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            match caller(&state, token).await? {
                // An admin token naming another organization learns
                // nothing about it: the same 404 as an unknown id.
                Caller::AdminToken { org_id, .. }
                    if named.as_ref().is_some_and(|named| *named != org_id) =>
                {
                    Err(ApiError::not_found("organization"))
                }
                Caller::AdminToken { token_id, org_id } => Ok(OrgAdmin {
                    org_id,
                    actor: Actor::AdminToken(token_id),
                }),
                Caller::ApiKey { key_id } => {
                    let named = named.ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "a platform API key acts on one organization at a time: \
                             name it with the `{ORGANIZATION_HEADER}: <org id>` header"
                        ))
                    })?;
                    let org = state
                        .store
                        .organization(&named)
                        .await?
                        .ok_or_else(|| ApiError::not_found("organization"))?;
                    Ok(OrgAdmin {
                        org_id: org.id,
                        actor: Actor::ApiKey(key_id),
                    })
                }
            }
        })
    }
}

impl FromRequest for PlatformKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let (token, state) = request_parts(req);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            match caller(&state, token).await? {
                Caller::ApiKey { key_id } => Ok(PlatformKey {
                    actor: Actor::ApiKey(key_id),
                }),
                Caller::AdminToken { .. } => Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "an organization admin token cannot use the platform routes; \
                     send a platform API key (`sso-gateway api-key create`)",
                )),
            }
        })
    }
}

impl FromRequest for Reach {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let (token, state) = request_parts(req);
        let named = named_organization(req);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            match (caller(&state, token).await?, named) {
                (Caller::AdminToken { org_id, .. }, Some(named)) if named != org_id => {
                    Err(ApiError::not_found("organization"))
                }
                (Caller::AdminToken { org_id, .. }, _) => Ok(Reach::Organization(org_id)),
                (Caller::ApiKey { .. }, None) => Ok(Reach::Deployment),
                (Caller::ApiKey { .. }, Some(named)) => {
                    let org = state
                        .store
                        .organization(&named)
                        .await?
                        .ok_or_else(|| ApiError::not_found("organization"))?;
                    Ok(Reach::Organization(org.id))
                }
            }
        })
    }
}
