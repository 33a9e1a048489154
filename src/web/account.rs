//! The signed-in person's routes: `/` (a small page naming them), `/users/me`,
//! `/auth/verify` (forward-auth for reverse proxies) and `/users/sign-out`;
//! plus the stylesheet pages use.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;

use crate::api_error::ApiError;
use crate::pages::html;
use crate::session;
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

/// The session's member, read fresh: someone deprovisioned since signing in
/// has no session any more.
async fn signed_in_member(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(String, Member)>, ApiError> {
    let Some((id, s)) = session::current(&state.cache, &state.config, req).await? else {
        return Ok(None);
    };
    match state.store.member(&s.org_id, &s.user_id).await? {
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
    Ok(html(StatusCode::OK, HomePage { signed_in }.render()))
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

#[post("/users/sign-out")]
pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if session::is_cross_site(&state.config, &req) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "cross_site",
            "sign-out must come from this site",
        ));
    }
    if let Some((id, _)) = session::current(&state.cache, &state.config, &req).await? {
        session::end(&state.cache, &id).await?;
    }
    // A browser's form (the home page's button) is sent back home; API
    // callers get the bare 204 they always had.
    let from_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut answer = if from_form {
        let mut see_other = HttpResponse::SeeOther();
        see_other.insert_header((header::LOCATION, "/"));
        see_other
    } else {
        HttpResponse::NoContent()
    };
    Ok(answer
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
