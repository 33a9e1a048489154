//! Who may use the admin UI, and how they get in.
//!
//! An admin session is a random 256-bit id in its own cookie (HttpOnly,
//! SameSite=Strict, path `/admin`), stored in the cache under the SHA-256 of
//! the id with the organization, how the person signed in, and the CSRF
//! token every form carries. It is opened by pasting an organization admin
//! token, by opening a setup link the host product handed out, or from a
//! member session (SSO sign-in) whose role is owner or admin. The reason it
//! was granted is checked again on every request: a rotated admin token or a
//! lost role ends it at once.

use crate::config::Config;
use std::time::Duration;

use actix_web::cookie::Cookie;
use actix_web::http::{Method, StatusCode};
use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::page_session::{
    check_form_csrf, csrf_matches, random_value, strict_cookie, with_state, Extracted,
};
use super::{given, parse_form, see_other, FieldErrors, UiError, ADMIN_PAGE_CSP};
use crate::admin_api::auth::verify_admin_token;
use crate::cache::CacheError;
use crate::pages::html_with_policy;
use crate::provisioning::{self, Actor, SetupLinkRefusal};
use crate::session;
use crate::state::AppState;
use crate::store::{now_ms, Role};

pub const ADMIN_COOKIE: &str = "sso_gateway_admin";

/// How the admin session was opened; re-checked on every request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Grant {
    /// Pasted admin token (we keep its hash: rotation revokes the session).
    AdminToken {
        token_id: String,
        token_hash: String,
    },
    /// A member session of an owner/admin of the organization.
    Member { user_id: String, email: String },
    /// A setup link, used up by opening this session.
    SetupLink { link_id: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AdminSession {
    org_id: String,
    csrf: String,
    grant: Grant,
    created_at: i64,
}

/// A signed-in admin of one organization, as a request extractor.
pub struct Admin {
    pub org_id: String,
    pub org_name: String,
    /// How the layout names the person.
    pub who: String,
    pub actor: Actor,
    pub csrf: String,
    /// The cache key of the session (SHA-256 of its id): scopes one-time values.
    pub session_key: String,
    /// Set when this request opened the session (from an SSO member session).
    new_cookie: Option<Cookie<'static>>,
}

impl Admin {
    /// The posted form, once its CSRF token is found to be this session's.
    pub fn form<T: serde::de::DeserializeOwned>(&self, body: &[u8]) -> Result<T, UiError> {
        check_form_csrf(&self.csrf, body)?;
        parse_form(body)
    }

    /// For forms that carry nothing but their CSRF token (confirmations).
    pub fn check_form(&self, body: &[u8]) -> Result<(), UiError> {
        self.form::<serde::de::IgnoredAny>(body).map(drop)
    }

    /// Refuses a form whose CSRF token is not this session's (constant time).
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), UiError> {
        csrf_matches(&self.csrf, presented)
    }

    pub fn attach_cookie(&self, mut response: HttpResponse) -> HttpResponse {
        if let Some(cookie) = &self.new_cookie {
            let _ = response.add_cookie(cookie);
        }
        response
    }

    pub fn chrome(&self, section: &'static str, done: Option<&str>) -> super::Chrome {
        super::Chrome {
            org_name: self.org_name.clone(),
            who: self.who.clone(),
            csrf: self.csrf.clone(),
            section,
            notice: done.and_then(notice),
        }
    }
}

/// The fixed confirmation shown after a change; unknown codes show nothing.
fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "team_created" => "Team created.",
        "team_saved" => "Changes saved.",
        "team_deleted" => "Team deleted. You can restore it below until its time runs out.",
        "team_restored" => "Team restored.",
        "connected" => "Integration connected.",
        "saved" => "Integration settings saved.",
        "deleted" => "Integration deleted.",
        "provisioning_off" => "Provisioning turned off. The old token no longer works.",
        "role_saved" => "Role changed.",
        "removed" => "Member removed from the organization.",
        "invited" => "Person added. They can sign in through single sign-on now.",
        "domain_added" => "Domain added. Publish the TXT record, then press Verify.",
        "domain_verified" => "Domain verified.",
        "domain_removed" => "Domain removed.",
        _ => return None,
    })
}

