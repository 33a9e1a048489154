//! The extractors every SCIM handler takes: the authenticated client and the
//! JSON body, so handlers hold only what the operation does.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{LocalBoxFuture, Shared};
use futures_util::{FutureExt, StreamExt};
use serde_json::Value;

use super::error::ScimError;
use crate::provisioning::Actor;
use crate::secrets::token_matches;
use crate::state::AppState;
use crate::store::Integration;

/// An authenticated SCIM client: the integration whose token it holds.
#[derive(Clone)]
pub struct ScimClient {
    pub integration: Integration,
    pub actor: Actor,
}

fn unauthorized() -> ScimError {
    ScimError::new(
        StatusCode::UNAUTHORIZED,
        None,
        "a valid bearer token for this tenant is required",
    )
}

impl ScimClient {
    /// Checks the bearer token and the rate limit of integration `id`.
    async fn authenticate(
        state: &AppState,
        id: &str,
        token: Option<&str>,
    ) -> Result<ScimClient, ScimError> {
        let token = token.ok_or_else(unauthorized)?;
        let integration = state
            .store
            .integration(id)
            .await?
            .ok_or_else(unauthorized)?;
        let stored = integration
            .scim_token_hash
            .as_deref()
            .ok_or_else(unauthorized)?;
        if !token_matches(token, stored) {
            return Err(unauthorized());
        }
        let limit = u64::from(state.config.scim.rate_limit_per_minute);
        // The budget lives in the cache. When the cache is down, provisioning
        // goes on unmetered (the token was checked against the database)
        // rather than stopping every user change at the IdP.
        let used = match state
            .cache
            .increment(
                &format!("scim:rate:{}", integration.id),
                Duration::from_secs(60),
            )
            .await
        {
            Ok(used) => used,
            Err(e) => {
                tracing::warn!(error = %e, "SCIM rate limit not applied: cache unavailable");
                0
            }
        };
        if used > limit {
            let mut err = ScimError::new(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                format!("more than {limit} requests a minute; retry later"),
            );
            err.retry_after = Some(60);
            return Err(err);
        }
        Ok(ScimClient {
            actor: Actor::Scim(integration.id.clone()),
            integration,
        })
    }
}

type Authentication = Shared<LocalBoxFuture<'static, Result<Rc<ScimClient>, ScimError>>>;

/// The request's one authentication, shared by every extractor that needs
/// it: actix polls a handler's extractors together, and the body must not be
/// read (nor the rate limit counted twice) before the token is checked. The
/// future owns copies of what it reads, not the request, which holds it.
fn authentication(req: &HttpRequest) -> Authentication {
    if let Some(started) = req.extensions().get::<Authentication>() {
        return started.clone();
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let id = req
        .match_info()
        .get("integration")
        .unwrap_or_default()
        .to_string();
    let token = crate::admin_api::auth::bearer_token(req).map(str::to_string);
    let started = async move {
        let state = state.ok_or_else(|| {
            ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error")
        })?;
        ScimClient::authenticate(&state, &id, token.as_deref())
            .await
            .map(Rc::new)
    }
    .boxed_local()
    .shared();
    req.extensions_mut().insert(started.clone());
    started
}

impl FromRequest for ScimClient {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ScimError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authentication = authentication(req);
        Box::pin(async move { Ok(ScimClient::clone(&*authentication.await?)) })
    }
}

/// A JSON body of any (or no) media type, at most `scim.max_body_bytes`,
/// read once the client is authenticated.
pub struct ScimJson(pub Value);

impl FromRequest for ScimJson {
    type Error = ScimError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ScimError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authentication = authentication(req);
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(0, |state| state.config.scim.max_body_bytes);
        let payload = payload.take();
        Box::pin(async move {
            authentication.await?;
            read_json(payload, limit).await.map(ScimJson)
        })
    }
}

async fn read_json(mut payload: Payload, limit: usize) -> Result<Value, ScimError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ScimError::bad("invalidSyntax", format!("could not read the body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                format!("the body is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not valid JSON: {e}")))
}
