//! The host product's door: platform API keys and the setup links it hands
//! to a customer's IT admin. Keys are deployment-wide, so their creation
//! and revocation belong to no organization's audit log; a setup link is
//! created and used in one organization and audited there.

use serde_json::json;

use super::orgs::validate_name;
use super::{audit_success, invalid, Actor, RuleError, RuleResult};
use crate::audit::AuditKind;
use crate::secrets::{new_token, token_hash, token_matches, API_KEY_PREFIX, SETUP_LINK_PREFIX};
use crate::store::{now_ms, ApiKey, SetupLink, Store};

/// A setup link lives a week unless the product asks otherwise (SPEC).
pub const SETUP_LINK_DEFAULT_SECONDS: i64 = 7 * 86_400;
/// Long enough to open from an email …
pub const SETUP_LINK_MIN_SECONDS: i64 = 60;
/// … and not a standing credential.
pub const SETUP_LINK_MAX_SECONDS: i64 = 30 * 86_400;

/// `last_used_at` moves on at most once a minute per key, so using a key
/// is not a database write per request.
const API_KEY_USE_GRANULARITY_MS: i64 = 60_000;

/// A created key and the key itself (shown this once).
pub struct NewApiKey {
    pub key: ApiKey,
    pub api_key: String,
}

pub async fn create_api_key(store: &Store, name: &str) -> RuleResult<NewApiKey> {
    let name = validate_name("name", name)?;
    let api_key = new_token(API_KEY_PREFIX);
    let mut tx = store.write_tx().await?;
    let key = tx.insert_api_key(&name, &token_hash(&api_key)).await?;
    tx.commit().await?;
    Ok(NewApiKey { key, api_key })
}

pub async fn revoke_api_key(store: &Store, id: &str) -> RuleResult<()> {
    let mut tx = store.write_tx().await?;
    if !tx.revoke_api_key(id).await? {
        return Err(RuleError::NotFound("api key"));
    }
    tx.commit().await?;
    Ok(())
}

/// The unrevoked key `presented` is: looked up by its SHA-256, then
/// compared in constant time. Notes the use (to the minute).
pub async fn verify_api_key(store: &Store, presented: &str) -> RuleResult<Option<ApiKey>> {
    let found = store.live_api_key_by_hash(&token_hash(presented)).await?;
    let Some((key, _)) = found.filter(|(_, stored)| token_matches(presented, stored)) else {
        return Ok(None);
    };
    let now = now_ms();
    if key
        .last_used_at
        .is_none_or(|at| now - at >= API_KEY_USE_GRANULARITY_MS)
    {
        // When it was last used is for people reading `api-key list`: a
        // busy database must not fail the request it rides on.
        if let Err(e) = note_use(store, &key.id, now).await {
            tracing::warn!(error = %e, "could not record when an API key was used");
        }
    }
    Ok(Some(key))
}

