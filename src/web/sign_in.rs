//! What the SAML and OIDC sign-in routes share: finding the integration a
//! route names, the browser-binding cookie, and turning a sign-in's typed
//! outcome (`signin::Started`, `SignedIn`, `Refusal`) into the answer —
//! the one place sign-in speaks HTTP.
//!
//! The browser-binding cookie carries `{token}.{mac}`: only a value this
//! deployment issued is read back, so a cookie planted from a sibling
//! subdomain (login CSRF) counts as no binding at all. On https it is also
//! `__Host-` named, which such a sibling cannot set.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::config::Config;
use crate::integrations::{self, Settings};
use crate::pages::html;
use crate::secrets::SecretBox;
use crate::session;
use crate::signin::pending::{BROWSER_COOKIE, LIFETIME};
use crate::signin::{self, Class, Identity, Refusal, RefusalCode, SignedIn, Started};
use crate::state::AppState;
use crate::store::{Integration, Kind};

/// The integration behind `/users/sign-in/sso/{kind}/{id}` and its settings.
pub struct Route {
    pub integration: Integration,
    pub settings: Settings,
    /// Our URL for it: the SAML entity ID and ACS; OIDC's redirect URI hangs below it.
    pub url: String,
}

/// Finds the integration a sign-in route names. The route's kind must be
/// the integration's; anything else is an unknown link, not a hint that
/// the id exists under another kind.
pub async fn resolve_route(
    state: &AppState,
    kind: &str,
    id: &str,
) -> Result<Route, (Option<Integration>, Refusal)> {
    let unknown = || {
        let refusal = Refusal::new(
            RefusalCode::UnknownIntegration,
            format!("no {kind} integration {id}"),
        );
        (None, refusal)
    };
    let Some(route_kind) = Kind::parse(kind) else {
        return Err(unknown());
    };
    match state.store.integration(id).await {
        Ok(Some(i)) if i.kind == route_kind => route_of(state, i),
        Ok(_) => Err(unknown()),
        Err(e) => Err((None, Refusal::unavailable(format!("database: {e}")))),
    }
}

/// The sign-in route of an integration already read: its settings and our URL.
// The error is `resolve_route`'s (whose async return clippy does not size):
// one value per request, returned straight to the page that explains it.
#[allow(clippy::result_large_err)]
pub fn route_of(
    state: &AppState,
    integration: Integration,
) -> Result<Route, (Option<Integration>, Refusal)> {
    match integrations::stored_settings(&integration) {
        Ok(settings) => Ok(Route {
            url: sign_in_url(state, &integration),
            integration,
            settings,
        }),
        Err(e) => {
            let refusal = Refusal::new(
                RefusalCode::NotConfigured,
                format!("the integration's settings are unreadable: {e}"),
            );
            Err((Some(integration), refusal))
        }
    }
}

/// The route's integration and the part of its settings the protocol needs
/// (`pick`), or the refusal page to answer with.
pub async fn route_or_page<T>(
    state: &AppState,
    req: &HttpRequest,
    kind: &str,
    id: &str,
    protocol: &str,
    pick: impl Fn(&Settings) -> Option<T>,
) -> Result<(Route, T), HttpResponse> {
    match resolve_route(state, kind, id).await {
        Ok(route) => match pick(&route.settings) {
            Some(part) => Ok((route, part)),
            None => {
                let refusal = Refusal::new(
                    RefusalCode::NotConfigured,
                    format!("the integration's {protocol} settings are unreadable"),
                );
                Err(refused(state, req, Some(&route.integration), refusal).await)
            }
        },
        Err((integration, refusal)) => {
            Err(refused(state, req, integration.as_ref(), refusal).await)
        }
    }
}

/// What [`SecretBox::mac`] of a binding token is for.
const BINDING_PURPOSE: &str = "browser binding";

/// The browser's binding token, if its cookie holds one this deployment
/// issued; anything else is treated as no cookie.
pub fn browser_of(state: &AppState, req: &HttpRequest) -> Option<String> {
    let cookie = req.cookie(&session::host_only_name(&state.config, BROWSER_COOKIE))?;
    issued_token(&state.secrets, cookie.value()).map(str::to_string)
}

fn issued_token<'a>(secrets: &SecretBox, value: &'a str) -> Option<&'a str> {
    let (token, mac) = value.split_once('.')?;
    secrets
        .mac_matches(BINDING_PURPOSE, token, mac)
        .then_some(token)
}

