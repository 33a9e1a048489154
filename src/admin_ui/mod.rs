//! The admin UI under `/admin`: server-rendered pages for a person in a
//! browser, doing what the admin API does through the same domain functions
//! (`integrations`, `provisioning`, `Store`). Handlers stay thin: read the
//! form, call the rule, render or redirect (POST → redirect → GET).
//!
//! Every page works without JavaScript; `/assets/admin.js` only adds copy
//! buttons.

mod audit;
mod auth;
mod domains;
mod integrations;
mod page_session;
mod platform;
mod teams;
mod users;

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpResponse, ResponseError};
use askama::Template;
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;
use crate::integrations::Kind;
use crate::pages::html_with_policy;
use crate::provisioning::RuleError;

pub use auth::{Admin, ADMIN_COOKIE};

/// Admin pages may load our own script (copy buttons) besides the stylesheet.
pub const ADMIN_PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(admin_script).service(admin_stylesheet).service(
        web::scope("/admin")
            .service(auth::home)
            .service(auth::sign_in_page)
            .service(auth::sign_in_with_token)
            .service(auth::sign_in_with_sso)
            .service(auth::show_setup_link)
            .service(auth::use_setup_link)
            .service(auth::sign_out)
            .service(integrations::list)
            .service(integrations::connect_page)
            .service(integrations::connect)
            .service(integrations::detail)
            .service(integrations::update)
            .service(integrations::delete_page)
            .service(integrations::delete)
            .service(integrations::enable_provisioning)
            .service(integrations::show_token)
            .service(integrations::tested)
            .service(integrations::test_sign_in)
            .service(integrations::disable_provisioning)
            .service(teams::list)
            .service(teams::create)
            .service(teams::configure_page)
            .service(teams::save)
            .service(teams::delete_page)
            .service(teams::delete)
            .service(teams::restore)
            .service(users::list)
            .service(users::invite)
            .service(users::set_role)
            .service(users::remove_page)
            .service(users::remove)
            .service(audit::list)
            .service(domains::list)
            .service(domains::add)
            .service(domains::verify)
            .service(domains::remove)
            .service(platform::endpoints)
            .service(platform::deliveries)
            .service(platform::redeliver)
            .service(platform::sign_out)
            .default_service(web::to(page_not_found)),
    );
}

#[get("/assets/admin.js")]
async fn admin_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../assets/admin.js"))
}

#[get("/assets/admin.css")]
async fn admin_stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../assets/admin.css"))
}

async fn page_not_found() -> Result<HttpResponse, UiError> {
    Err(UiError::not_found("page"))
}

/// A page reached after a change: `?done=` names the notice to show.
#[derive(serde::Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}

/// What the layout shows around every signed-in page.
pub struct Chrome {
    pub org_name: String,
    pub who: String,
    pub csrf: String,
    /// Which navigation entry is current.
    pub section: &'static str,
    /// A fixed notice after a change (from a `?done=` code, never echoed text).
    pub notice: Option<&'static str>,
}

/// Field-level messages for a re-rendered form.
#[derive(Default, Debug)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn one(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }
}

/// A refused rule as a message next to a field of the form: validation
/// errors name their field; a conflict belongs to `conflict_field`. Other
/// failures (store down …) become the error page.
pub fn field_errors(err: RuleError, conflict_field: &'static str) -> Result<FieldErrors, UiError> {
    match err {
        RuleError::Invalid { field, message } => Ok(FieldErrors::one(field, message)),
        RuleError::Conflict(message) => Ok(FieldErrors::one(conflict_field, message)),
        other => Err(other.into()),
    }
}

/// An error as a page: status, a headline and what to do.
#[derive(Debug)]
pub struct UiError {
    pub status: StatusCode,
    pub headline: String,
    pub message: String,
    /// Where to send an unauthenticated visitor instead of a page.
    pub redirect: Option<String>,
}

impl UiError {
    pub fn new(status: StatusCode, headline: &str, message: impl Into<String>) -> Self {
        UiError {
            status,
            headline: headline.to_string(),
            message: message.into(),
            redirect: None,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("This {what} does not exist in your organization. It may have been removed; go back to the list and reload it."),
        )
    }

