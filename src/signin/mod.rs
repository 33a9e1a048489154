//! What every sign-in path (SAML, OIDC) does once the identity provider's
//! answer is verified — and what it does when it is not: JIT admission
//! through the provisioning rules, the session, the audit record and the
//! metric. Outcomes are types ([`SignedIn`], [`Refusal`]); the web layer
//! alone turns them into responses and pages.

pub mod discovery;
pub mod pending;
pub mod refusal;

pub use crate::local_path::safe_return_path;
pub use refusal::{Class, NotAdmitted, Refusal, RefusalCode};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, AuditKind, Outcome};
use crate::cache::Cache;
use crate::config::Config;
use crate::integrations::stored_settings;
use crate::metrics::Metrics;
use crate::provisioning::{self, idp_groups, limits, GroupSettings, SignInRefusal};
use crate::session::{self, SamlLogin, Session};
use crate::store::{now_ms, Integration, NewAuditEvent, Store, UserProfile};

/// What finishing a sign-in works with: the directory (admission, audit),
/// the shared cache (sessions), the settings and the metrics.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub store: &'a Store,
    pub cache: &'a Cache,
    pub config: &'a Config,
    pub metrics: &'a Metrics,
}

/// A person as the identity provider vouched for them.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// The provider's stable id for them (SAML NameID, OIDC iss+sub / tid+oid).
    pub subject: String,
    pub email: Option<String>,
    pub profile: UserProfile,
    /// SAML only: the NameID and SessionIndex Single Logout refers to.
    pub saml: Option<SamlLogin>,
    /// Their IdP groups at this sign-in: `None` when the IdP said nothing
    /// (or only that there are too many: `groups_overage`), which changes
    /// no mapped membership or role; `Some(vec![])` when it asserted none.
    /// OIDC fills it from the claim; SAML's come from `attributes` once the
    /// integration's `groups_attribute` is known (in [`admit`]).
    pub groups: Option<Vec<String>>,
    /// The IdP said the person is in too many groups to list (Entra's
    /// `_claim_names` / SAML `groups.link`).
    pub groups_overage: bool,
    /// SAML: every attribute of the signed assertion (Name → values).
    pub attributes: Vec<(String, Vec<String>)>,
}

/// A sign-in we sent to the identity provider: where the browser goes, and
/// the token that binds the pending sign-in to this browser (its cookie).
pub struct Started {
    pub redirect_url: String,
    pub browser: String,
}

/// A person admitted and a session opened for them.
pub struct SignedIn {
    /// The new session's id (its cookie's value).
    pub session_id: String,
    /// Where to send them: a checked local path, or `None` for the default.
    pub return_to: Option<String>,
}

/// Records a refused attempt: a metric always, an audit row when we know
/// whose integration it was.
pub async fn record_refusal(
    services: Services<'_>,
    integration: Option<&Integration>,
    subject: Option<&str>,
    refusal: &Refusal,
    reference: &str,
) {
    let kind = integration.map_or("unknown", |i| i.kind.as_str());
    let code = refusal.code.as_str();
    services
        .metrics
        .sign_ins
        .with_label_values(&[kind, code])
        .inc();
    tracing::info!(code, detail = %refusal.detail, integration = integration.map(|i| i.id.as_str()), "sign-in refused");
    if let Some(integration) = integration {
        let event = NewAuditEvent {
            org_id: integration.org_id.clone(),
            kind: AuditKind::SignIn,
            outcome: Outcome::Failure,
            actor: Actor::Sso(integration.id.clone()),
            subject: subject.map(str::to_string),
            reason: Some(refusal.reason()),
            details: json!({ "code": code, "kind": kind, "reference": reference }),
        };
        if let Err(e) = services.store.record_audit_alone(&event).await {
            tracing::warn!(error = %e, "could not audit a refused sign-in");
        }
    }
}

/// Admits the verified identity (JIT rules), opens a session bound to the
/// integration's organization and audits the attempt either way.
pub async fn admit(
    services: Services<'_>,
    integration: &Integration,
    identity: Identity,
    return_to: Option<String>,
    reference: &str,
) -> Result<SignedIn, Refusal> {
    match admit_unrecorded(services, integration, &identity, return_to).await {
        Ok((signed_in, email, joined, groups)) => {
            let kind = integration.kind.as_str();
            services
                .metrics
                .sign_ins
                .with_label_values(&[kind, "success"])
                .inc();
            let event = NewAuditEvent {
                org_id: integration.org_id.clone(),
                kind: AuditKind::SignIn,
                outcome: Outcome::Success,
                actor: Actor::Sso(integration.id.clone()),
                subject: Some(email),
                reason: None,
                details: json!({ "kind": kind, "joined": joined, "idp_subject": identity.subject, "groups": groups.audit() }),
            };
            if let Err(e) = services.store.record_audit_alone(&event).await {
                tracing::warn!(error = %e, "could not audit a sign-in");
            }
            Ok(signed_in)
        }
        Err(refusal) => {
            // The audit row names the person by email when there is one.
            let subject = usable_email(&identity).unwrap_or(&identity.subject);
            record_refusal(
                services,
                Some(integration),
                Some(subject),
                &refusal,
                reference,
            )
            .await;
            Err(refusal)
        }
    }
}

/// The organization's name for a person-facing page.
async fn org_name(services: Services<'_>, org_id: &str) -> String {
    match services.store.organization(org_id).await {
        Ok(Some(org)) => org.name,
        _ => "this organization".to_string(),
    }
}

/// The email an attempt is about, when the identity provider sent a usable one.
fn usable_email(identity: &Identity) -> Option<&str> {
    identity.email.as_deref().filter(|e| e.contains('@'))
}