async fn note_use(store: &Store, id: &str, now: i64) -> RuleResult<()> {
    let mut tx = store.write_tx().await?;
    tx.touch_api_key(id, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A new setup link: the token for its URL (shown this once) and when it
/// expires (unix ms).
pub struct NewSetupLink {
    pub id: String,
    pub token: String,
    pub expires_at: i64,
}

pub async fn create_setup_link(
    store: &Store,
    org_id: &str,
    expires_in_seconds: Option<i64>,
    actor: &Actor,
) -> RuleResult<NewSetupLink> {
    let lifetime = expires_in_seconds.unwrap_or(SETUP_LINK_DEFAULT_SECONDS);
    if !(SETUP_LINK_MIN_SECONDS..=SETUP_LINK_MAX_SECONDS).contains(&lifetime) {
        return Err(invalid(
            "expires_in_seconds",
            format!(
                "must be between {SETUP_LINK_MIN_SECONDS} and {SETUP_LINK_MAX_SECONDS} (30 days)"
            ),
        ));
    }
    if store.organization(org_id).await?.is_none() {
        return Err(RuleError::NotFound("organization"));
    }
    let token = new_token(SETUP_LINK_PREFIX);
    let expires_at = now_ms() + lifetime * 1000;
    let mut tx = store.write_tx().await?;
    let id = tx
        .insert_setup_link(org_id, &token_hash(&token), expires_at)
        .await?;
    audit_success(
        &mut tx,
        org_id,
        AuditKind::SetupLinkCreated,
        actor,
        Some(&id),
        json!({ "expires_at": expires_at }),
    )
    .await?;
    tx.commit().await?;
    Ok(NewSetupLink {
        id,
        token,
        expires_at,
    })
}

/// Why a setup link opened nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupLinkRefusal {
    Unknown,
    Used,
    Expired,
}

/// The organization a consumed link signs into, and the link (the actor of
/// what the session it opens does).
#[derive(Debug)]
pub struct UsedSetupLink {
    pub link_id: String,
    pub org_id: String,
}

/// The link `token` names if it can still be used now.
fn usable(link: Option<SetupLink>, token: &str, now: i64) -> Result<SetupLink, SetupLinkRefusal> {
    let link = link
        .filter(|link| token_matches(token, &link.token_hash))
        .ok_or(SetupLinkRefusal::Unknown)?;
    if link.used_at.is_some() {
        return Err(SetupLinkRefusal::Used);
    }
    if link.expires_at <= now {
        return Err(SetupLinkRefusal::Expired);
    }
    Ok(link)
}

/// Whether a setup link could be used, without using it: the page that
/// asks the person to continue (a link previewer in a mail or chat client
/// fetches the link too, and must not spend it). Returns its organization.
pub async fn check_setup_link(
    store: &Store,
    token: &str,
) -> RuleResult<Result<String, SetupLinkRefusal>> {
    let link = Store::setup_link_by_hash(store.pool(), &token_hash(token)).await?;
    Ok(usable(link, token, now_ms()).map(|link| link.org_id))
}

/// Uses a setup link up: of any number of concurrent uses exactly one gets
/// `Ok`, and that use is audited in the link's organization.
pub async fn use_setup_link(
    store: &Store,
    token: &str,
) -> RuleResult<Result<UsedSetupLink, SetupLinkRefusal>> {
    let mut tx = store.write_tx().await?;
    let now = now_ms();
    let link = Store::setup_link_by_hash(&mut *tx, &token_hash(token)).await?;
    let link = match usable(link, token, now) {
        Ok(link) => link,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // Another use may have committed since the read above (PostgreSQL
    // does not lock on read): the conditional update decides.
    if !tx.consume_setup_link(&link.id, now).await? {
        return Ok(Err(SetupLinkRefusal::Used));
    }
    let actor = Actor::SetupLink(link.id.clone());
    audit_success(
        &mut tx,
        &link.org_id,
        AuditKind::SetupLinkUsed,
        &actor,
        Some(&link.id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(UsedSetupLink {
        link_id: link.id,
        org_id: link.org_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::create_organization;
    use crate::store::testing::test_store;

    #[tokio::test]
    async fn a_key_verifies_until_revoked_and_records_its_use() {
        let t = test_store().await;
        let store = &t.store;
        let created = create_api_key(store, " Product ").await.unwrap();
        assert_eq!(created.key.name, "Product");
        assert!(created.api_key.starts_with(API_KEY_PREFIX));
        let key = verify_api_key(store, &created.api_key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(key.id, created.key.id);
        let listed = store.api_keys().await.unwrap();
        assert!(listed[0].last_used_at.is_some());
        let wrong = format!("{}x", created.api_key);
        assert!(verify_api_key(store, &wrong).await.unwrap().is_none());

        revoke_api_key(store, &key.id).await.unwrap();
        // Revoking twice is harmless; an unknown id is not found.
        revoke_api_key(store, &key.id).await.unwrap();
        assert!(matches!(
            revoke_api_key(store, "nope").await,
            Err(RuleError::NotFound("api key"))
        ));
        assert!(verify_api_key(store, &created.api_key)
            .await
            .unwrap()
            .is_none());
        assert!(store.api_keys().await.unwrap()[0].revoked_at.is_some());
        assert!(matches!(
            create_api_key(store, "").await,
            Err(RuleError::Invalid { field: "name", .. })
        ));
    }

    #[tokio::test]
    async fn a_setup_link_is_used_once_and_bounded_in_time() {
        let t = test_store().await;
        let store = &t.store;
        let org = create_organization(store, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        for bad in [0, 59, SETUP_LINK_MAX_SECONDS + 1, -5] {
            let err = create_setup_link(store, &org.id, Some(bad), &Actor::Cli).await;
            assert!(
                matches!(
                    err,
                    Err(RuleError::Invalid {
                        field: "expires_in_seconds",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            create_setup_link(store, "nope", None, &Actor::Cli).await,
            Err(RuleError::NotFound("organization"))
        ));
        let link = create_setup_link(store, &org.id, None, &Actor::Cli)
            .await
            .unwrap();
        let week = link.expires_at - now_ms();
        assert!(
            (SETUP_LINK_DEFAULT_SECONDS * 1000 - 5_000..=SETUP_LINK_DEFAULT_SECONDS * 1000)
                .contains(&week)
        );

        let used = use_setup_link(store, &link.token).await.unwrap().unwrap();
        assert_eq!(used.org_id, org.id);
        assert_eq!(used.link_id, link.id);
        assert!(store.setup_link_exists(&link.id, &org.id).await.unwrap());
        assert_eq!(
            use_setup_link(store, &link.token)
                .await
                .unwrap()
                .unwrap_err(),
            SetupLinkRefusal::Used
        );
        assert_eq!(
            use_setup_link(store, "sgw_setup_nope")
                .await
                .unwrap()
                .unwrap_err(),
            SetupLinkRefusal::Unknown
        );

        // A link past its time: written directly, as no rule makes one.
        let expired = new_token(SETUP_LINK_PREFIX);
        let mut tx = store.write_tx().await.unwrap();
        tx.insert_setup_link(&org.id, &token_hash(&expired), now_ms() - 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            use_setup_link(store, &expired).await.unwrap().unwrap_err(),
            SetupLinkRefusal::Expired
        );
    }
}