    pub fn bad_form(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "This form could not be read",
            format!("The form that was sent is incomplete or malformed ({detail}). Go back, reload the page and try again."),
        )
    }

    pub fn redirect(to: impl Into<String>) -> Self {
        UiError {
            redirect: Some(to.into()),
            ..Self::new(StatusCode::SEE_OTHER, "Sign in", "Sign in to continue.")
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.headline)
    }
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    headline: &'a str,
    message: &'a str,
    status: u16,
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(to) = &self.redirect {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        let page = ErrorPage {
            headline: &self.headline,
            message: &self.message,
            status: self.status.as_u16(),
        };
        let mut response = html_with_policy(self.status, page.render(), ADMIN_PAGE_CSP);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

/// Store, cache and rule failures keep the API's wording (which logs the
/// internals and never shows them), rendered as a page.
impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        let headline = match e.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::CONFLICT => "That conflicts with the current state",
            StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "That was not accepted",
            _ => "Something went wrong",
        };
        let message = match e.status {
            StatusCode::NOT_FOUND => format!(
                "The {} does not exist in your organization. Go back to the list and reload it.",
                e.message.trim_end_matches(" not found")
            ),
            _ => e.message,
        };
        UiError::new(e.status, headline, message)
    }
}

impl From<RuleError> for UiError {
    fn from(e: RuleError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::store::StoreError> for UiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::cache::CacheError> for UiError {
    fn from(e: crate::cache::CacheError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::secrets::SecretError> for UiError {
    fn from(e: crate::secrets::SecretError) -> Self {
        tracing::error!(error = %e, "sealing a secret failed");
        UiError::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The value could not be stored safely. Try again.",
        )
    }
}

/// Reads an urlencoded form body into `T`; a bad body is a 400 page, not JSON.
pub fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, UiError> {
    serde_urlencoded::from_bytes(body).map_err(UiError::bad_form)
}

/// A form value with surrounding blanks removed; blank means absent.
pub fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[derive(Template)]
#[template(path = "admin/to_idp.html")]
struct ToIdpPage<'a> {
    url: &'a str,
    idp_name: &'a str,
    purpose: &'a str,
}

/// How the hand-off page names the identity provider.
pub fn provider_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Okta => "Okta",
        Kind::Entra => "Microsoft Entra ID",
        Kind::Saml | Kind::Oidc => "your identity provider",
    }
}

/// Sends the browser on to the identity provider through a page (meta
/// refresh plus a link) instead of a redirect: our pages' CSP
/// `form-action 'self'` also covers redirects after a form is posted, and
/// the IdP is another origin.
pub fn to_identity_provider(url: &str, idp_name: &str, purpose: &str) -> HttpResponse {
    let page = ToIdpPage {
        url,
        idp_name,
        purpose,
    };
    html_with_policy(StatusCode::OK, page.render(), ADMIN_PAGE_CSP)
}

/// Renders a signed-in page.
pub fn page(admin: &Admin, status: StatusCode, rendered: askama::Result<String>) -> HttpResponse {
    admin.attach_cookie(html_with_policy(status, rendered, ADMIN_PAGE_CSP))
}

/// Redirect after a successful POST (PRG).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A stored time (unix ms), however many references templates wrap it in.
pub trait Millis {
    fn millis(&self) -> i64;
}

impl Millis for i64 {
    fn millis(&self) -> i64 {
        *self
    }
}

impl<T: Millis + ?Sized> Millis for &T {
    fn millis(&self) -> i64 {
        (**self).millis()
    }
}

/// The date of an RFC 3339 timestamp (`2036-11-20T…` → `2036-11-20`).
pub fn date_part(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

/// A date for people, in UTC.
pub fn when(ms: impl Millis) -> String {
    let ms = ms.millis();
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// "3 hours ago", "in 29 days".
pub fn relative(ms: impl Millis) -> String {
    let ms = ms.millis();
    let delta = ms - crate::store::now_ms();
    let (future, secs) = (delta > 0, delta.abs() / 1000);
    let span = match secs {
        0..=59 => return "just now".into(),
        // Rounded to the nearest unit: a team deleted a second ago with 30
        // days' retention is purged "in 30 days", not "in 29 days".
        60..=3599 => plural((secs + 30) / 60, "minute"),
        3600..=86_399 => plural((secs + 1800) / 3600, "hour"),
        _ => plural((secs + 43_200) / 86_400, "day"),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        let now = crate::store::now_ms();
        assert_eq!(relative(now), "just now");
        assert_eq!(relative(now - 2 * 3_600_000 - 5_000), "2 hours ago");
        assert_eq!(relative(now + 29 * 86_400_000 + 60_000), "in 29 days");
        assert_eq!(relative(now + 30 * 86_400_000 - 5_000), "in 30 days");
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn blank_form_values_are_absent() {
        assert_eq!(given(&Some("  ".into())), None);
        assert_eq!(given(&Some(" a ".into())).as_deref(), Some("a"));
        assert_eq!(given(&None), None);
    }
}
