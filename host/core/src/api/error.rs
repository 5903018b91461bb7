//! Errors at the HTTP edge: one enum, a status per variant, a JSON body that names what is
//! wrong. Internal details are logged, never sent.

use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::case::TransitionError;
use crate::service::ServiceError;
use crate::store::StoreError;
use crate::validation::FieldError;

#[derive(Debug)]
pub enum ApiError {
    /// The body is not JSON at all.
    MalformedJson(String),
    /// A field is missing, of the wrong type, or has a value that is not allowed.
    Invalid(FieldError),
    Unauthenticated,
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed(Vec<http::Method>),
    /// A workflow rule refused the action (self-approval, authority, evidence).
    RuleRefused {
        rule: &'static str,
        message: String,
    },
    Conflict(String),
    PayloadTooLarge {
        limit_bytes: usize,
    },
    UnsupportedMediaType,
    /// The store is down or slow: try again.
    Unavailable(String),
    /// The store holds a record the ledger does not vouch for.
    Integrity(String),
    /// An inbound webhook whose signature does not verify.
    SignatureRejected(String),
    /// The request body did not arrive in time.
    RequestTimeout {
        limit_ms: u64,
    },
    Internal(String),
    /// This host cannot do it at all (levee on Spin cannot load uploaded plugins); the message
    /// says what to do instead.
    NotImplemented(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_field`, `separation_of_duties`, `conflict`, …
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_values: Option<Vec<String>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) | ApiError::RuleRefused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated | ApiError::SignatureRejected(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Integrity(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let detail = |code: &str, message: String| ErrorDetail {
            code: code.to_owned(),
            message,
            field: None,
            valid_values: None,
        };
        let detail = match self {
            ApiError::MalformedJson(message) => {
                detail("malformed_json", format!("the body is not valid JSON: {message}"))
            }
            ApiError::Invalid(error) => ErrorDetail {
                code: "invalid_field".to_owned(),
                message: error.to_string(),
                field: Some(error.field.clone()),
                valid_values: error.valid_values.clone(),
            },
            ApiError::Unauthenticated => {
                detail("unauthenticated", "send a valid token as 'Authorization: Bearer <token>'".to_owned())
            }
            ApiError::SignatureRejected(message) => detail("signature_rejected", message.clone()),
            ApiError::Forbidden(message) => detail("forbidden", message.clone()),
            ApiError::NotFound(message) => detail("not_found", message.clone()),
            ApiError::MethodNotAllowed(allowed) => detail("method_not_allowed", format!("allowed: {}", list(allowed))),
            ApiError::RuleRefused { rule, message } => detail(rule, message.clone()),
            ApiError::Conflict(message) => detail("conflict", message.clone()),
            ApiError::PayloadTooLarge { limit_bytes } => {
                detail("payload_too_large", format!("the body is larger than the limit of {limit_bytes} bytes"))
            }
            ApiError::UnsupportedMediaType => {
                detail("unsupported_media_type", "send the body as application/json".to_owned())
            }
            // The cause helps whoever sees it (a full disk, Redis unreachable); store messages
            // never carry credentials (the Redis store redacts them).
            ApiError::Unavailable(cause) => {
                detail("unavailable", format!("the store is unavailable ({cause}): retry after Retry-After seconds"))
            }
            ApiError::Integrity(message) => detail("integrity_check_failed", message.clone()),
            ApiError::RequestTimeout { limit_ms } => {
                detail("request_timeout", format!("the request body did not arrive within {limit_ms} ms"))
            }
            ApiError::Internal(_) => detail("internal", "internal error; it has been logged".to_owned()),
            ApiError::NotImplemented(message) => detail("not_implemented", message.clone()),
        };
        ErrorBody { error: detail }
    }

    /// The response for this error.
    pub fn into_response(self) -> super::Response {
        match &self {
            ApiError::Unavailable(message) | ApiError::Internal(message) | ApiError::Integrity(message) => {
                tracing::error!(%message, "request failed")
            }
            _ => tracing::debug!(error = ?self, "request refused"),
        }
        let mut response = super::json_response(self.status(), &self.body());
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthenticated => {
                headers.insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            }
            ApiError::Unavailable(_) => {
                headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            }
            ApiError::MethodNotAllowed(allowed) => {
                if let Ok(value) = http::HeaderValue::from_str(&list(allowed)) {
                    headers.insert(http::header::ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Invalid(error) => ApiError::Invalid(error),
            ServiceError::Transition(TransitionError::Refused { rule, message }) => {
                ApiError::RuleRefused { rule, message }
            }
            ServiceError::Transition(TransitionError::Forbidden(message)) => ApiError::Forbidden(message),
            ServiceError::Transition(TransitionError::WrongState(message)) | ServiceError::Conflict(message) => {
                ApiError::Conflict(message)
            }
            ServiceError::NotFound(what) => ApiError::NotFound(format!("{what} does not exist")),
            ServiceError::Forbidden(message) => ApiError::Forbidden(message),
            ServiceError::Webhook(refusal) => ApiError::SignatureRejected(refusal.to_string()),
            ServiceError::Malformed(message) => ApiError::MalformedJson(message),
            ServiceError::Store(error) => error.into(),
            ServiceError::Integrity(message) => ApiError::Integrity(message),
            ServiceError::NotSupported(message) => ApiError::NotImplemented(message),
            ServiceError::PluginRejected(message) => {
                ApiError::RuleRefused { rule: "plugin_rejected", message: format!("the plugin {message}") }
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(message) => ApiError::Unavailable(message),
            StoreError::Backend(message) => ApiError::Internal(message),
        }
    }
}

/// Methods as an `Allow` header lists them.
fn list(methods: &[http::Method]) -> String {
    methods.iter().map(http::Method::as_str).collect::<Vec<_>>().join(", ")
}
