//! SAML routes for `okta` and `saml` integrations (SPEC): start, ACS, SP metadata.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::sign_in::{self, Route};
use crate::integrations::{SamlSettings, Settings};
use crate::saml::keys::KeySet;
use crate::saml::{flow, sp_metadata_xml};
use crate::signin::{Refusal, RefusalCode};
use crate::state::AppState;

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

/// The route's integration and its SAML settings, or the refusal page to
/// answer with.
pub(super) async fn target(
    state: &AppState,
    req: &HttpRequest,
    kind: &str,
    id: &str,
) -> Result<(Route, SamlSettings), HttpResponse> {
    sign_in::route_or_page(state, req, kind, id, "SAML", |settings| match settings {
        Settings::Saml(s) => Some(s.clone()),
        Settings::Oidc(_) => None,
    })
    .await
}

/// What a SAML exchange on this route is between (one place builds it for
/// sign-in, the ACS, Single Logout and sign-out).
pub(super) fn saml_target<'a>(
    route: &'a Route,
    saml: &'a SamlSettings,
    keys: &'a KeySet,
) -> flow::Target<'a> {
    flow::Target {
        integration: &route.integration,
        idp: &saml.idp,
        sp_url: &route.url,
        keys,
        sign_requests: saml.signs_requests(),
        require_encrypted: saml.require_encrypted_assertions,
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
    let (route, saml) = match target(&state, &req, &kind, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let keys = state.sp_keys.keys().await;
    let attempt = flow::start(
        &state.cache,
        &saml_target(&route, &saml, &keys),
        query.return_to.as_deref(),
        sign_in::browser_of(&state, &req).as_deref(),
    )
    .await;
    sign_in::started(&state, &req, &route, attempt).await
}

/// The Assertion Consumer Service, for IdP- and SP-initiated sign-in.
pub async fn acs(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<AcsForm>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let (route, saml) = match target(&state, &req, &kind, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let form = form.into_inner();
    let keys = state.sp_keys.keys().await;
    let attempt = flow::consume(
        &state.cache,
        &state.config.saml,
        &saml_target(&route, &saml, &keys),
        &form.saml_response,
        form.relay_state.as_deref(),
        sign_in::browser_of(&state, &req).as_deref(),
    )
    .await;
    sign_in::concluded(&state, &req, &route, attempt).await
}

pub async fn sp_metadata(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> HttpResponse {
    let (kind, id) = path.into_inner();
    let (route, saml) = match target(&state, &req, &kind, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let keys = state.sp_keys.keys().await;
    match sp_metadata_xml(&route.url, &keys, saml.signs_requests()) {
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
    let refusal = match err {
        actix_web::error::UrlencodedError::Overflow { .. }
        | actix_web::error::UrlencodedError::UnknownLength => {
            Refusal::new(RefusalCode::TooLarge, "the SAMLResponse is too large")
        }
        other => Refusal::new(
            RefusalCode::BadForm,
            format!("the sign-in form could not be read: {other}"),
        ),
    };
    let page = sign_in::refusal_page(&refusal, "form", None);
    actix_web::error::InternalError::from_response(refusal.detail, page).into()
}

/// The form limit and error page of every SAML form post (ACS, SLO).
pub(super) fn form_config(max_response_bytes: usize) -> web::FormConfig {
    // base64 (4/3) plus URL-encoding of its + / = and the RelayState.
    web::FormConfig::default()
        .limit(max_response_bytes * 2 + 8192)
        .error_handler(form_error)
}

pub fn configure(cfg: &mut web::ServiceConfig, max_response_bytes: usize) {
    cfg.service(
        web::resource("/users/sign-in/sso/{kind:okta|saml}/{id}")
            .app_data(form_config(max_response_bytes))
            .route(web::get().to(start))
            .route(web::post().to(acs)),
    )
    .service(
        web::resource("/users/sign-in/sso/{kind:okta|saml}/{id}/metadata")
            .route(web::get().to(sp_metadata)),
    );
}
