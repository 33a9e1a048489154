//! The audit log page, filterable by kind, user and outcome, with refusal
//! reasons in plain words.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{page, relative, when, Admin, Chrome, UiError};
use crate::state::AppState;
use crate::store::{AuditEvent, AuditFilter};

/// A refused sign-in's code (`code: detail` in the audit reason) in words
/// an admin can act on.
pub fn plain_reason(code: &str) -> &'static str {
    match code {
        "not_preapproved" => "The identity provider vouched for the person, but they are not a member and no team pre-approves their email domain. Add the domain to a team (Teams → ⋯ → Configure) or provision them by SCIM.",
        "no_email" => "The identity provider sent no usable email address. In the IdP, set the application username / NameID format to Email.",
        "signature_invalid" | "unsigned" | "no_certificate" => "The response's signature did not verify against this integration's certificate. The IdP may have a new signing certificate: refresh the metadata link or paste the new certificate.",
        "issuer_mismatch" => "The response came from a different identity provider (Issuer) than the one connected. Check that the metadata link belongs to this application.",
        "audience_mismatch" | "audience_missing" | "recipient_mismatch" | "destination_mismatch" => "The response was addressed to another application. In the IdP, the Audience / ACS URL must be this integration's ACS URL.",
        "expired" | "confirmation_expired" | "not_yet_valid" | "issued_in_future" => "The response was outside its validity window. Check the clocks of the identity provider and this server, then sign in again.",
        "replayed" => "This exact response had already been used once; a copy was refused.",
        "in_response_to_unknown" | "in_response_to_mismatch" | "browser_mismatch" | "stale" => "The response did not match a sign-in started in this browser (expired, or started elsewhere). Start the sign-in again.",
        "unsolicited_refused" => "Sign-in started at the identity provider (its app tile) is turned off here. Start from the sign-in URL instead.",
        "status_not_success" => "The identity provider reported that it did not sign the person in (for example, not assigned to the application).",
        "unknown_integration" => "The sign-in link names no integration (removed or mistyped).",
        "unavailable" => "Part of this service was unavailable (database or cache); the person can simply try again.",
        "not_configured" => "The integration's settings could not be read; save them again.",
        _ => "The identity provider's answer was malformed or used a feature that is refused for safety (see the technical detail).",
    }
}

/// A sign-in attempt as the pages summarise it.
pub struct SignInSummary {
    pub at: i64,
    pub success: bool,
    /// The IdP's answer verified even though the person was refused.
    pub idp_answer_verified: bool,
    pub who: String,
    pub words: &'static str,
    pub technical: String,
}

impl SignInSummary {
    pub fn from_event(event: &AuditEvent) -> Self {
        let (code, technical) = split_reason(event.reason.as_deref());
        SignInSummary {
            at: event.occurred_at,
            success: event.outcome == "success",
            idp_answer_verified: event.outcome == "success" || code == "not_preapproved",
            who: event.subject.clone().unwrap_or_else(|| "(unknown)".into()),
            words: if event.outcome == "success" {
                "Signed in."
            } else {
                plain_reason(code)
            },
            technical,
        }
    }

    pub fn when(&self) -> String {
        format!("{} ({})", relative(self.at), when(self.at))
    }
}

fn split_reason(reason: Option<&str>) -> (&str, String) {
    match reason {
        Some(r) => match r.split_once(": ") {
            Some((code, _)) => (code, r.to_string()),
            None => (r, r.to_string()),
        },
        None => ("", String::new()),
    }
}

/// What happened, for people.
fn describe_kind(kind: &str) -> &'static str {
    match kind {
        "sign_in" => "Sign-in",
        "organization.created" => "Organization created",
        "organization.renamed" => "Organization renamed",
        "admin_token.rotated" => "Admin token rotated",
        "integration.created" => "Integration connected",
        "integration.updated" => "Integration settings changed",
        "integration.deleted" => "Integration deleted",
        "integration.certificates_changed" => "IdP certificates changed (metadata refresh)",
        "provisioning.enabled" => "Provisioning turned on",
        "provisioning.token_rotated" => "Provisioning token rotated",
        "provisioning.disabled" => "Provisioning turned off",
        "team.created" => "Team created",
        "team.updated" => "Team changed",
        "team.deleted" => "Team deleted",
        "team.restored" => "Team restored",
        "member.joined" => "Member joined (JIT)",
        "member.role_changed" => "Member role changed",
        "member.deprovisioned" => "Member removed",
        "scim.user.created" => "SCIM: user created",
        "scim.user.updated" => "SCIM: user updated",
        "scim.user.deactivated" => "SCIM: user deactivated",
        "scim.user.reactivated" => "SCIM: user reactivated",
        "scim.user.deleted" => "SCIM: user deleted",
        "scim.group.created" => "SCIM: group pushed (team created)",
        "scim.group.updated" => "SCIM: group updated",
        _ => "Other change",
    }
}

