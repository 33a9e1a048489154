//! What every sign-in path (SAML, OIDC) does once the identity provider's
//! answer is verified — and what it does when it is not: JIT admission
//! through the provisioning rules, the session, the audit record, the
//! metric, and the page a person sees.

pub mod pending;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde_json::json;

use crate::provisioning::{self, Actor, SignInRefusal};
use crate::session::{self, Session};
use crate::state::AppState;
use crate::store::Kind;
use crate::store::{now_ms, Integration, NewAuditEvent, UserProfile};

/// A person as the identity provider vouched for them.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The provider's stable id for them (SAML NameID, OIDC iss+sub / tid+oid).
    pub subject: String,
    pub email: Option<String>,
    pub profile: UserProfile,
}

/// Why a sign-in was refused: a stable code for the audit log and metrics,
/// the exact detail for the admin, and words for the person.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: &'static str,
    pub detail: String,
    pub status: StatusCode,
    pub advice: Advice,
}

/// Which page the person sees.
#[derive(Debug, Clone)]
pub enum Advice {
    /// The identity provider's answer was not acceptable: retry, then ask the admin.
    Verification,
    /// The person is not admitted to this organization.
    NotAdmitted { org_name: String, domain: String },
    /// Our side is temporarily down.
    Unavailable,
    /// No such sign-in link.
    UnknownIntegration,
}

impl Failure {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Failure {
            code,
            detail: detail.into(),
            status: StatusCode::FORBIDDEN,
            advice: Advice::Verification,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Failure {
            code: "unavailable",
            detail: detail.into(),
            status: StatusCode::SERVICE_UNAVAILABLE,
            advice: Advice::Unavailable,
        }
    }
}

