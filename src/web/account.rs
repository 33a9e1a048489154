//! The signed-in person's routes: `/` (a small page naming them), `/users/me`,
//! `/auth/verify` (forward-auth for reverse proxies) and `/users/sign-out`;
//! plus the stylesheet pages use.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::{Deserialize, Serialize};

use super::sign_in;
use crate::api_error::ApiError;
use crate::integrations::Settings;
use crate::pages::{html_with_policy, LEAVING_PAGE_CSP};
use crate::saml::slo;
use crate::session::{self, Session};
use crate::signin::safe_return_path;
use crate::state::AppState;
use crate::store::{Member, MemberTeam};

#[derive(Serialize)]
struct Me {
    id: String,
    email: String,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    role: crate::store::Role,
    organization: OrgRef,
    teams: Vec<MemberTeam>,
}

#[derive(Serialize)]
struct OrgRef {
    id: String,
    name: String,
}

/// The session's member as the directory has it now (remembered only while
/// the organization's version, shared by every instance, has not moved):
/// someone deprovisioned since signing in has no session any more.
async fn signed_in_member(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(String, Member)>, ApiError> {
    let Some((id, s, version)) = session::current_with_version(
        &state.cache,
        &state.config,
        req,
        &state.session_orgs,
        |org_id| state.store.member_version_key(org_id),
    )
    .await?
    else {
        return Ok(None);
    };
    let member = match version {
        Some(version) => {
            state
                .store
                .member_at(&s.org_id, &s.user_id, version)
                .await?
        }
        None => state.store.member(&s.org_id, &s.user_id).await?,
    };
    match member {
        Some(member) => Ok(Some((s.org_id, member))),
        None => {
            session::end(&state.cache, &id).await?;
            Ok(None)
        }
    }
}

fn not_signed_in() -> ApiError {
    ApiError::unauthorized("not signed in")
}

#[get("/users/me")]
pub async fn me(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (org_id, member) = signed_in_member(&state, &req)
        .await?
        .ok_or_else(not_signed_in)?;
    let org = state
        .store
        .organization(&org_id)
        .await?
        .ok_or_else(not_signed_in)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Me {
            id: member.id,
            email: member.email,
            given_name: member.given_name,
            family_name: member.family_name,
            display_name: member.display_name,
            role: member.role,
            organization: OrgRef {
                id: org.id,
                name: org.name,
            },
            teams: member.teams,
        }))
}

/// Who the home page names.
struct SignedInAs {
    name: String,
    email: String,
    organization: String,
    teams: Vec<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    signed_in: Option<SignedInAs>,
}

/// Where a sign-in lands by default (`server.after_sign_in_url = "/"`):
/// who is signed in and where, or how to sign in.
#[get("/")]
pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let signed_in = match signed_in_member(&state, &req).await? {
        Some((org_id, member)) => {
            let organization = state
                .store
                .organization(&org_id)
                .await?
                .map_or_else(|| org_id.clone(), |o| o.name);
            Some(SignedInAs {
                name: member
                    .display_name
                    .clone()
                    .unwrap_or_else(|| member.email.clone()),
                email: member.email,
                organization,
                teams: member.teams.into_iter().map(|t| t.name).collect(),
            })
        }
        None => None,
    };
    // Signing out may go on to the identity provider's sign-out, and
    // browsers hold a form's redirects to `form-action`.
    Ok(html_with_policy(
        StatusCode::OK,
        HomePage { signed_in }.render(),
        LEAVING_PAGE_CSP,
    ))
}

/// Team names may hold any character; in a header list they are
/// percent-encoded where needed (`,` separates, `%` escapes, non-ASCII).
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b',').add(b'%');

fn header_safe(value: &str) -> String {
    utf8_percent_encode(value, HEADER_UNSAFE).to_string()
}

/// 200 with the identity headers for a live session, else 401.
#[get("/auth/verify")]
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (org_id, member) = signed_in_member(&state, &req)
        .await?
        .ok_or_else(not_signed_in)?;
    let teams: Vec<String> = member.teams.iter().map(|t| header_safe(&t.name)).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Auth-User-Id", member.id))
        .insert_header(("X-Auth-Email", header_safe(&member.email)))
        .insert_header(("X-Auth-Org", org_id))
        .insert_header(("X-Auth-Teams", teams.join(",")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

#[derive(Deserialize)]
pub struct SignOutQuery {
    return_to: Option<String>,
}

/// Ends the identity provider's session behind ours where it lets us: the
/// URL to send the browser to (SAML Single Logout, OIDC end-session), or
/// `None`. A provider that cannot be reached costs nothing but a log line:
/// the session here is already over.
async fn upstream_sign_out(
    state: &AppState,
    session: &Session,
    return_to: Option<String>,
) -> Option<String> {
    let integration = state
        .store
        .integration(&session.integration_id)
        .await
        .ok()
        .flatten()?;
    let route = sign_in::route_of(state, integration).ok()?;
    let attempt = match (&route.settings, &session.saml) {
        (Settings::Saml(saml), Some(login)) => {
            let keys = state.sp_keys.keys().await;
            let target = super::saml::saml_target(&route, saml, &keys);
            slo::start(&state.cache, &target, login, return_to).await
        }
        (Settings::Oidc(oidc), _) => crate::oidc::end_session_url(&state.oidc, oidc).await,
        (Settings::Saml(_), None) => Ok(None),
    };
    attempt.unwrap_or_else(|refusal| {
        tracing::warn!(code = refusal.code.as_str(), detail = %refusal.detail, "the identity provider's session was not ended");
        None
    })
}

#[post("/users/sign-out")]
pub async fn sign_out(
    state: web::Data<AppState>,
    query: web::Query<SignOutQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if session::is_cross_site(&state.config, &req) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "cross_site",
            "sign-out must come from this site",
        ));
    }
    let ended = session::current(&state.cache, &state.config, &req).await?;
    if let Some((id, _)) = &ended {
        session::end(&state.cache, id).await?;
    }
    let return_to = safe_return_path(query.return_to.as_deref());
    // A browser's form (the home page's button) is sent on — to the
    // identity provider's sign-out when it has one, else back home; API
    // callers get the bare 204 they always had.
    let from_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut answer = if from_form {
        let upstream = match &ended {
            Some((_, s)) => upstream_sign_out(&state, s, return_to.clone()).await,
            None => None,
        };
        let to = upstream.or(return_to).unwrap_or_else(|| "/".into());
        let mut see_other = HttpResponse::SeeOther();
        see_other.insert_header((header::LOCATION, to));
        see_other
    } else {
        HttpResponse::NoContent()
    };
    Ok(answer
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session::removal_cookie(&state.config))
        .finish())
}

#[get("/assets/app.css")]
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../assets/app.css"))
}
