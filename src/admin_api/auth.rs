//! Organization admin token authentication.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use crate::api_error::ApiError;
use crate::provisioning::Actor;
use crate::secrets::{token_hash, token_matches};
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// A request made with a valid admin token: it acts on this one
/// organization and can see no other.
pub struct OrgAdmin {
    pub org_id: String,
    pub actor: Actor,
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

impl FromRequest for OrgAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_string);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let token = token.ok_or_else(|| {
                ApiError::unauthorized(
                    "send the organization admin token as `Authorization: Bearer <token>`",
                )
            })?;
            match verify_admin_token(&state.store, &token).await? {
                Some((token_id, org_id)) => Ok(OrgAdmin {
                    org_id,
                    actor: Actor::AdminToken(token_id),
                }),
                None => Err(ApiError::unauthorized(
                    "the admin token is not valid (revoked or mistyped?)",
                )),
            }
        })
    }
}
