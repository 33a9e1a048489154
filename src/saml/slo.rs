//! Single Logout, the stateful half (SAML Profiles §4.4): an IdP's
//! LogoutRequest ends that person's sessions from that integration on every
//! instance and is answered with our signed LogoutResponse; our own sign-out
//! of a SAML session sends a signed LogoutRequest to the IdP and finishes
//! when its LogoutResponse comes back.
//!
//! Every message must be signed by the IdP's key: on HTTP-Redirect over the
//! query octets, on HTTP-POST as an enveloped XML signature.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::flow::Target;
use super::logout::{self, LogoutExpectations};
use super::prefilter::Message;
use super::redirect::{self, RedirectError, RedirectParam};
use super::validate;
use crate::cache::Cache;
use crate::config::Config;
use crate::session::{self, SamlLogin};
use crate::signin::{Refusal, RefusalCode};
use crate::store::now_ms;

/// How long our LogoutRequest waits for the IdP's answer, and how long a
/// LogoutRequest ID is remembered against replay.
const PENDING: Duration = Duration::from_secs(600);

/// Our SLO endpoint below an integration's SP URL (published in SP metadata).
pub fn slo_url(sp_url: &str) -> String {
    format!("{sp_url}/slo")
}

/// A logout message as it reached our SLO endpoint.
pub enum Incoming<'a> {
    /// HTTP-Redirect: the query exactly as it arrived (the signature covers
    /// its octets).
    Redirect { raw_query: &'a str },
    /// HTTP-POST: the form's base64 message (signed inside).
    Post {
        param: RedirectParam,
        message: &'a str,
        relay_state: Option<&'a str>,
    },
}

/// What a logout message came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An IdP's LogoutRequest was honoured: `ended` sessions are gone and
    /// the browser goes on to `answer` (our LogoutResponse), or sees a
    /// signed-out page when the IdP has no SLO endpoint.
    IdpLogout {
        ended: usize,
        answer: Option<String>,
    },
    /// The IdP answered our LogoutRequest: the browser goes to `return_to`.
    Finished {
        return_to: Option<String>,
        success: bool,
    },
}

#[derive(Serialize, Deserialize)]
struct Pending {
    integration_id: String,
    return_to: Option<String>,
}

fn pending_key(request_id: &str) -> String {
    format!("saml:logout:{request_id}")
}

fn seen_key(integration_id: &str, request_id: &str) -> String {
    format!("saml:logout-seen:{integration_id}:{request_id}")
}

fn refusal_of(e: RedirectError) -> Refusal {
    let code = match &e {
        RedirectError::Unsigned => RefusalCode::Unsigned,
        RedirectError::AlgorithmRefused(_) => RefusalCode::AlgorithmRefused,
        RedirectError::NoCertificate => RefusalCode::NoCertificate,
        RedirectError::SignatureInvalid => RefusalCode::SignatureInvalid,
        RedirectError::TooLarge(_) => RefusalCode::TooLarge,
        RedirectError::Malformed(_) => RefusalCode::BadForm,
        RedirectError::Encoding(_) => RefusalCode::RequestFailed,
    };
    Refusal::new(code, e.to_string())
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    Refusal::unavailable(format!("session store: {e}"))
}

/// Verifies a message's signature with the IdP's certificates and returns
/// what it says: (which parameter, its XML — only the signed part —, RelayState).
async fn verified(
    config: &Config,
    target: &Target<'_>,
    incoming: Incoming<'_>,
) -> Result<(RedirectParam, String, Option<String>), Refusal> {
    let max = config.saml.max_response_bytes;
    match incoming {
        Incoming::Redirect { raw_query } => {
            let checked = redirect::verify_redirect_signature(raw_query, &target.idp.certificates)
                .map_err(refusal_of)?;
            let xml = redirect::inflate(&checked.message, max).map_err(refusal_of)?;
            Ok((checked.param, xml, checked.relay_state))
        }
        Incoming::Post {
            param,
            message,
            relay_state,
        } => {
            let xml = validate::decode(message, max)?;
            let certificates = target.idp.certificates.clone();
            // xmlsec is CPU work in C: off the async workers, like the ACS.
            let message = match param {
                RedirectParam::Request => Message::LogoutRequest,
                RedirectParam::Response => Message::LogoutResponse,
            };
            let signed = tokio::task::spawn_blocking(move || {
                validate::signed_logout_message(&xml, message, &certificates)
            })
            .await
            .map_err(|e| Refusal::unavailable(format!("verification task: {e}")))??;
            Ok((param, signed, relay_state.map(str::to_string)))
        }
    }
}

