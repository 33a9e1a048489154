//! OpenID Connect routes for `entra` and `oidc` integrations (SPEC): start
//! and the redirect URI (`…/callback`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::sign_in::{self, Route};
use crate::integrations::Settings;
use crate::oidc::{self, Callback, OidcSettings};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// The route's integration, its settings and our redirect URI for it — or
/// the refusal page to answer with.
async fn target(
    state: &AppState,
    req: &HttpRequest,
    kind: &str,
    id: &str,
) -> Result<(Route, OidcSettings, String), HttpResponse> {
    let (route, settings) = sign_in::route_or_page(
        state,
        req,
        kind,
        id,
        "OpenID Connect",
        |settings| match settings {
            Settings::Oidc(s) => Some(s.clone()),
            Settings::Saml(_) => None,
        },
    )
    .await?;
    let redirect_uri = format!("{}/callback", route.url);
    Ok((route, settings, redirect_uri))
}

/// Redirects to the provider with a fresh authorization request.
pub async fn start(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<StartQuery>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let (route, settings, redirect_uri) = match target(&state, &req, &kind, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let attempt = oidc::start(
        &state.oidc,
        &route.integration,
        &settings,
        &redirect_uri,
        query.return_to.as_deref(),
        sign_in::browser_of(&state, &req).as_deref(),
    )
    .await;
    sign_in::started(&state, &req, &route, attempt).await
}

/// The redirect URI: the provider sends the browser back here with a code.
pub async fn callback(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let (route, settings, redirect_uri) = match target(&state, &req, &kind, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    // A malformed query is refused like a missing one, with a page.
    let callback = web::Query::<Callback>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let attempt = oidc::finish(
        &state.oidc,
        &route.integration,
        &settings,
        &redirect_uri,
        callback,
        sign_in::browser_of(&state, &req).as_deref(),
    )
    .await;
    sign_in::concluded(&state, &req, &route, attempt).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/users/sign-in/sso/{kind:entra|oidc}/{id}",
        web::get().to(start),
    )
    .route(
        "/users/sign-in/sso/{kind:entra|oidc}/{id}/callback",
        web::get().to(callback),
    );
}