/// The browser-binding cookie for `token`. A SAML IdP posts back
/// cross-site, so on https it must be SameSite=None (and Secure, and, being
/// `__Host-`, Path=/); on plain http (development, tests) browsers refuse
/// None without Secure, so Lax is used.
fn browser_cookie(config: &Config, secrets: &SecretBox, token: String) -> Cookie<'static> {
    let https = config.public_url_is_https();
    let value = format!("{token}.{}", secrets.mac(BINDING_PURPOSE, &token));
    Cookie::build(session::host_only_name(config, BROWSER_COOKIE), value)
        .path(if https { "/" } else { "/users/sign-in/sso/" })
        .http_only(true)
        .secure(https)
        .same_site(if https { SameSite::None } else { SameSite::Lax })
        .max_age(actix_web::cookie::time::Duration::seconds(
            LIFETIME.as_secs() as i64,
        ))
        .finish()
}

/// The id a person can quote to an admin: the request's id.
pub fn request_reference(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Sends the browser to the identity provider.
pub async fn started(
    state: &AppState,
    req: &HttpRequest,
    route: &Route,
    attempt: Result<Started, Refusal>,
) -> HttpResponse {
    match attempt {
        Ok(started) => HttpResponse::Found()
            .insert_header((header::LOCATION, started.redirect_url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(browser_cookie(
                &state.config,
                &state.secrets,
                started.browser,
            ))
            .finish(),
        Err(refusal) => refused(state, req, Some(&route.integration), refusal).await,
    }
}

/// Admits the person the protocol verified, or records why not, and answers.
pub async fn concluded(
    state: &AppState,
    req: &HttpRequest,
    route: &Route,
    attempt: Result<(Identity, Option<String>), Refusal>,
) -> HttpResponse {
    let reference = request_reference(req);
    let outcome = match attempt {
        Ok((identity, return_to)) => {
            signin::admit(
                state.sign_in(),
                &route.integration,
                identity,
                return_to,
                &reference,
            )
            .await
        }
        Err(refusal) => {
            signin::record_refusal(
                state.sign_in(),
                Some(&route.integration),
                None,
                &refusal,
                &reference,
            )
            .await;
            Err(refusal)
        }
    };
    match outcome {
        Ok(signed_in) => signed_in_redirect(&state.config, signed_in),
        Err(refusal) => refusal_page(
            &refusal,
            &reference,
            Some(sign_in_url(state, &route.integration)),
        ),
    }
}

fn signed_in_redirect(config: &Config, signed_in: SignedIn) -> HttpResponse {
    let to = signed_in
        .return_to
        .unwrap_or_else(|| config.server.after_sign_in_url.clone());
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .cookie(session::cookie(config, signed_in.session_id))
        .finish()
}

/// Records a refusal that no protocol step got to (unknown link, unreadable
/// settings, an unusable form) and answers with its page.
pub async fn refused(
    state: &AppState,
    req: &HttpRequest,
    integration: Option<&Integration>,
    refusal: Refusal,
) -> HttpResponse {
    let reference = request_reference(req);
    signin::record_refusal(state.sign_in(), integration, None, &refusal, &reference).await;
    let retry = integration.map(|i| sign_in_url(state, i));
    refusal_page(&refusal, &reference, retry)
}

/// An integration's sign-in URL: SAML entity ID and ACS, the retry link of
/// a refusal page; OIDC's redirect URI hangs below it.
fn sign_in_url(state: &AppState, integration: &Integration) -> String {
    state.config.external_url(&format!(
        "/users/sign-in/sso/{}/{}",
        integration.kind.as_str(),
        integration.id
    ))
}

pub fn status_of(class: Class) -> StatusCode {
    match class {
        Class::Verification | Class::NotAdmitted => StatusCode::FORBIDDEN,
        Class::Malformed => StatusCode::BAD_REQUEST,
        Class::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Class::ProviderDown => StatusCode::BAD_GATEWAY,
        Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Class::UnknownIntegration => StatusCode::NOT_FOUND,
    }
}

#[derive(Template)]
#[template(path = "sign_in_refused.html")]
struct RefusedPage<'a> {
    headline: &'a str,
    explanation: String,
    what_to_do: String,
    reference: &'a str,
    retry_url: Option<String>,
}

/// A person-facing HTML page for a refused sign-in. Only a refusal a retry
/// can cure offers the retry link.
pub fn refusal_page(refusal: &Refusal, reference: &str, retry_url: Option<String>) -> HttpResponse {
    let class = refusal.code.class();
    let (headline, explanation, what_to_do) = match (&refusal.not_admitted, class) {
        (Some(n), _) if refusal.code == RefusalCode::AccountElsewhere => (
            "Your account can't join this organization yet",
            format!("You signed in successfully, but your account is already used by another organization, and {} has not proven that it owns {}.", n.org_name, n.domain),
            format!("Ask an administrator of {} to verify the domain {} in its settings, or to invite you by email.", n.org_name, n.domain),
        ),
        (Some(n), _) => (
            "You don't have access to this organization yet",
            format!("You signed in successfully, but you are not a member of {}, and addresses at {} are not pre-approved to join.", n.org_name, n.domain),
            format!("Ask an administrator of {} to add you (for example by assigning you to the application in the identity provider), or to pre-approve {} for one of their teams.", n.org_name, n.domain),
        ),
        (None, Class::Unavailable) => (
            "Sign-in is temporarily unavailable",
            "We could not complete your sign-in because part of our service is not responding.".to_string(),
            "Wait a minute and try again.".to_string(),
        ),
        (None, Class::UnknownIntegration) => (
            "This sign-in link is not valid",
            "There is no single sign-on connection with this ID. It may have been removed or mistyped.".to_string(),
            "Ask your administrator for the current sign-in link.".to_string(),
        ),
        (None, _) => (
            "We couldn't verify your sign-in",
            format!("Your identity provider's answer was not accepted: {}.", refusal.detail),
            "Start the sign-in again from your identity provider or the sign-in link. If it happens again, \
             ask your administrator to check this application's single sign-on settings, and give them the reference below."
                .to_string(),
        ),
    };
    let offers_retry = !matches!(class, Class::UnknownIntegration | Class::NotAdmitted);
    let page = RefusedPage {
        headline,
        explanation,
        what_to_do,
        reference,
        retry_url: retry_url.filter(|_| offers_retry),
    };
    html(status_of(class), page.render())
}

/// The same page with words of the caller's (Single Logout's answers).
pub fn message_page(
    status: StatusCode,
    headline: &str,
    explanation: String,
    what_to_do: String,
    reference: &str,
) -> HttpResponse {
    let page = RefusedPage {
        headline,
        explanation,
        what_to_do,
        reference,
        retry_url: None,
    };
    html(status, page.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretsConfig;

    fn config(public_url: &str) -> Config {
        let mut config = Config::load(None).unwrap();
        config.server.public_url = public_url.into();
        config
    }

    fn secrets(key: &str) -> SecretBox {
        SecretBox::load(&SecretsConfig {
            encryption_key: key.into(),
            key_file: "unused".into(),
        })
        .unwrap()
    }

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const OTHER_KEY: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

    #[test]
    fn on_https_the_binding_cookie_is_host_only_and_cross_site() {
        let c = browser_cookie(
            &config("https://sso.example.com"),
            &secrets(KEY),
            "t".into(),
        );
        assert_eq!(c.name(), "__Host-sso_gateway_signin");
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.domain(), None);
        assert_eq!(c.same_site(), Some(SameSite::None));
    }

    #[test]
    fn on_http_the_binding_cookie_keeps_its_name_and_path() {
        let c = browser_cookie(&config("http://127.0.0.1:9100"), &secrets(KEY), "t".into());
        assert_eq!(c.name(), BROWSER_COOKIE);
        assert_eq!(c.secure(), Some(false));
        assert_eq!(c.path(), Some("/users/sign-in/sso/"));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
    }

    #[test]
    fn only_a_binding_this_deployment_issued_is_read_back() {
        let config = config("http://127.0.0.1:9100");
        let ours = secrets(KEY);
        let token = crate::signin::pending::random_token();
        let issued = browser_cookie(&config, &ours, token.clone());
        assert_eq!(issued_token(&ours, issued.value()), Some(token.as_str()));
        // Every instance shares the key.
        assert_eq!(
            issued_token(&secrets(KEY), issued.value()),
            Some(token.as_str())
        );

        let foreign = browser_cookie(&config, &secrets(OTHER_KEY), token.clone());
        let (_, mac) = issued.value().split_once('.').unwrap();
        let planted = [
            // What the first release issued: a bare token.
            token.clone(),
            foreign.value().to_string(),
            format!("{}.{mac}", crate::signin::pending::random_token()),
            format!("{token}."),
            format!("{token}.{}", &mac[1..]),
            format!(".{mac}"),
            String::new(),
        ];
        for value in &planted {
            assert_eq!(issued_token(&ours, value), None, "{value} was accepted");
        }
    }
}
