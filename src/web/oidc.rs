//! OpenID Connect routes for `entra` and `oidc` integrations (SPEC): start
//! and the redirect URI (`…/callback`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::integrations::{self, Kind, Settings};
use crate::oidc::{self, Callback, OidcSettings};
use crate::signin::{self, pending, Failure};
use crate::state::AppState;
use crate::store::Integration;

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// The integration behind `/users/sign-in/sso/{kind}/{id}`, its settings and
/// our redirect URI for it — or the refusal page to answer with.
async fn target(
    state: &AppState,
    kind: &str,
    id: &str,
    req: &HttpRequest,
) -> Result<(Integration, OidcSettings, String), HttpResponse> {
    let unknown = || Failure {
        advice: signin::Advice::UnknownIntegration,
        ..Failure::new("unknown_integration", format!("no {kind} integration {id}"))
            .with_status(StatusCode::NOT_FOUND)
    };
    let route_kind = match kind {
        "entra" => Kind::Entra,
        _ => Kind::Oidc,
    };
    let refused = |integration: Option<Integration>, failure: Failure| async move {
        signin::refuse(state, integration.as_ref(), None, failure, req).await
    };
    let integration = match state.store.integration(id).await {
        Ok(Some(i)) if signin::route_matches(route_kind, &i) => i,
        Ok(_) => return Err(refused(None, unknown()).await),
        Err(e) => return Err(refused(None, Failure::unavailable(format!("database: {e}"))).await),
    };
    let Ok(Settings::Oidc(settings)) = integrations::stored_settings(&integration) else {
        let failure = Failure::new(
            "not_configured",
            "the integration's OpenID Connect settings are unreadable",
        );
        return Err(refused(Some(integration), failure).await);
    };
    let redirect_uri = state
        .config
        .external_url(&format!("/users/sign-in/sso/{kind}/{id}/callback"));
    Ok((integration, settings, redirect_uri))
}

/// Redirects to the provider with a fresh authorization request.
pub async fn start(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<StartQuery>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let (integration, settings, redirect_uri) = match target(&state, &kind, &id, &req).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let browser = pending::browser_of(&req);
    match oidc::start(
        &state,
        &integration,
        &settings,
        &redirect_uri,
        query.return_to.as_deref(),
        browser.as_deref(),
    )
    .await
    {
        Ok(started) => HttpResponse::Found()
            .insert_header((header::LOCATION, started.redirect_url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(started.cookie)
            .finish(),
        Err(failure) => signin::refuse(&state, Some(&integration), None, failure, &req).await,
    }
}

/// The redirect URI: the provider sends the browser back here with a code.
pub async fn callback(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let (integration, settings, redirect_uri) = match target(&state, &kind, &id, &req).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    // A malformed query is refused like a missing one, with a page.
    let callback = web::Query::<Callback>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let browser = pending::browser_of(&req);
    match oidc::finish(
        &state,
        &integration,
        &settings,
        &redirect_uri,
        callback,
        browser.as_deref(),
    )
    .await
    {
        Ok((identity, return_to)) => {
            signin::complete(&state, &integration, identity, return_to, &req).await
        }
        Err(failure) => signin::refuse(&state, Some(&integration), None, failure, &req).await,
    }
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