/// Who did it, for people.
fn describe_actor(actor: &str) -> String {
    match actor.split_once(':') {
        Some(("admin_token", _)) => "Admin token".into(),
        Some(("admin_user", email)) => format!("Admin {email}"),
        Some(("scim", id)) => format!("SCIM client of integration {}", short(id)),
        Some(("sso", id)) => format!("Single sign-on via integration {}", short(id)),
        _ if actor == "cli" => "Command line".into(),
        _ if actor == "system" => "The gateway".into(),
        _ => actor.to_string(),
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub struct Row {
    pub time: String,
    pub ago: String,
    pub what: &'static str,
    pub kind: String,
    pub success: bool,
    pub actor: String,
    pub subject: String,
    pub words: Option<&'static str>,
    pub technical: String,
}

/// The filter the form sends; blank means any.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    kind: Option<String>,
    subject: Option<String>,
    outcome: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    kind: String,
    subject: String,
    outcome: String,
    kinds: Vec<(&'static str, &'static str)>,
    rows: Vec<Row>,
    next: Option<String>,
}

impl AuditPage {
    fn is_kind(&self, value: &str) -> bool {
        self.kind == value
    }
}

const KIND_CHOICES: &[(&str, &str)] = &[
    ("", "Everything"),
    ("sign_in", "Sign-ins"),
    ("integration.*", "Integrations"),
    ("provisioning.*", "Provisioning"),
    ("team.*", "Teams"),
    ("member.*", "Members"),
    ("scim.*", "SCIM changes"),
    ("admin_token.*", "Admin token"),
    ("organization.*", "Organization"),
];

const PAGE_SIZE: i64 = 50;

#[get("/audit")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, UiError> {
    let blank = |v: &Option<String>| super::given(v);
    let kind = blank(&query.kind).filter(|k| KIND_CHOICES.iter().any(|(c, _)| c == k));
    let outcome = blank(&query.outcome).filter(|o| o == "success" || o == "failure");
    let subject = blank(&query.subject);
    let filter = AuditFilter {
        kind: kind.clone(),
        outcome: outcome.clone(),
        subject: subject.clone(),
        before_id: blank(&query.cursor),
        limit: PAGE_SIZE,
        ..Default::default()
    };
    let events = state.store.audit_events(&admin.org_id, &filter).await?;
    let next = (events.len() as i64 == PAGE_SIZE)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    let rows = events
        .iter()
        .map(|e| {
            let (code, technical) = split_reason(e.reason.as_deref());
            Row {
                time: when(e.occurred_at),
                ago: relative(e.occurred_at),
                what: describe_kind(&e.kind),
                kind: e.kind.clone(),
                success: e.outcome == "success",
                actor: describe_actor(&e.actor),
                subject: e.subject.clone().unwrap_or_default(),
                words: (e.outcome != "success").then(|| plain_reason(code)),
                technical,
            }
        })
        .collect();
    let page_ = AuditPage {
        chrome: admin.chrome("audit", None),
        kind: kind.unwrap_or_default(),
        subject: subject.unwrap_or_default(),
        outcome: outcome.unwrap_or_default(),
        kinds: KIND_CHOICES.to_vec(),
        rows,
        next,
    };
    Ok(page(&admin, StatusCode::OK, page_.render()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_split_into_code_and_detail() {
        let (code, technical) = split_reason(Some("not_preapproved: a@b.c is not a member"));
        assert_eq!(code, "not_preapproved");
        assert!(plain_reason(code).contains("pre-approves"));
        assert_eq!(technical, "not_preapproved: a@b.c is not a member");
        assert_eq!(split_reason(None).0, "");
    }

    #[test]
    fn actors_read_as_people() {
        assert_eq!(describe_actor("admin_token:x"), "Admin token");
        assert_eq!(describe_actor("admin_user:a@b.c"), "Admin a@b.c");
        assert!(describe_actor("sso:0123456789").ends_with("01234567"));
        assert_eq!(describe_actor("cli"), "Command line");
    }
}