fn cache_key(id: &str) -> String {
    format!(
        "admin_session:{}",
        hex::encode(Sha256::digest(id.as_bytes()))
    )
}

fn lifetime(state: &AppState) -> Duration {
    Duration::from_secs(state.config.session.admin_lifetime_seconds)
}

fn admin_cookie(config: &Config, value: String) -> Cookie<'static> {
    strict_cookie(config, ADMIN_COOKIE, "/admin", value)
}

fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = admin_cookie(&state.config, String::new());
    cookie.make_removal();
    cookie
}

async fn open_session(
    state: &AppState,
    org_id: &str,
    grant: Grant,
) -> Result<(Cookie<'static>, AdminSession, String), UiError> {
    let id = random_value();
    let session = AdminSession {
        org_id: org_id.to_string(),
        csrf: random_value(),
        grant,
        created_at: now_ms(),
    };
    let value = serde_json::to_string(&session).map_err(CacheError::from)?;
    let key = cache_key(&id);
    state.cache.put(&key, &value, lifetime(state)).await?;
    Ok((admin_cookie(&state.config, id), session, key))
}

fn may_administer(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin)
}

/// Why there is no admin: which sign-in notice to show.
enum Missing {
    /// No session at all.
    None,
    /// A cookie whose session is gone (lifetime over, or signed out).
    Expired,
    /// The admin token behind it was rotated away.
    Revoked,
    /// The member behind it is no longer an owner/admin.
    NotAdmin,
}

impl Missing {
    fn to_sign_in(&self) -> UiError {
        UiError::redirect(match self {
            Missing::None => "/admin/sign-in",
            Missing::Expired => "/admin/sign-in?reason=expired",
            Missing::Revoked => "/admin/sign-in?reason=revoked",
            Missing::NotAdmin => "/admin/sign-in?reason=not_admin",
        })
    }
}

/// Re-checks the grant; `Ok(None)` says why the session no longer holds.
async fn holds(
    state: &AppState,
    req: &HttpRequest,
    session: &AdminSession,
) -> Result<Result<(Actor, String), Missing>, UiError> {
    match &session.grant {
        Grant::AdminToken {
            token_id,
            token_hash,
        } => {
            let live = state.store.admin_token_by_hash(token_hash).await?;
            Ok(match live {
                Some((id, org, _)) if &id == token_id && org == session.org_id => {
                    Ok((Actor::AdminToken(id), "Admin token".to_string()))
                }
                _ => Err(Missing::Revoked),
            })
        }
        Grant::Member { user_id, email } => {
            let member_session = session::current(&state.cache, &state.config, req).await?;
            let same_person = member_session
                .is_some_and(|(_, s)| &s.user_id == user_id && s.org_id == session.org_id);
            if !same_person {
                return Ok(Err(Missing::Expired));
            }
            let member = state.store.member(&session.org_id, user_id).await?;
            Ok(match member {
                Some(m) if may_administer(m.role) => {
                    Ok((Actor::AdminUser(email.clone()), m.email.clone()))
                }
                _ => Err(Missing::NotAdmin),
            })
        }
        Grant::SetupLink { link_id } => {
            let live = state
                .store
                .setup_link_exists(link_id, &session.org_id)
                .await?;
            Ok(if live {
                Ok((Actor::SetupLink(link_id.clone()), "Setup link".to_string()))
            } else {
                Err(Missing::Revoked)
            })
        }
    }
}

