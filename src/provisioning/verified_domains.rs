//! Verified domains: an organization claims an email domain and proves it
//! owns it with a DNS TXT record. Only a verified domain routes people from
//! the sign-in page, and lets this organization's IdP attach an account
//! that belongs to another organization too.

use serde_json::json;

use super::domains::normalize_one;
use super::events::domain_changed;
use super::{audit_success, invalid, Actor, RuleError, RuleResult};
use crate::audit::AuditKind;
use crate::config::DnsConfig;
use crate::dns::{Dns, DnsError};
use crate::events::EventType;
use crate::store::{now_ms, OrgDomain, Store, StoreError};

/// Where the TXT record goes, and what it must say.
pub fn txt_record(domain: &OrgDomain) -> (String, String) {
    (
        format!("_sso-gateway-challenge.{}", domain.domain),
        format!("sso-gateway-domain-verification={}", domain.challenge),
    )
}

/// Whether `org_id` has verified the domain of `email`: what an ID token's
/// `email_verified` says for the person it signs in.
pub async fn vouches_for(store: &Store, org_id: &str, email: &str) -> Result<bool, StoreError> {
    let Some(domain) = super::email_domain(email) else {
        return Ok(false);
    };
    Ok(Store::verified_domain_owner(store.pool(), &domain)
        .await?
        .as_deref()
        == Some(org_id))
}

/// Whether the organization holds `domain` verified now.
pub fn is_verified(domain: &OrgDomain) -> bool {
    domain.verified_at.is_some()
}

fn taken(domain: &str) -> RuleError {
    RuleError::Conflict(format!(
        "{domain} is verified by another organization; a domain belongs to one organization"
    ))
}