/// Handles a LogoutRequest or LogoutResponse from the target's IdP.
pub async fn receive(
    cache: &Cache,
    config: &Config,
    target: &Target<'_>,
    incoming: Incoming<'_>,
) -> Result<Outcome, Refusal> {
    let (param, xml, relay_state) = verified(config, target, incoming).await?;
    let slo = slo_url(target.sp_url);
    let ex = LogoutExpectations {
        slo_url: &slo,
        idp_entity_id: target.idp.entity_id.as_deref(),
        clock_skew: chrono::Duration::seconds(config.saml.clock_skew_seconds as i64),
        now: chrono::Utc::now(),
    };
    match param {
        RedirectParam::Request => {
            let request = logout::read_logout_request(&xml, &ex)?;
            let first = cache
                .put_if_absent(&seen_key(&target.integration.id, &request.id), "1", PENDING)
                .await
                .map_err(unavailable)?;
            if !first {
                return Err(Refusal::new(
                    RefusalCode::Replayed,
                    "this LogoutRequest was already received",
                ));
            }
            let ended = session::end_idp_logins(
                cache,
                config,
                &target.integration.id,
                &request.name_id,
                &request.session_indexes,
            )
            .await
            .map_err(unavailable)?;
            let answer = match target.idp.slo_response_url() {
                Some(destination) => {
                    let xml = logout::logout_response_xml(
                        &logout::new_message_id(),
                        &request.id,
                        target.sp_url,
                        destination,
                        chrono::Utc::now(),
                    );
                    let signer = target.keys.signing(now_ms());
                    Some(
                        redirect::redirect_url(
                            destination,
                            RedirectParam::Response,
                            &xml,
                            relay_state.as_deref(),
                            signer.as_deref(),
                        )
                        .map_err(refusal_of)?,
                    )
                }
                None => None,
            };
            Ok(Outcome::IdpLogout { ended, answer })
        }
        RedirectParam::Response => {
            let response = logout::read_logout_response(&xml, &ex)?;
            let pending: Pending = cache
                .take(&pending_key(&response.in_response_to))
                .await
                .map_err(unavailable)?
                .and_then(|json| serde_json::from_str(&json).ok())
                .filter(|p: &Pending| p.integration_id == target.integration.id)
                .ok_or_else(|| {
                    Refusal::new(
                        RefusalCode::InResponseToUnknown,
                        "this LogoutResponse answers no sign-out of ours (or it was already used)",
                    )
                })?;
            Ok(Outcome::Finished {
                return_to: pending.return_to,
                success: response.success,
            })
        }
    }
}

/// Our sign-out of a SAML session: the URL that carries our signed
/// LogoutRequest to the IdP, or `None` when its metadata names no SLO
/// endpoint (the local session alone ends).
pub async fn start(
    cache: &Cache,
    target: &Target<'_>,
    login: &SamlLogin,
    return_to: Option<String>,
) -> Result<Option<String>, Refusal> {
    let Some(destination) = target.idp.slo_url.as_deref() else {
        return Ok(None);
    };
    let signer = target.keys.signing(now_ms()).ok_or_else(|| {
        Refusal::new(
            RefusalCode::RequestFailed,
            "there is no SP signing key to sign the LogoutRequest with",
        )
    })?;
    let id = logout::new_message_id();
    let xml =
        logout::logout_request_xml(&id, target.sp_url, destination, login, chrono::Utc::now());
    let pending = Pending {
        integration_id: target.integration.id.clone(),
        return_to,
    };
    cache
        .put(
            &pending_key(&id),
            &serde_json::to_string(&pending).map_err(unavailable)?,
            PENDING,
        )
        .await
        .map_err(unavailable)?;
    redirect::redirect_url(
        destination,
        RedirectParam::Request,
        &xml,
        None,
        Some(&signer),
    )
    .map(Some)
    .map_err(refusal_of)
}