async fn current_admin(state: &AppState, req: &HttpRequest) -> Result<Admin, UiError> {
    let mut missing = Missing::None;
    let cookie = req
        .cookie(&crate::session::host_only_name(&state.config, ADMIN_COOKIE))
        .map(|c| c.value().to_string());
    let mut found: Option<(AdminSession, String, Option<Cookie<'static>>)> = None;
    if let Some(id) = cookie.filter(|id| id.len() == 43) {
        let key = cache_key(&id);
        let stored = state.cache.get(&key).await?;
        match stored.and_then(|json| serde_json::from_str::<AdminSession>(&json).ok()) {
            Some(session) => found = Some((session, key, None)),
            None => missing = Missing::Expired,
        }
    }
    // An owner/admin signed in through SSO gets an admin session on their
    // first page view; only a GET may open one (a POST needs the CSRF token
    // of an existing session anyway).
    if found.is_none() && matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Some((_, member_session)) =
            session::current(&state.cache, &state.config, req).await?
        {
            let member = state
                .store
                .member(&member_session.org_id, &member_session.user_id)
                .await?;
            match member {
                Some(m) if may_administer(m.role) => {
                    let grant = Grant::Member {
                        user_id: m.id.clone(),
                        email: m.email.clone(),
                    };
                    let (cookie, session, key) =
                        open_session(state, &member_session.org_id, grant).await?;
                    found = Some((session, key, Some(cookie)));
                }
                Some(_) => missing = Missing::NotAdmin,
                None => {}
            }
        }
    }
    let Some((session, key, new_cookie)) = found else {
        return Err(missing.to_sign_in());
    };
    let (actor, who) = match holds(state, req, &session).await? {
        Ok(granted) => granted,
        Err(why) => {
            state.cache.delete(&key).await?;
            return Err(why.to_sign_in());
        }
    };
    let org = state
        .store
        .organization(&session.org_id)
        .await?
        .ok_or_else(|| Missing::Revoked.to_sign_in())?;
    Ok(Admin {
        org_id: session.org_id,
        org_name: org.name,
        who,
        actor,
        csrf: session.csrf,
        session_key: key,
        new_cookie,
    })
}

impl FromRequest for Admin {
    type Error = UiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        with_state(req, |state, req| async move {
            current_admin(&state, &req).await
        })
    }
}

#[get("")]
pub async fn home(admin: Admin) -> HttpResponse {
    admin.attach_cookie(see_other("/admin/sso"))
}

#[derive(Template)]
#[template(path = "admin/sign_in.html")]
struct SignInPage {
    notice: Option<&'static str>,
    errors: FieldErrors,
    integration_id: String,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    reason: Option<String>,
}

fn sign_in_notice(reason: Option<&str>) -> Option<&'static str> {
    Some(match reason? {
        "expired" => "Your admin session has expired or ended. Sign in again.",
        "revoked" => "The admin token you signed in with was rotated or revoked. Sign in with the current token.",
        "not_admin" => "You are signed in through single sign-on, but your role in this organization is not owner or admin. Ask an owner to change your role, or use the admin token.",
        "signed_out" => "You have signed out.",
        _ => return None,
    })
}

fn render_sign_in(
    status: StatusCode,
    notice: Option<&'static str>,
    errors: FieldErrors,
    integration_id: String,
) -> HttpResponse {
    let page = SignInPage {
        notice,
        errors,
        integration_id,
    };
    html_with_policy(status, page.render(), ADMIN_PAGE_CSP)
}

#[get("/sign-in")]
pub async fn sign_in_page(query: web::Query<SignInQuery>) -> HttpResponse {
    render_sign_in(
        StatusCode::OK,
        sign_in_notice(query.reason.as_deref()),
        FieldErrors::default(),
        String::new(),
    )
}

#[derive(Deserialize)]
struct TokenForm {
    token: Option<String>,
}