/// `return_to`/RelayState are attacker-controllable: only a path on this
/// host is followed (no scheme, no `//host`, no backslash tricks).
pub fn safe_return_path(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && raw.len() <= 2048
        && !raw.contains('\\')
        && !raw.chars().any(|c| c.is_control() || c.is_whitespace())
        && !raw.to_ascii_lowercase().contains("%5c")
        && url::Url::parse("http://gateway.invalid")
            .and_then(|base| base.join(raw))
            .is_ok_and(|u| u.host_str() == Some("gateway.invalid"));
    ok.then(|| raw.to_string())
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

/// A person-facing HTML page for a refused sign-in.
pub fn refusal_page(failure: &Failure, reference: &str, retry_url: Option<String>) -> HttpResponse {
    let (headline, explanation, what_to_do) = match &failure.advice {
        Advice::Verification => (
            "We couldn't verify your sign-in",
            format!("Your identity provider's answer was not accepted: {}.", failure.detail),
            "Start the sign-in again from your identity provider or the sign-in link. If it happens again, \
             ask your administrator to check this application's single sign-on settings, and give them the reference below."
                .to_string(),
        ),
        Advice::NotAdmitted { org_name, domain } => (
            "You don't have access to this organization yet",
            format!("You signed in successfully, but you are not a member of {org_name}, and addresses at {domain} are not pre-approved to join."),
            format!("Ask an administrator of {org_name} to add you (for example by assigning you to the application in the identity provider), or to pre-approve {domain} for one of their teams."),
        ),
        Advice::Unavailable => (
            "Sign-in is temporarily unavailable",
            "We could not complete your sign-in because part of our service is not responding.".to_string(),
            "Wait a minute and try again.".to_string(),
        ),
        Advice::UnknownIntegration => (
            "This sign-in link is not valid",
            "There is no single sign-on connection with this ID. It may have been removed or mistyped.".to_string(),
            "Ask your administrator for the current sign-in link.".to_string(),
        ),
    };
    let page = RefusedPage {
        headline,
        explanation,
        what_to_do,
        reference,
        retry_url,
    };
    html(failure.status, page.render())
}

/// The policy for pages we render: our own stylesheet, nothing else.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

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

fn request_reference(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

fn kind_label(integration: &Integration) -> &'static str {
    crate::store::kind_of(integration).as_str()
}

/// Records a refused attempt (audit + metric) and renders the page.
pub async fn refuse(
    state: &AppState,
    integration: Option<&Integration>,
    subject: Option<&str>,
    failure: Failure,
    req: &HttpRequest,
) -> HttpResponse {
    let reference = request_reference(req);
    let kind = integration.map(kind_label).unwrap_or("unknown");
    state
        .metrics
        .sign_ins
        .with_label_values(&[kind, failure.code])
        .inc();
    tracing::info!(code = failure.code, detail = %failure.detail, integration = integration.map(|i| i.id.as_str()), "sign-in refused");
    if let Some(integration) = integration {
        let event = NewAuditEvent {
            org_id: integration.org_id.clone(),
            kind: "sign_in".into(),
            outcome: "failure".into(),
            actor: Actor::Sso(integration.id.clone()).to_string(),
            subject: subject.map(str::to_string),
            reason: Some(format!("{}: {}", failure.code, failure.detail)),
            details: json!({ "code": failure.code, "kind": kind, "reference": reference }),
        };
        if let Err(e) = state.store.record_audit_alone(&event).await {
            tracing::warn!(error = %e, "could not audit a refused sign-in");
        }
    }
    let retry = integration.map(|i| {
        state
            .config
            .external_url(&format!("/users/sign-in/sso/{}/{}", kind_label(i), i.id))
    });
    refusal_page(
        &failure,
        &reference,
        retry.filter(|_| matches!(failure.advice, Advice::Verification | Advice::Unavailable)),
    )
}

/// Admits the verified identity (JIT rules), opens a session bound to the
/// integration's organization, audits, and redirects.
pub async fn complete(
    state: &AppState,
    integration: &Integration,
    identity: Identity,
    return_to: Option<String>,
    req: &HttpRequest,
) -> HttpResponse {
    let Some(email) = identity.email.as_deref().filter(|e| e.contains('@')) else {
        let failure = Failure::new(
            "no_email",
            "the identity provider sent no email address (SAML: NameID or email attribute; OIDC: email claim)",
        );
        return refuse(
            state,
            Some(integration),
            Some(&identity.subject),
            failure,
            req,
        )
        .await;
    };
    let actor = Actor::Sso(integration.id.clone());
    let admission = match provisioning::admit_on_sign_in(
        &state.store,
        &integration.org_id,
        email,
        &identity.profile,
        &actor,
    )
    .await
    {
        Ok(a) => a,
        Err(SignInRefusal::DomainNotPreapproved { domain, .. }) => {
            let org_name = match state.store.organization(&integration.org_id).await {
                Ok(Some(org)) => org.name,
                _ => "this organization".to_string(),
            };
            let failure = Failure {
                code: "not_preapproved",
                detail: format!("{email} is not a member and no team pre-approves {domain}"),
                status: StatusCode::FORBIDDEN,
                advice: Advice::NotAdmitted { org_name, domain },
            };
            return refuse(state, Some(integration), Some(email), failure, req).await;
        }
        Err(SignInRefusal::NoEmail) => {
            let failure = Failure::new(
                "no_email",
                format!("{email:?} is not a usable email address"),
            );
            return refuse(state, Some(integration), Some(email), failure, req).await;
        }
        Err(SignInRefusal::Store(e)) => {
            return refuse(
                state,
                Some(integration),
                Some(email),
                Failure::unavailable(format!("database: {e}")),
                req,
            )
            .await;
        }
    };
    let session = Session {
        user_id: admission.user.id.clone(),
        org_id: integration.org_id.clone(),
        integration_id: integration.id.clone(),
        created_at: now_ms(),
    };
    let cookie = match session::start(state, &session).await {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                state,
                Some(integration),
                Some(email),
                Failure::unavailable(format!("session store: {e}")),
                req,
            )
            .await
        }
    };
    let kind = kind_label(integration);
    state
        .metrics
        .sign_ins
        .with_label_values(&[kind, "success"])
        .inc();
    let event = NewAuditEvent {
        org_id: integration.org_id.clone(),
        kind: "sign_in".into(),
        outcome: "success".into(),
        actor: actor.to_string(),
        subject: Some(admission.user.email.clone()),
        reason: None,
        details: json!({ "kind": kind, "joined": admission.joined, "idp_subject": identity.subject }),
    };
    if let Err(e) = state.store.record_audit_alone(&event).await {
        tracing::warn!(error = %e, "could not audit a sign-in");
    }
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            return_to.unwrap_or_else(|| "/".to_string()),
        ))
        .cookie(cookie)
        .finish()
}

/// The kind a sign-in route serves must match the integration's kind.
pub fn route_matches(route_kind: Kind, integration: &Integration) -> bool {
    crate::store::kind_of(integration) == route_kind
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        for ok in ["/", "/dashboard", "/a/b?x=1&y=%2F#frag", "/caf%C3%A9"] {
            assert_eq!(safe_return_path(Some(ok)).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "/%5Cevil.example",
            "javascript:alert(1)",
            "evil.example",
            "/ok\r\nSet-Cookie: x=y",
            "/\tevil",
            "",
            "http:/evil.example",
        ] {
            assert_eq!(safe_return_path(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_return_path(None), None);
        assert_eq!(
            safe_return_path(Some(&format!("/{}", "a".repeat(3000)))),
            None
        );
    }
}
