//! The audit log page, filterable by kind, user and outcome, with refusal
//! reasons in plain words.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{page, relative, when, Admin, Chrome, UiError};
use crate::audit::{Actor, AuditKind, Outcome};
use crate::signin::RefusalCode;
use crate::state::AppState;
use crate::store::{AuditEvent, AuditFilter};

/// A refusal's code, read from the event's structured details.
fn refusal_code(event: &AuditEvent) -> Option<RefusalCode> {
    event.details["code"].as_str().and_then(RefusalCode::parse)
}

/// What a failed event means, in words an admin can act on.
fn explanation(event: &AuditEvent) -> &'static str {
    match refusal_code(event) {
        Some(code) => code.explanation(),
        None => "The change was refused (see the technical detail).",
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
        let success = event.outcome == Outcome::Success.as_str();
        SignInSummary {
            at: event.occurred_at,
            success,
            idp_answer_verified: success
                || refusal_code(event) == Some(RefusalCode::NotPreapproved),
            who: event.subject.clone().unwrap_or_else(|| "(unknown)".into()),
            words: if success {
                "Signed in."
            } else {
                explanation(event)
            },
            technical: event.reason.clone().unwrap_or_default(),
        }
    }

    pub fn when(&self) -> String {
        format!("{} ({})", relative(self.at), when(self.at))
    }
}

/// What happened, for people.
fn describe_kind(kind: &str) -> &'static str {
    AuditKind::parse(kind).map_or("Other change", AuditKind::label)
}

/// Who did it, for people.
fn describe_actor(actor: &str) -> String {
    actor
        .parse::<Actor>()
        .map_or_else(|()| actor.to_string(), |a| a.label())
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
    let outcome = blank(&query.outcome).filter(|o| Outcome::parse(o).is_some());
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
            let success = e.outcome == Outcome::Success.as_str();
            Row {
                time: when(e.occurred_at),
                ago: relative(e.occurred_at),
                what: describe_kind(&e.kind),
                kind: e.kind.clone(),
                success,
                actor: describe_actor(&e.actor),
                subject: e.subject.clone().unwrap_or_default(),
                words: (!success).then(|| explanation(e)),
                technical: e.reason.clone().unwrap_or_default(),
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

    fn event(outcome: &str, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            id: "e1".into(),
            occurred_at: 0,
            kind: "sign_in".into(),
            outcome: outcome.into(),
            actor: "sso:0123456789".into(),
            subject: Some("a@b.c".into()),
            reason: Some("not_preapproved: a@b.c is not a member".into()),
            details,
        }
    }

    #[test]
    fn refusals_are_explained_from_the_code_in_the_details() {
        let refused = event("failure", serde_json::json!({"code": "not_preapproved"}));
        let summary = SignInSummary::from_event(&refused);
        assert!(summary.words.contains("pre-approves"));
        assert!(summary.idp_answer_verified && !summary.success);
        assert_eq!(summary.technical, "not_preapproved: a@b.c is not a member");
        let unknown = event("failure", serde_json::json!({}));
        assert!(!SignInSummary::from_event(&unknown).idp_answer_verified);
    }

    #[test]
    fn kinds_and_actors_read_as_people() {
        assert_eq!(describe_kind("team.deleted"), "Team deleted");
        assert_eq!(describe_kind("something.new"), "Other change");
        assert_eq!(describe_actor("admin_token:x"), "Admin token");
        assert_eq!(describe_actor("odd"), "odd");
    }
}
