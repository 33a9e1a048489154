//! `/users/sign-in`: the product's one sign-in page. A person types a work
//! email and is sent to the identity provider of the organization that
//! verified its domain (`signin::discovery`); `login_hint` skips the form.
//! It sets no cookie and keeps nothing of what was typed, and it tells no
//! more than whether the domain has single sign-on here.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use url::form_urlencoded;

use crate::local_path::safe_return_path;
use crate::pages::{html, html_with_policy, LEAVING_PAGE_CSP};
use crate::signin::discovery::{find_door, Door};
use crate::state::AppState;
use crate::store::Integration;

#[derive(Deserialize)]
pub struct SignInQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    return_to: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_in_page.html")]
struct FormPage<'a> {
    email: &'a str,
    return_to: &'a str,
    /// Why the last attempt did not lead anywhere, for the person.
    problem: Option<String>,
}

struct Choice {
    name: String,
    kind: &'static str,
    url: String,
}

#[derive(Template)]
#[template(path = "sign_in_choice.html")]
struct ChoicePage {
    choices: Vec<Choice>,
}

#[get("/users/sign-in")]
pub async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<SignInQuery>,
) -> HttpResponse {
    let SignInQuery {
        return_to,
        login_hint,
    } = query.into_inner();
    let return_to = safe_return_path(return_to.as_deref()).unwrap_or_default();
    match login_hint.filter(|h| !h.trim().is_empty()) {
        Some(hint) => route(&state, &req, &hint, &return_to).await,
        None => form(StatusCode::OK, "", &return_to, None),
    }
}

#[post("/users/sign-in")]
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let SignInForm { email, return_to } = form.into_inner();
    let return_to = safe_return_path(return_to.as_deref()).unwrap_or_default();
    route(&state, &req, &email, &return_to).await
}

fn form(status: StatusCode, email: &str, return_to: &str, problem: Option<String>) -> HttpResponse {
    let rendered = FormPage {
        email,
        return_to,
        problem,
    }
    .render();
    html_with_policy(status, rendered, LEAVING_PAGE_CSP)
}

/// The integration's start route, carrying `return_to`.
fn start_url(integration: &Integration, return_to: &str) -> String {
    let path = format!(
        "/users/sign-in/sso/{}/{}",
        integration.kind.as_str(),
        integration.id
    );
    if return_to.is_empty() {
        return path;
    }
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("{path}?{query}")
}

async fn route(state: &AppState, req: &HttpRequest, email: &str, return_to: &str) -> HttpResponse {
    let email = email.trim();
    if email.chars().count() > crate::provisioning::limits::EMAIL {
        let problem = "That is longer than any email address. Check what you typed.".to_string();
        return form(
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
            return_to,
            Some(problem),
        );
    }
    if over_rate_limit(state, req).await {
        let problem =
            "Too many attempts from your network. Wait a minute and try again.".to_string();
        return form(
            StatusCode::TOO_MANY_REQUESTS,
            email,
            return_to,
            Some(problem),
        );
    }
    let door = match find_door(&state.store, email).await {
        Ok(door) => door,
        Err(e) => {
            tracing::warn!(error = %e, "sign-in page: directory unavailable");
            let problem =
                "Sign-in is temporarily unavailable. Wait a minute and try again.".to_string();
            return form(
                StatusCode::SERVICE_UNAVAILABLE,
                email,
                return_to,
                Some(problem),
            );
        }
    };
    match door {
        Door::NotAnEmail => {
            let problem = "Enter your work email address, like name@company.com.".to_string();
            form(
                StatusCode::UNPROCESSABLE_ENTITY,
                email,
                return_to,
                Some(problem),
            )
        }
        Door::NoSso { domain } => {
            let problem = format!(
                "Single sign-on is not set up for {domain} here. Check the address, or ask your IT administrator how to sign in."
            );
            form(StatusCode::NOT_FOUND, email, return_to, Some(problem))
        }
        Door::One(integration) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, start_url(&integration, return_to)))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Door::Choice(integrations) => {
            let choices = integrations
                .iter()
                .map(|i| Choice {
                    name: i.name.clone(),
                    kind: i.kind.label(),
                    url: start_url(i, return_to),
                })
                .collect();
            html(StatusCode::OK, ChoicePage { choices }.render())
        }
    }
}

/// Look-ups per client address and minute, so the page cannot be used to
/// list which domains have single sign-on here. The address is the TCP
/// peer's: a forwarded-for header is the client's to invent. When the
/// cache is down the page goes on unmetered rather than locking people out.
async fn over_rate_limit(state: &AppState, req: &HttpRequest) -> bool {
    let Some(peer) = req.peer_addr() else {
        return false;
    };
    let key = format!("signin-page:rate:{}", peer.ip());
    match state.cache.increment(&key, Duration::from_secs(60)).await {
        Ok(used) => used > u64::from(state.config.session.sign_in_page_rate_limit_per_minute),
        Err(e) => {
            tracing::warn!(error = %e, "sign-in page rate limit not applied: cache unavailable");
            false
        }
    }
}