fn refuse_cross_site(state: &AppState, req: &HttpRequest) -> Result<(), UiError> {
    if session::is_cross_site(&state.config, req) {
        return Err(UiError::new(
            StatusCode::FORBIDDEN,
            "This form was refused",
            "Sign-in forms are only accepted from this site's own sign-in page. Open /admin/sign-in and sign in there.",
        ));
    }
    Ok(())
}

/// Pasting an admin token opens an admin session for its organization.
#[post("/sign-in")]
pub async fn sign_in_with_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    refuse_cross_site(&state, &req)?;
    let form: TokenForm = parse_form(&body)?;
    let Some(token) = given(&form.token) else {
        return Ok(render_sign_in(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            FieldErrors::one(
                "token",
                "Paste your organization's admin token (it starts with sgw_admin_).",
            ),
            String::new(),
        ));
    };
    // The platform API key opens the operator's pages (webhooks), not an
    // organization's.
    if token.starts_with(crate::secrets::API_KEY_PREFIX) {
        return match provisioning::verify_api_key(&state.store, &token).await? {
            Some(key) => super::platform::open_session(&state, &key, &token).await,
            None => Ok(render_sign_in(
                StatusCode::UNAUTHORIZED,
                None,
                FieldErrors::one(
                    "token",
                    "This platform API key is not valid. It may have been revoked, or mistyped.",
                ),
                String::new(),
            )),
        };
    }
    let Some((token_id, org_id)) = verify_admin_token(&state.store, &token).await? else {
        return Ok(render_sign_in(
            StatusCode::UNAUTHORIZED,
            None,
            FieldErrors::one("token", "This admin token is not valid. It may have been rotated, or mistyped: copy it again from where you stored it."),
            String::new(),
        ));
    };
    let grant = Grant::AdminToken {
        token_id,
        token_hash: crate::secrets::token_hash(&token),
    };
    let (cookie, _, _) = open_session(&state, &org_id, grant).await?;
    let mut response = see_other("/admin/sso");
    let _ = response.add_cookie(&cookie);
    Ok(response)
}

#[derive(Template)]
#[template(path = "admin/setup_link.html")]
struct SetupLinkPage<'a> {
    org_name: &'a str,
    token: &'a str,
}

/// Opening the link shows what it does and spends nothing: mail and chat
/// clients fetch links to preview them, and would use a link up on GET.
#[get("/setup/{token}")]
pub async fn show_setup_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let org_id = provisioning::check_setup_link(&state.store, &path)
        .await?
        .map_err(refused_setup_link)?;
    let org = state
        .store
        .organization(&org_id)
        .await?
        .ok_or_else(|| refused_setup_link(SetupLinkRefusal::Unknown))?;
    let page = SetupLinkPage {
        org_name: &org.name,
        token: &path,
    };
    Ok(html_with_policy(
        StatusCode::OK,
        page.render(),
        ADMIN_PAGE_CSP,
    ))
}

/// "Continue": uses the link up and opens an admin session for its
/// organization. The browser goes on through a page rather than a
/// redirect, so the SameSite=Strict cookie set here rides the next request.
#[post("/setup/{token}")]
pub async fn use_setup_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let used = provisioning::use_setup_link(&state.store, &path)
        .await?
        .map_err(refused_setup_link)?;
    let grant = Grant::SetupLink {
        link_id: used.link_id,
    };
    let (cookie, _, _) = open_session(&state, &used.org_id, grant).await?;
    let mut response = super::to_identity_provider(
        "/admin/sso",
        "the admin pages",
        "This setup link has signed you in as an administrator of your organization. It cannot be used again.",
    );
    let _ = response.add_cookie(&cookie);
    Ok(response)
}

fn refused_setup_link(refusal: SetupLinkRefusal) -> UiError {
    let ask = "Ask whoever sent it for a new one.";
    match refusal {
        SetupLinkRefusal::Used => UiError::new(
            StatusCode::GONE,
            "This setup link was already used",
            format!("A setup link signs in once, and this one has been opened before. {ask}"),
        ),
        SetupLinkRefusal::Expired => UiError::new(
            StatusCode::GONE,
            "This setup link has expired",
            format!("A setup link works for a limited time, and this one's has run out. {ask}"),
        ),
        SetupLinkRefusal::Unknown => UiError::new(
            StatusCode::NOT_FOUND,
            "This setup link is not valid",
            format!("It may be incomplete: check that the whole link was copied. {ask}"),
        ),
    }
}

