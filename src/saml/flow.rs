//! The stateful half of SAML sign-in: AuthnRequests we sent (bound to the
//! browser that started them, consumed once) and the assertion replay cache,
//! both in the shared cache so any instance can finish what another began.

use std::time::Duration;

use rand::RngCore;
use samael::service_provider::ServiceProviderBuilder;
use samael::traits::ToXml;

use super::keys::KeySet;
use super::redirect::{redirect_url, RedirectParam};
use super::validate::{self, Expectations};
use super::IdpDescriptor;
use crate::cache::Cache;
use crate::config::SamlConfig;
use crate::signin::pending::{self, Mismatch};
use crate::signin::{safe_return_path, Identity, Refusal, RefusalCode, Started};
use crate::store::{now_ms, Integration};

fn request_key(request_id: &str) -> String {
    format!("saml:request:{request_id}")
}

/// Whom a SAML exchange is between: our integration (and its URL, both
/// entity ID and ACS), the IdP it trusts, and our SP keys.
pub struct Target<'a> {
    pub integration: &'a Integration,
    pub idp: &'a IdpDescriptor,
    pub sp_url: &'a str,
    pub keys: &'a KeySet,
    /// Sign AuthnRequests (the admin or the IdP's metadata asks for it).
    pub sign_requests: bool,
    /// Refuse plain (unencrypted) assertions.
    pub require_encrypted: bool,
}

/// SP-initiated sign-in: remembers a fresh AuthnRequest and returns where
/// to send the browser (HTTP-Redirect binding).
pub async fn start(
    cache: &Cache,
    target: &Target<'_>,
    return_to: Option<&str>,
    browser: Option<&str>,
) -> Result<Started, Refusal> {
    let mut id_bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id_bytes);
    let request_id = format!("_{}", hex::encode(id_bytes));
    let (browser, return_to) = pending::remember(
        cache,
        &request_key(&request_id),
        target.integration,
        return_to,
        browser,
        (),
    )
    .await?;
    let sp = ServiceProviderBuilder::default()
        .entity_id(target.sp_url.to_string())
        .acs_url(target.sp_url.to_string())
        .build()
        .map_err(|e| {
            Refusal::new(
                RefusalCode::RequestFailed,
                format!("cannot build the AuthnRequest: {e}"),
            )
        })?;
    let mut request = sp
        .make_authentication_request(&target.idp.sso_url)
        .map_err(|e| {
            Refusal::new(
                RefusalCode::RequestFailed,
                format!("cannot build the AuthnRequest: {e}"),
            )
        })?;
    request.id = request_id;
    let failed = |e: &dyn std::fmt::Display| {
        Refusal::new(
            RefusalCode::RequestFailed,
            format!("cannot build the AuthnRequest: {e}"),
        )
    };
    let xml = request.to_string().map_err(|e| failed(&e))?;
    let signer = if target.sign_requests {
        Some(
            target
                .keys
                .signing(now_ms())
                .ok_or_else(|| failed(&"there is no current SP signing key"))?,
        )
    } else {
        None
    };
    if url::Url::parse(&target.idp.sso_url).is_err() {
        return Err(Refusal::new(
            RefusalCode::RequestFailed,
            format!(
                "the IdP's sign-on URL {:?} is not usable",
                target.idp.sso_url
            ),
        ));
    }
    let url = redirect_url(
        &target.idp.sso_url,
        RedirectParam::Request,
        &xml,
        return_to.as_deref(),
        signer.as_deref(),
    )
    .map_err(|e| failed(&e))?;
    Ok(Started {
        redirect_url: url,
        browser,
    })
}

/// The ACS: validates the response, matches it to the request it answers
/// (or accepts it as IdP-initiated), refuses replays. Returns who signed in
/// and where to send them.
pub async fn consume(
    cache: &Cache,
    config: &SamlConfig,
    target: &Target<'_>,
    saml_response: &str,
    relay_state: Option<&str>,
    browser: Option<&str>,
) -> Result<(Identity, Option<String>), Refusal> {
    let max_bytes = config.max_response_bytes;
    let xml = validate::decode(saml_response, max_bytes)?;
    let (certificates, entity_id, sp) = (
        target.idp.certificates.clone(),
        target.idp.entity_id.clone(),
        target.sp_url.to_string(),
    );
    let (decryption_keys, require_encrypted) = (
        target.keys.decryption_keys(now_ms()),
        target.require_encrypted,
    );
    let skew = chrono::Duration::seconds(config.clock_skew_seconds as i64);
    // Signature checks are CPU work in C: keep them off the async workers.
    // The request's span goes along, so xmlsec's diagnostics carry its id.
    let span = tracing::Span::current();
    let validated = tokio::task::spawn_blocking(move || {
        let _request = span.enter();
        let expectations = Expectations {
            sp_url: &sp,
            idp_entity_id: entity_id.as_deref(),
            certificates: &certificates,
            clock_skew: skew,
            max_bytes,
            now: chrono::Utc::now(),
            decryption_keys: &decryption_keys,
            require_encrypted,
        };
        validate::validate(&xml, &expectations)
    })
    .await
    .map_err(|_| Refusal::unavailable("validation worker failed"))??;

    let return_to = match &validated.in_response_to {
        Some(request_id) => {
            match pending::recall::<()>(cache, &request_key(request_id), target.integration, browser)
                .await
            {
                Ok((return_to, ())) => return_to,
                Err(Err(unavailable)) => return Err(unavailable),
                Err(Ok(Mismatch::Unknown)) => return Err(Refusal::new(
                    RefusalCode::InResponseToUnknown,
                    "the response answers a request we did not send, or one already used or expired",
                )),
                Err(Ok(Mismatch::OtherIntegration)) => return Err(Refusal::new(
                    RefusalCode::InResponseToOtherIntegration,
                    "the response answers a request made for another integration",
                )),
                Err(Ok(Mismatch::OtherBrowser)) => return Err(Refusal::new(
                    RefusalCode::BrowserMismatch,
                    "the sign-in was started in another browser (or its cookie was lost)",
                )),
            }
        }
        None if config.allow_idp_initiated => safe_return_path(relay_state),
        None => return Err(Refusal::new(
            RefusalCode::UnsolicitedRefused,
            "the response is unsolicited (IdP-initiated), which saml.allow_idp_initiated turns off",
        )),
    };

    let ttl = (validated.valid_until - chrono::Utc::now())
        .num_seconds()
        .max(0) as u64
        + config.clock_skew_seconds
        + 60;
    let first_use = cache
        .put_if_absent(
            &format!(
                "saml:assertion:{}:{}",
                target.integration.id,
                pending::sha256_hex(&validated.assertion_id)
            ),
            "1",
            Duration::from_secs(ttl),
        )
        .await
        .map_err(|e| Refusal::unavailable(format!("cache: {e}")))?;
    if !first_use {
        return Err(Refusal::new(
            RefusalCode::Replayed,
            "this assertion was already used",
        ));
    }
    Ok((validated.identity, return_to))
}