/// Claims `raw` for the organization (not yet verified).
pub async fn claim_domain(
    store: &Store,
    org_id: &str,
    raw: &str,
    actor: &Actor,
) -> RuleResult<OrgDomain> {
    let domain = normalize_one("domain", raw)?;
    let mut tx = store.write_tx().await?;
    if Store::verified_domain_owner(&mut *tx, &domain)
        .await?
        .is_some_and(|owner| owner != org_id)
    {
        return Err(taken(&domain));
    }
    let claim = OrgDomain {
        org_id: org_id.to_string(),
        domain: domain.clone(),
        challenge: crate::secrets::new_token(""),
        created_at: now_ms(),
        verified_at: None,
        last_checked_at: None,
        failing_since: None,
    };
    match tx.insert_org_domain(&claim).await {
        Err(StoreError::Conflict) => {
            return Err(RuleError::Conflict(format!(
                "{domain} is already added to this organization"
            )))
        }
        other => other?,
    }
    audit_success(
        &mut tx,
        org_id,
        AuditKind::DomainClaimed,
        actor,
        Some(&domain),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(claim)
}

/// What a look-up found, in words for the admin: why it is not verified.
fn not_found_message(record: &str, expected: &str, found: &[String]) -> String {
    if found.is_empty() {
        return format!("there is no TXT record at {record}; add one with the value {expected}");
    }
    let shown: Vec<String> = found.iter().take(5).map(|v| format!("{v:?}")).collect();
    format!(
        "the TXT records at {record} are {}, none of them {expected}; DNS changes can take a few minutes to appear",
        shown.join(", ")
    )
}

/// Looks the TXT record up and, when it is there, marks the domain
/// verified (`domain.verified`). Anything else is a 422 saying what the
/// look-up found.
pub async fn verify_domain(
    store: &Store,
    dns: &Dns,
    org_id: &str,
    raw: &str,
    actor: &Actor,
) -> RuleResult<OrgDomain> {
    let domain = claimed_name(raw)?;
    let claim = store
        .org_domain(org_id, &domain)
        .await?
        .ok_or(RuleError::NotFound("domain"))?;
    if is_verified(&claim) {
        return Ok(claim);
    }
    let (record, expected) = txt_record(&claim);
    let found = match dns.txt(&record).await {
        Ok(found) => found,
        Err(DnsError::NoRecord(_)) => Vec::new(),
        Err(e) => return Err(invalid("domain", e.to_string())),
    };
    if !found.iter().any(|v| v.trim() == expected) {
        return Err(invalid(
            "domain",
            not_found_message(&record, &expected, &found),
        ));
    }
    let mut tx = store.write_tx().await?;
    match tx.set_domain_verified(org_id, &domain).await {
        Err(StoreError::Conflict) => return Err(taken(&domain)),
        Ok(false) => return Err(RuleError::NotFound("domain")),
        other => other?,
    };
    domain_changed(&mut tx, org_id, EventType::DomainVerified, &domain);
    audit_success(
        &mut tx,
        org_id,
        AuditKind::DomainVerified,
        actor,
        Some(&domain),
        json!({ "record": record }),
    )
    .await?;
    tx.commit().await?;
    store
        .org_domain(org_id, &domain)
        .await?
        .ok_or(RuleError::NotFound("domain"))
}

pub async fn remove_domain(
    store: &Store,
    org_id: &str,
    raw: &str,
    actor: &Actor,
) -> RuleResult<()> {
    let domain = claimed_name(raw)?;
    let claim = store
        .org_domain(org_id, &domain)
        .await?
        .ok_or(RuleError::NotFound("domain"))?;
    let mut tx = store.write_tx().await?;
    if !tx.delete_org_domain(org_id, &domain).await? {
        return Err(RuleError::NotFound("domain"));
    }
    if is_verified(&claim) {
        domain_changed(&mut tx, org_id, EventType::DomainUnverified, &domain);
    }
    audit_success(
        &mut tx,
        org_id,
        AuditKind::DomainRemoved,
        actor,
        Some(&domain),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// How many domains one re-check pass looks up at most.
const RECHECK_BATCH: i64 = 200;

/// Looks up again every verified domain not checked for
/// `recheck_interval_seconds`. A record that is gone starts the grace
/// period; once it has run out the domain loses its verification
/// (`domain.unverified`) and stops routing and attaching. A look-up that
/// fails (timeout, SERVFAIL) is no evidence either way and changes nothing.
/// Returns how many domains lost their verification.
pub async fn recheck_verified_domains(
    store: &Store,
    dns: &Dns,
    config: &DnsConfig,
) -> RuleResult<usize> {
    let now = now_ms();
    let interval =
        i64::try_from(config.recheck_interval_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let grace = i64::from(config.grace_hours) * 3_600_000;
    let due = store
        .verified_domains_checked_before(now.saturating_sub(interval), RECHECK_BATCH)
        .await?;
    let mut lost = 0;
    for claim in due {
        let (record, expected) = txt_record(&claim);
        let found = match dns.txt(&record).await {
            Ok(values) => values.iter().any(|v| v.trim() == expected),
            Err(DnsError::NoRecord(_)) => false,
            Err(e) => {
                tracing::warn!(domain = %claim.domain, error = %e, "domain re-check look-up failed; will retry");
                continue;
            }
        };
        let mut tx = store.write_tx().await?;
        tx.record_domain_check(&claim.org_id, &claim.domain, found)
            .await?;
        let failing_since = if found {
            None
        } else {
            Some(claim.failing_since.unwrap_or(now))
        };
        if !found && claim.failing_since.is_none() {
            audit_success(
                &mut tx,
                &claim.org_id,
                AuditKind::DomainRecordMissing,
                &Actor::System,
                Some(&claim.domain),
                json!({ "record": record, "grace_hours": config.grace_hours }),
            )
            .await?;
        }
        if failing_since.is_some_and(|since| now - since >= grace) {
            tx.set_domain_unverified(&claim.org_id, &claim.domain)
                .await?;
            domain_changed(
                &mut tx,
                &claim.org_id,
                EventType::DomainUnverified,
                &claim.domain,
            );
            audit_success(
                &mut tx,
                &claim.org_id,
                AuditKind::DomainUnverified,
                &Actor::System,
                Some(&claim.domain),
                json!({ "record": record, "missing_since": failing_since }),
            )
            .await?;
            lost += 1;
        }
        tx.commit().await?;
    }
    Ok(lost)
}

/// A domain named in a path: one that does not even parse names no claim.
fn claimed_name(raw: &str) -> RuleResult<String> {
    normalize_one("domain", raw).map_err(|_| RuleError::NotFound("domain"))
}
