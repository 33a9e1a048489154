//! HTML answers for the pages we render (sign-in refusals, the admin UI):
//! one place for their security headers.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

/// The policy for pages we render: our own stylesheet, nothing else.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// For a page whose form sends the person on to another site: the
/// sign-in page's answer redirects through our start route to the IdP, and
/// browsers hold every redirect after a form submission to `form-action`.
pub const LEAVING_PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action *; frame-ancestors 'none'; base-uri 'none'";

pub fn html(status: StatusCode, rendered: Result<String, askama::Error>) -> HttpResponse {
    html_with_policy(status, rendered, PAGE_CSP)
}

/// Like [`html`], with the page's own Content-Security-Policy.
pub fn html_with_policy(
    status: StatusCode,
    rendered: Result<String, askama::Error>,
    csp: &'static str,
) -> HttpResponse {
    match rendered {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, csp))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Internal error")
        }
    }
}
