//! The OpenID Provider's routes: discovery, authorize, token, userinfo,
//! JWKS and end-session. The protocol is `crate::op`; this only reads
//! requests and shapes answers.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::json;

use crate::admin_api::auth::bearer_token;
use crate::op::authorize::{self, Answer};
use crate::op::logout::{self, Logout};
use crate::op::token::{self, TokenError, UserinfoError};
use crate::op::{self, OpError, Services};
use crate::pages::html;
use crate::session;
use crate::state::AppState;

fn services(state: &AppState) -> Services<'_> {
    Services {
        store: &state.store,
        cache: &state.cache,
        config: &state.config,
        provider: &state.op,
    }
}

#[derive(Template)]
#[template(path = "op_page.html")]
struct OpPage<'a> {
    headline: &'a str,
    explanation: String,
    what_to_do: &'a str,
    alert: bool,
}

fn page(status: StatusCode, headline: &str, explanation: String, what_to_do: &str) -> HttpResponse {
    let alert = status != StatusCode::OK;
    html(
        status,
        OpPage {
            headline,
            explanation,
            what_to_do,
            alert,
        }
        .render(),
    )
}

fn unavailable_page(e: &OpError) -> HttpResponse {
    tracing::warn!(error = %e, "OpenID Provider request failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is temporarily unavailable",
        "Part of our service is not responding.".into(),
        "Wait a minute and try again.",
    )
}

fn redirect(to: String) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(op::discovery(&state.config))
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    match op::keys::jwks(&state.store, &state.config.op).await {
        // Short: after a rotation, clients see the new key soon.
        Ok(set) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
            .content_type("application/jwk-set+json")
            .json(set),
        Err(e) => token_error_response(&TokenError::Unavailable(e)),
    }
}

async fn authorize(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let session = match session::current(&state.cache, &state.config, &req).await {
        Ok(found) => found.map(|(_, s)| s),
        Err(e) => return unavailable_page(&e.into()),
    };
    match authorize::authorize(services(&state), req.query_string(), session.as_ref()).await {
        Ok(Answer::Redirect(to)) => redirect(to),
        Ok(Answer::Refused(refused)) => page(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be followed",
            refused.explanation(),
            "Go back to the application and start signing in again. If it keeps happening, \
             tell the application's administrators: its OpenID Connect settings do not match \
             its registration here.",
        ),
        Err(e) => unavailable_page(&e),
    }
}

fn token_error_response(e: &TokenError) -> HttpResponse {
    let status = match e {
        TokenError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
        TokenError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "token request failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let mut answer = HttpResponse::build(status);
    answer
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if let TokenError::InvalidClient { basic: true, .. } = e {
        answer.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"sso-gateway\""));
    }
    answer.json(json!({"error": e.code(), "error_description": e.description()}))
}

fn header_text(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let is_form = header_text(&req, header::CONTENT_TYPE)
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let Some(body) = std::str::from_utf8(&body).ok().filter(|_| is_form) else {
        return token_error_response(&TokenError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    };
    let authorization = header_text(&req, header::AUTHORIZATION);
    match token::exchange(services(&state), body, authorization).await {
        Ok(tokens) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(tokens),
        Err(e) => token_error_response(&e),
    }
}

async fn userinfo(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match token::userinfo(services(&state), bearer_token(&req)).await {
        Ok(person) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(person),
        Err(UserinfoError::Missing) => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"sso-gateway\""))
            .json(json!({"error": "invalid_request", "error_description": "send the access token as Authorization: Bearer <token>"})),
        Err(UserinfoError::Invalid(why)) => HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                format!("Bearer realm=\"sso-gateway\", error=\"invalid_token\", error_description=\"{why}\""),
            ))
            .json(json!({"error": "invalid_token", "error_description": why})),
        Err(UserinfoError::Unavailable(e)) => token_error_response(&TokenError::Unavailable(e)),
    }
}

/// GET carries the parameters in the query, POST in a form body.
async fn end_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let raw = if req.method() == actix_web::http::Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        req.query_string().to_string()
    };
    let decided = logout::end_session(services(&state), &raw).await;
    let ended = match session::current(&state.cache, &state.config, &req).await {
        Ok(Some((id, _))) => session::end(&state.cache, &id).await.map_err(OpError::from),
        Ok(None) => Ok(()),
        Err(e) => Err(e.into()),
    };
    let mut answer = match (decided, ended) {
        (Err(e), _) | (_, Err(e)) => return unavailable_page(&e),
        (Ok(Logout::Redirect(to)), Ok(())) => redirect(to),
        (Ok(Logout::SignedOut), Ok(())) => page(
            StatusCode::OK,
            "You are signed out",
            "Your single sign-on session here has ended.".into(),
            "",
        ),
        (Ok(Logout::Refused(why)), Ok(())) => page(
            StatusCode::BAD_REQUEST,
            "You are signed out, but cannot be sent back",
            format!("Your single sign-on session here has ended. The application's request to send you back could not be followed: {why}."),
            "Go back to the application yourself.",
        ),
    };
    answer
        .add_cookie(&session::removal_cookie(&state.config))
        .ok();
    answer
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery),
    )
    .route(op::AUTHORIZE_PATH, web::get().to(authorize))
    .route(op::TOKEN_PATH, web::post().to(token))
    .route(op::USERINFO_PATH, web::get().to(userinfo))
    .route(op::USERINFO_PATH, web::post().to(userinfo))
    .route(op::JWKS_PATH, web::get().to(jwks))
    .route(op::END_SESSION_PATH, web::get().to(end_session))
    .route(op::END_SESSION_PATH, web::post().to(end_session));
}
