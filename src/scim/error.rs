//! SCIM error responses (RFC 7644 §3.12): `application/scim+json`, the
//! status as a string, and a `scimType` where the RFC defines one.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::urn;
use crate::provisioning::RuleError;
use crate::store::StoreError;

pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug, Clone)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    pub retry_after: Option<u64>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("{what} not found"))
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "schemas": [urn::ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut response = HttpResponse::build(self.status);
        response.content_type(SCIM_JSON);
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"scim\""));
        }
        response.body(body.to_string())
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                Some("uniqueness"),
                "conflicts with an existing resource",
            ),
            StoreError::Unavailable(inner) => {
                tracing::warn!(error = %inner, "database unavailable");
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "the database is unavailable; retry shortly",
                );
                err.retry_after = Some(5);
                err
            }
            StoreError::Other(inner) => {
                tracing::error!(error = %inner, "database error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "internal error; see the X-Request-Id in the server log",
                )
            }
        }
    }
}

impl From<RuleError> for ScimError {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::NotFound(what) => Self::not_found(what),
            stale @ RuleError::Stale(_) => Self::new(StatusCode::CONFLICT, None, stale.to_string()),
            RuleError::Conflict(message) => {
                Self::new(StatusCode::CONFLICT, Some("uniqueness"), message)
            }
            RuleError::Invalid { field, message } => {
                Self::bad("invalidValue", format!("{field}: {message}"))
            }
            RuleError::Refused(message) => Self::new(StatusCode::FORBIDDEN, None, message),
            RuleError::Store(s) => s.into(),
        }
    }
}

impl From<crate::cache::CacheError> for ScimError {
    fn from(e: crate::cache::CacheError) -> Self {
        tracing::warn!(error = %e, "cache unavailable");
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "temporarily unavailable; retry shortly",
        );
        err.retry_after = Some(5);
        err
    }
}
