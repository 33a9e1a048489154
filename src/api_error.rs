//! JSON errors for the admin API and the session routes:
//! `{"error": {"code", "message"}}` with the right status. Internal details
//! go to the log (with the request id), never to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::cache::CacheError;
use crate::provisioning::{RuleError, SignInRefusal};
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, for validation errors.
    pub field: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; quote the X-Request-Id response header when reporting it",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"sso-gateway\""));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                field: self.field.map(str::to_string),
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "conflicts with an existing record",
            ),
            StoreError::Unavailable(inner) => {
                tracing::warn!(error = %inner, "database unavailable");
                Self::unavailable("the database is unavailable; try again shortly")
            }
            StoreError::Other(inner) => {
                tracing::error!(error = %inner, "database error");
                Self::internal()
            }
        }
    }
}

impl From<CacheError> for ApiError {
    fn from(e: CacheError) -> Self {
        tracing::warn!(error = %e, "cache unavailable");
        Self::unavailable("the session store is unavailable; try again shortly")
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::NotFound(what) => Self::not_found(what),
            RuleError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            stale @ RuleError::Stale(_) => {
                Self::new(StatusCode::CONFLICT, "conflict", stale.to_string())
            }
            RuleError::Invalid { field, message } => ApiError {
                field: Some(field),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    format!("{field}: {message}"),
                )
            },
            RuleError::Refused(message) => Self::new(StatusCode::FORBIDDEN, "refused", message),
            RuleError::Store(s) => s.into(),
        }
    }
}

impl From<SignInRefusal> for ApiError {
    fn from(e: SignInRefusal) -> Self {
        match e {
            SignInRefusal::Store(s) => s.into(),
            other => Self::new(StatusCode::FORBIDDEN, "sign_in_refused", other.to_string()),
        }
    }
}

/// Turns actix's body-parsing failures into our JSON errors.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => payload_too_large(limit),
        E::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        E::Deserialize(e) if e.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("the JSON body does not fit this endpoint: {e}"),
        ),
        E::Deserialize(e) => ApiError::bad_request(format!("the body is not valid JSON: {e}")),
        other => ApiError::bad_request(format!("the body could not be read: {other}")),
    }
}

pub fn payload_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than the {limit}-byte limit"),
    )
}

pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::bad_request(format!("bad query string: {err}"))
}
