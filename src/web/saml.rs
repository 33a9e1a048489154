//! SAML routes for `okta` and `saml` integrations (SPEC): start, ACS, SP metadata.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::integrations::{self, Kind, Settings};
use crate::saml::{flow, sp_metadata_xml, IdpDescriptor};
use crate::signin::{self, pending, Failure};
use crate::state::AppState;
use crate::store::Integration;

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn route_kind(kind: &str) -> Option<Kind> {
    match kind {
        "okta" => Some(Kind::Okta),
        "saml" => Some(Kind::Saml),
        _ => None,
    }
}

/// The integration behind `/users/sign-in/sso/{kind}/{id}`, with its IdP.
async fn resolve(
    state: &AppState,
    kind: &str,
    id: &str,
) -> Result<(Integration, IdpDescriptor), (Option<Integration>, Failure)> {
    let unknown = || Failure {
        advice: signin::Advice::UnknownIntegration,
        ..Failure::new("unknown_integration", format!("no {kind} integration {id}"))
            .with_status(StatusCode::NOT_FOUND)
    };
    let Some(route_kind) = route_kind(kind) else {
        return Err((None, unknown()));
    };
    let integration = match state.store.integration(id).await {
        Ok(Some(i)) if signin::route_matches(route_kind, &i) => i,
        Ok(_) => return Err((None, unknown())),
        Err(e) => return Err((None, Failure::unavailable(format!("database: {e}")))),
    };
    match integrations::stored_settings(&integration) {
        Ok(Settings::Saml(s)) => Ok((integration, s.idp)),
        _ => {
            let failure = Failure::new(
                "not_configured",
                "the integration's SAML settings are unreadable",
            );
            Err((Some(integration), failure))
        }
    }
}

/// The route's integration, its IdP and our URL for it (entity ID = ACS),
/// or the refusal page to answer with.
async fn target(
    state: &AppState,
    kind: &str,
    id: &str,
    req: &HttpRequest,
) -> Result<(Integration, IdpDescriptor, String), HttpResponse> {
    match resolve(state, kind, id).await {
        Ok((integration, idp)) => {
            let sp_url = state
                .config
                .external_url(&format!("/users/sign-in/sso/{kind}/{id}"));
            Ok((integration, idp, sp_url))
        }
        Err((integration, failure)) => {
            Err(signin::refuse(state, integration.as_ref(), None, failure, req).await)
        }
    }
}

/// SP-initiated: redirect to the IdP with an AuthnRequest.
pub async fn start(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<StartQuery>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let (integration, idp, sp) = match target(&state, &kind, &id, &req).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match flow::start(
        &state,
        &integration,
        &idp,
        &sp,
        query.return_to.as_deref(),
        pending::browser_of(&req).as_deref(),
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

/// The Assertion Consumer Service, for IdP- and SP-initiated sign-in.
pub async fn acs(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<AcsForm>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let (integration, idp, sp) = match target(&state, &kind, &id, &req).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let form = form.into_inner();
    match flow::consume(
        &state,
        &integration,
        &idp,
        &sp,
        &form.saml_response,
        form.relay_state.as_deref(),
        pending::browser_of(&req).as_deref(),
    )
    .await
    {
        Ok((identity, return_to)) => {
            signin::complete(&state, &integration, identity, return_to, &req).await
        }
        Err(failure) => signin::refuse(&state, Some(&integration), None, failure, &req).await,
    }
}

pub async fn sp_metadata(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let sp = match target(&state, &kind, &id, &req).await {
        Ok((_, _, sp)) => sp,
        Err(page) => return page,
    };
    match sp_metadata_xml(&sp) {
        Ok(xml) => HttpResponse::Ok()
            .content_type("application/samlmetadata+xml")
            .body(xml),
        Err(e) => {
            tracing::error!(error = %e, "SP metadata generation failed");
            HttpResponse::InternalServerError().body("metadata generation failed")
        }
    }
}

/// A form body the ACS cannot read (too large, not a form) still gets a page.
fn form_error(err: actix_web::error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    let failure = match err {
        actix_web::error::UrlencodedError::Overflow { .. }
        | actix_web::error::UrlencodedError::UnknownLength => {
            Failure::new("too_large", "the SAMLResponse is too large")
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        }
        other => Failure::new(
            "bad_form",
            format!("the sign-in form could not be read: {other}"),
        )
        .with_status(StatusCode::BAD_REQUEST),
    };
    let page = signin::refusal_page(&failure, "form", None);
    actix_web::error::InternalError::from_response(failure.detail, page).into()
}

pub fn configure(cfg: &mut web::ServiceConfig, max_response_bytes: usize) {
    // base64 (4/3) plus URL-encoding of its + / = and the RelayState.
    let form_limit = max_response_bytes * 2 + 8192;
    cfg.service(
        web::resource("/users/sign-in/sso/{kind:okta|saml}/{id}")
            .app_data(
                web::FormConfig::default()
                    .limit(form_limit)
                    .error_handler(form_error),
            )
            .route(web::get().to(start))
            .route(web::post().to(acs)),
    )
    .service(
        web::resource("/users/sign-in/sso/{kind:okta|saml}/{id}/metadata")
            .route(web::get().to(sp_metadata)),
    );
}