#[derive(Deserialize)]
struct SsoForm {
    integration_id: Option<String>,
}

/// The Integration ID, alone or as the end of a pasted sign-in URL.
fn integration_id_from(raw: &str) -> Option<String> {
    let last = raw
        .trim()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    uuid::Uuid::try_parse(last).ok().map(|u| u.to_string())
}

/// Starts the organization's own SSO sign-in, coming back to `/admin`.
#[post("/sign-in/sso")]
pub async fn sign_in_with_sso(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    refuse_cross_site(&state, &req)?;
    let form: SsoForm = parse_form(&body)?;
    let raw = given(&form.integration_id).unwrap_or_default();
    let refuse = |message: &str| {
        render_sign_in(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            FieldErrors::one("integration_id", message),
            raw.clone(),
        )
    };
    let Some(id) = integration_id_from(&raw) else {
        return Ok(refuse("Enter your organization's Integration ID (a value like 0f8c…-…) or paste its sign-in URL."));
    };
    let Some(integration) = state.store.integration(&id).await? else {
        return Ok(refuse("There is no single sign-on connection with this Integration ID. Check it with your administrator."));
    };
    let kind = integration.kind;
    let (path, idp_name) = (kind.as_str(), super::provider_name(kind));
    Ok(super::to_identity_provider(
        &format!("/users/sign-in/sso/{path}/{id}?return_to=/admin"),
        idp_name,
        "Sign in there; you come back to the admin pages if your role is owner or admin.",
    ))
}

/// Ends the admin session; one opened through SSO also ends the member
/// session behind it (which would otherwise open a new one at once).
#[post("/sign-out")]
pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    admin.check_form(&body)?;
    state.cache.delete(&admin.session_key).await?;
    let mut response = see_other("/admin/sign-in?reason=signed_out");
    let _ = response.add_cookie(&removal_cookie(&state));
    if matches!(admin.actor, Actor::AdminUser(_)) {
        if let Some((id, _)) = session::current(&state.cache, &state.config, &req).await? {
            session::end(&state.cache, &id).await?;
        }
        let _ = response.add_cookie(&session::removal_cookie(&state.config));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::cookie::SameSite;

    #[test]
    fn the_admin_cookie_is_host_only_on_https() {
        let mut config = Config::load(None).unwrap();
        config.server.public_url = "https://sso.example.com".into();
        let cookie = admin_cookie(&config, "v".into());
        assert_eq!(cookie.name(), "__Host-sso_gateway_admin");
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.domain(), None);
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        config.server.public_url = "http://127.0.0.1:8080".into();
        let cookie = admin_cookie(&config, "v".into());
        assert_eq!(
            (cookie.name(), cookie.path()),
            ("sso_gateway_admin", Some("/admin"))
        );
    }

    #[test]
    fn integration_id_alone_or_in_a_sign_in_url() {
        let id = "0b6f7b1e-2c1d-4a8e-9d51-3f0f3c2a9b10";
        assert_eq!(integration_id_from(id).as_deref(), Some(id));
        let url = format!("https://sso.example.com/users/sign-in/sso/okta/{id}/");
        assert_eq!(integration_id_from(&url).as_deref(), Some(id));
        assert_eq!(integration_id_from("acme"), None);
        assert_eq!(integration_id_from(""), None);
    }

    #[test]
    fn only_owners_and_admins_administer() {
        assert!(may_administer(Role::Owner));
        assert!(may_administer(Role::Admin));
        assert!(!may_administer(Role::Member));
    }
}
