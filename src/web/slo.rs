//! `GET|POST /users/sign-in/sso/{okta|saml}/{id}/slo`: the SAML Single
//! Logout endpoint (SPEC), for an IdP's LogoutRequests and for its answers
//! to ours. The protocol lives in `saml::slo`; this turns outcomes into
//! redirects and pages.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::saml::{form_config, saml_target, target};
use super::sign_in::{self, message_page, request_reference};
use crate::audit::{Actor, AuditKind, Outcome as AuditOutcome};
use crate::saml::redirect::RedirectParam;
use crate::saml::slo::{self, Incoming, Outcome};
use crate::session;
use crate::signin::{Refusal, RefusalCode};
use crate::state::AppState;
use crate::store::{Integration, NewAuditEvent};

#[derive(Deserialize)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn nothing_to_do() -> Refusal {
    Refusal::new(
        RefusalCode::MissingResponse,
        "this address takes the identity provider's sign-out messages (SAMLRequest or SAMLResponse), and none came",
    )
}

pub async fn slo_get(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> HttpResponse {
    let raw_query = req.query_string().to_string();
    let carries_message = raw_query
        .split('&')
        .any(|p| p.starts_with("SAMLRequest=") || p.starts_with("SAMLResponse="));
    let incoming = carries_message.then_some(Incoming::Redirect {
        raw_query: &raw_query,
    });
    answer(&state, &req, path.into_inner(), incoming, "redirect").await
}

pub async fn slo_post(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<SloForm>,
    req: HttpRequest,
) -> HttpResponse {
    let form = form.into_inner();
    let incoming = match (&form.saml_request, &form.saml_response) {
        (Some(message), None) => Some((RedirectParam::Request, message)),
        (None, Some(message)) => Some((RedirectParam::Response, message)),
        _ => None,
    }
    .map(|(param, message)| Incoming::Post {
        param,
        message,
        relay_state: form.relay_state.as_deref(),
    });
    answer(&state, &req, path.into_inner(), incoming, "post").await
}

async fn answer(
    state: &AppState,
    req: &HttpRequest,
    (kind, id): (String, String),
    incoming: Option<Incoming<'_>>,
    binding: &str,
) -> HttpResponse {
    let (route, saml) = match target(state, req, &kind, &id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let reference = request_reference(req);
    let outcome = match incoming {
        None => Err(nothing_to_do()),
        Some(incoming) => {
            let keys = state.sp_keys.keys().await;
            let target = saml_target(&route, &saml, &keys);
            slo::receive(&state.cache, &state.config, &target, incoming).await
        }
    };
    audit(state, &route.integration, &outcome, binding, &reference).await;
    match outcome {
        Ok(Outcome::IdpLogout { answer, .. }) => {
            let mut response = match answer {
                Some(url) => HttpResponse::Found()
                    .insert_header((header::LOCATION, url))
                    .finish(),
                None => message_page(
                    StatusCode::OK,
                    "You're signed out",
                    "Your identity provider signed you out, and so did this application."
                        .to_string(),
                    "Close this window, or sign in again with your organization's sign-in link."
                        .to_string(),
                    &reference,
                ),
            };
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            // The sessions are gone already; this browser forgets its cookie too.
            let _ = response.add_cookie(&session::removal_cookie(&state.config));
            response
        }
        Ok(Outcome::Finished { return_to, .. }) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, return_to.unwrap_or_else(|| "/".into())))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(refusal) => {
            let status = sign_in::status_of(refusal.code.class());
            message_page(
                status,
                "We couldn't accept this sign-out request",
                format!(
                    "The sign-out message was not accepted: {}.",
                    refusal.detail
                ),
                "If you meant to sign out, sign out again from your identity provider or this application. \
                 If it keeps happening, give your administrator the reference below."
                    .to_string(),
                &reference,
            )
        }
    }
}

/// One audit row per message from an IdP: what it ended, or why not.
async fn audit(
    state: &AppState,
    integration: &Integration,
    outcome: &Result<Outcome, Refusal>,
    binding: &str,
    reference: &str,
) {
    let (result, reason, details) = match outcome {
        Ok(Outcome::IdpLogout { ended, .. }) => (
            AuditOutcome::Success,
            None,
            json!({"direction": "idp", "binding": binding, "sessions_ended": ended, "reference": reference}),
        ),
        Ok(Outcome::Finished { success, .. }) => (
            AuditOutcome::Success,
            None,
            json!({"direction": "sp", "binding": binding, "idp_status_success": success, "reference": reference}),
        ),
        Err(refusal) => (
            AuditOutcome::Failure,
            Some(refusal.reason()),
            json!({"binding": binding, "code": refusal.code.as_str(), "reference": reference}),
        ),
    };
    let event = NewAuditEvent {
        org_id: integration.org_id.clone(),
        kind: AuditKind::SingleLogout,
        outcome: result,
        actor: Actor::Sso(integration.id.clone()),
        subject: None,
        reason,
        details,
    };
    if let Err(e) = state.store.record_audit_alone(&event).await {
        tracing::warn!(error = %e, "could not audit a Single Logout message");
    }
}

pub fn configure(cfg: &mut web::ServiceConfig, max_response_bytes: usize) {
    cfg.service(
        web::resource("/users/sign-in/sso/{kind:okta|saml}/{id}/slo")
            .app_data(form_config(max_response_bytes))
            .route(web::get().to(slo_get))
            .route(web::post().to(slo_post)),
    );
}