/// The groups a sign-in asserted, as the integration's settings read them
/// and as bounded for the rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AssertedGroups {
    /// `None`: unknown (not sent, or overage) — the mapping changes nothing.
    pub groups: Option<Vec<String>>,
    /// How many asserted values were dropped (blank, over-long, too many).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cut: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl AssertedGroups {
    fn read(integration: &Integration, settings: &GroupSettings, identity: &Identity) -> Self {
        let configured = settings.groups_attribute.as_deref();
        let (raw, overage) = if integration.kind.is_saml() {
            idp_groups::saml_groups(&identity.attributes, configured)
        } else {
            (identity.groups.clone(), identity.groups_overage)
        };
        if overage {
            return AssertedGroups {
                note: Some(idp_groups::OVERAGE_NOTE.to_string()),
                ..Default::default()
            };
        }
        let Some(raw) = raw else {
            return AssertedGroups::default();
        };
        let (groups, cut) = idp_groups::bounded_groups(raw);
        AssertedGroups {
            note: (cut > 0).then(|| {
                format!("{cut} asserted group value(s) were blank, longer than {} characters or beyond the first {}; they were ignored", limits::EXTERNAL_ID, limits::IDP_GROUPS_ASSERTED)
            }),
            groups: Some(groups),
            cut,
        }
    }

    /// What the sign-in's audit row says of them: how many, never the list
    /// (hundreds of names per sign-in would swell the log; the integration
    /// page shows the last ones).
    fn audit(&self) -> serde_json::Value {
        json!({
            "asserted": self.groups.as_ref().map(Vec::len),
            "cut": self.cut,
            "note": self.note,
        })
    }
}

/// How long the integration page remembers the last asserted groups.
const LAST_GROUPS_TTL: Duration = Duration::from_secs(30 * 86_400);

fn last_groups_key(integration_id: &str) -> String {
    format!("idp-groups-seen:{integration_id}")
}

/// The groups the integration's last sign-in asserted (with when), for
/// the admin to copy into teams' `idp_groups`. Group names and ids are not
/// secrets; nothing else of the sign-in is kept.
pub async fn last_asserted_groups(
    cache: &Cache,
    integration_id: &str,
) -> Option<(AssertedGroups, i64)> {
    let raw = cache.get(&last_groups_key(integration_id)).await.ok()??;
    serde_json::from_str(&raw).ok()
}

/// The admission itself: the session, with the member's email, whether
/// they just joined, and the groups the sign-in asserted.
async fn admit_unrecorded(
    services: Services<'_>,
    integration: &Integration,
    identity: &Identity,
    return_to: Option<String>,
) -> Result<(SignedIn, String, bool, AssertedGroups), Refusal> {
    let Some(email) = usable_email(identity) else {
        return Err(Refusal::new(
            RefusalCode::NoEmail,
            "the identity provider sent no email address (SAML: NameID or email attribute; OIDC: email claim)",
        ));
    };
    let actor = Actor::Sso(integration.id.clone());
    let admission = match provisioning::admit_on_sign_in(
        services.store,
        &integration.org_id,
        email,
        &identity.profile,
        &actor,
    )
    .await
    {
        Ok(a) => a,
        Err(SignInRefusal::DomainNotPreapproved { domain, .. }) => {
            let org_name = org_name(services, &integration.org_id).await;
            let detail = format!("{email} is not a member and no team pre-approves {domain}");
            return Err(Refusal::not_admitted(detail, org_name, domain));
        }
        Err(SignInRefusal::AccountElsewhere { domain, .. }) => {
            let org_name = org_name(services, &integration.org_id).await;
            let detail = format!(
                "{email} belongs to another organization; {domain} is not verified here, and {email} was neither invited nor a member before"
            );
            return Err(Refusal::account_elsewhere(detail, org_name, domain));
        }
        Err(SignInRefusal::NoEmail) => {
            return Err(Refusal::new(
                RefusalCode::NoEmail,
                format!("{email:?} is not a usable email address"),
            ));
        }
        Err(SignInRefusal::Store(e)) => {
            return Err(Refusal::unavailable(format!("database: {e}")));
        }
    };
    let settings = stored_settings(integration)
        .map(|s| s.groups().clone())
        .unwrap_or_default();
    let groups = AssertedGroups::read(integration, &settings, identity);
    if groups.groups.is_some() || groups.note.is_some() {
        let seen = serde_json::to_string(&(&groups, now_ms())).unwrap_or_default();
        if let Err(e) = services
            .cache
            .put(&last_groups_key(&integration.id), &seen, LAST_GROUPS_TTL)
            .await
        {
            tracing::debug!(error = %e, "could not remember the asserted groups");
        }
    }
    if let Some(asserted) = &groups.groups {
        provisioning::apply_idp_groups(
            services.store,
            &integration.org_id,
            &admission.user.id,
            asserted,
            &settings.role_mapping,
            &actor,
        )
        .await
        .map_err(|e| Refusal::unavailable(format!("database: {e}")))?;
    }
    let session = Session {
        user_id: admission.user.id.clone(),
        org_id: integration.org_id.clone(),
        integration_id: integration.id.clone(),
        created_at: now_ms(),
        saml: identity.saml.clone(),
    };
    let session_id = session::start(services.cache, services.config, &session)
        .await
        .map_err(|e| Refusal::unavailable(format!("session store: {e}")))?;
    let signed_in = SignedIn {
        session_id,
        return_to,
    };
    Ok((signed_in, admission.user.email, admission.joined, groups))
}
