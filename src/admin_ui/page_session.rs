//! What every session of the `/admin` pages shares — the admin pages' and
//! the platform pages': the cookie, the CSRF check of their forms, random
//! values, and the extractor plumbing.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{parse_form, UiError};
use crate::config::Config;
use crate::state::AppState;

/// The CSRF field every admin form carries.
#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// Refuses a form whose CSRF token is not `expected` (constant time): the
/// one check of every session's forms (admin and platform pages).
pub(super) fn csrf_matches(expected: &str, presented: Option<&str>) -> Result<(), UiError> {
    let presented = presented.unwrap_or_default();
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        return Ok(());
    }
    Err(UiError::new(
        StatusCode::FORBIDDEN,
        "This form was refused",
        "The form did not carry this session's security token, so it may not have come from this page (or your session was renewed since you opened it). Nothing was changed. Go back, reload the page and submit it again.",
    ))
}

/// The CSRF token a posted form carries, checked against `expected`.
pub(super) fn check_form_csrf(expected: &str, body: &[u8]) -> Result<(), UiError> {
    let field: CsrfField = parse_form(body)?;
    csrf_matches(expected, field.csrf.as_deref())
}

pub(super) fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A session cookie of the admin pages: HttpOnly, SameSite=Strict, the
/// lifetime enforced by its cache entry (so a browser still holding it
/// learns that the session expired, rather than silently looking signed
/// out). On https it takes the `__Host-` name, which must have Path=/ and
/// lets no sibling subdomain set or shadow it; on http it is scoped to
/// `http_path`.
pub(super) fn strict_cookie(
    config: &Config,
    name: &str,
    http_path: &'static str,
    value: String,
) -> Cookie<'static> {
    let https = config.public_url_is_https();
    Cookie::build(crate::session::host_only_name(config, name), value)
        .path(if https { "/" } else { http_path })
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Strict)
        .finish()
}

/// What the admin pages' session extractors return.
pub(super) type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, UiError>>>>;

/// Runs `find` with the app state for a session extractor.
pub(super) fn with_state<T, F, Fut>(req: &HttpRequest, find: F) -> Extracted<T>
where
    F: FnOnce(web::Data<AppState>, HttpRequest) -> Fut + 'static,
    Fut: Future<Output = Result<T, UiError>> + 'static,
{
    let req = req.clone();
    Box::pin(async move {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| UiError::from(crate::api_error::ApiError::internal()))?;
        find(state, req).await
    })
}
