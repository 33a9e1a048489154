//! SAML IdP metadata: fetching it, and the periodic job that fetches it
//! again for integrations connected by a metadata URL.

use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::saml_source::{fetch_metadata, SamlSettings, SamlSource};
use super::settings::{encoded, stored_settings, Settings};
use crate::audit::AuditKind;
use crate::provisioning::{audit_success, Actor, RuleResult};
use crate::state::AppState;
use crate::store::{now_ms, Integration, Kind};

/// How many metadata documents one instance fetches at once: a slow IdP
/// holds one slot, not the whole pass.
const CONCURRENT_FETCHES: usize = 8;

/// An integration's due fetch is claimed in the shared cache (keyed by its
/// last attempt, so the claim is for this one fetch), so several instances
/// do not fetch the same document; one that dies mid-fetch holds it this long.
const CLAIM: std::time::Duration = std::time::Duration::from_secs(300);

/// When an integration's metadata is due again: one interval after the last
/// attempt, give or take a tenth, fixed per integration and attempt. So
/// integrations connected together (or refreshed together after a restart)
/// drift apart instead of coming due in the same second forever after.
fn due_at(integration_id: &str, last_attempt: i64, interval_ms: i64) -> i64 {
    let digest = Sha256::digest(format!("{integration_id}:{last_attempt}").as_bytes());
    let spread = (interval_ms / 5).max(1);
    let jitter = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % spread as u64;
    last_attempt + interval_ms - interval_ms / 10 + jitter as i64
}

/// How many due integrations one pass takes: four times the steady rate
/// (`total` spread over the interval), so a backlog — a first start, or a
/// restart after downtime — drains over a quarter interval instead of
/// stampeding the IdPs (and this instance) at once.
fn pass_budget(total: usize, pass_ms: i64, interval_ms: i64) -> usize {
    let steady = (total as u64 * pass_ms.max(0) as u64).div_ceil(interval_ms.max(1) as u64);
    (steady as usize * 4).max(16)
}

/// Fetches again the metadata of the URL-connected SAML integrations that
/// are due (see [`due_at`]), most overdue first, at most [`pass_budget`]
/// per pass and [`CONCURRENT_FETCHES`] at a time. A failure keeps the last
/// good copy and records why; a change of certificates is audited.
pub async fn refresh_due_metadata(state: &AppState, pass_ms: i64) -> RuleResult<usize> {
    let interval_ms = state.config.saml.metadata_refresh_seconds as i64 * 1000;
    let now = now_ms();
    let mut total = 0;
    let mut due = Vec::new();
    for integration in state
        .store
        .integrations_of_kinds(&[Kind::Okta, Kind::Saml])
        .await?
    {
        let Ok(Settings::Saml(saml)) = stored_settings(&integration) else {
            continue;
        };
        let SamlSource::MetadataUrl { url } = &saml.source else {
            continue;
        };
        total += 1;
        let last_attempt = saml
            .metadata_fetched_at
            .unwrap_or(0)
            .max(integration.updated_at);
        let at = due_at(&integration.id, last_attempt, interval_ms);
        if at <= now {
            let url = url.clone();
            due.push((at, last_attempt, integration, saml, url));
        }
    }
    due.sort_by_key(|(at, ..)| *at);
    due.truncate(pass_budget(total, pass_ms, interval_ms));
    let results: Vec<RuleResult<bool>> = futures_util::stream::iter(due)
        .map(|(_, last_attempt, integration, saml, url)| {
            refresh_one(state, last_attempt, integration, saml, url)
        })
        .buffer_unordered(CONCURRENT_FETCHES)
        .collect()
        .await;
    let mut refreshed = 0;
    for result in results {
        if result? {
            refreshed += 1;
        }
    }
    Ok(refreshed)
}

/// One integration's fetch, unless another instance has claimed it.
async fn refresh_one(
    state: &AppState,
    last_attempt: i64,
    integration: Integration,
    mut saml: SamlSettings,
    url: String,
) -> RuleResult<bool> {
    let claim = format!("metadata-refresh:{}:{last_attempt}", integration.id);
    // The cache down is no reason to stop refreshing: fetch unclaimed.
    if !state
        .cache
        .put_if_absent(&claim, "1", CLAIM)
        .await
        .unwrap_or(true)
    {
        return Ok(false);
    }
    let certificates_before = saml.idp.certificates.clone();
    match fetch_metadata(&state.outbound, &url).await {
        Ok(idp) => {
            saml.idp = idp;
            saml.metadata_fetched_at = Some(now_ms());
            saml.metadata_error = None;
        }
        Err(message) => {
            tracing::warn!(integration = %integration.id, error = %message, "metadata refresh failed; keeping the last good copy");
            // Stored below, which moves updated_at: the next attempt is
            // one interval later, not every pass.
            saml.metadata_error = Some(message);
        }
    }
    let settings = encoded(&Settings::Saml(saml.clone()))?;
    state
        .store
        .replace_integration_settings(&integration.id, &settings)
        .await?;
    if saml.idp.certificates != certificates_before {
        let mut tx = state.store.write_tx().await?;
        let details = json!({ "certificates": saml.idp.certificates.len() });
        audit_success(
            &mut tx,
            &integration.org_id,
            AuditKind::IntegrationCertificatesChanged,
            &Actor::System,
            Some(&integration.id),
            details,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn integrations_refreshed_together_come_due_spread_over_a_fifth_of_the_interval() {
        let dues: Vec<i64> = (0..10_000)
            .map(|i| due_at(&format!("integration-{i}"), 0, DAY_MS) - DAY_MS)
            .collect();
        let (min, max) = (*dues.iter().min().unwrap(), *dues.iter().max().unwrap());
        assert!(min >= -DAY_MS / 10 && max < DAY_MS / 10, "{min} {max}");
        // Evenly: no tenth of the window holds more than twice its share.
        let mut buckets = [0usize; 10];
        for d in &dues {
            buckets[((d + DAY_MS / 10) * 10 / (DAY_MS / 5)) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| b > 500 && b < 2_000), "{buckets:?}");
        // Fixed per integration and attempt, different for the next attempt.
        assert_eq!(due_at("a", 5, DAY_MS), due_at("a", 5, DAY_MS));
        assert_ne!(due_at("a", 5, DAY_MS) - 5, due_at("a", 6, DAY_MS) - 6);
    }

    #[test]
    fn a_pass_takes_four_times_the_steady_share_and_at_least_sixteen() {
        // 10,000 integrations, 6 h interval, a pass every 30 s: 14 per pass steady.
        assert_eq!(pass_budget(10_000, 30_000, 6 * 3_600_000), 56);
        assert_eq!(pass_budget(10, 30_000, 6 * 3_600_000), 16);
        assert_eq!(pass_budget(10_000, 30_000, 60_000), 20_000);
    }
}
