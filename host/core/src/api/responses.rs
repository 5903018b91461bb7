//! The error answers of the OpenAPI document, declared once.
//!
//! Every kind of error levee sends is one reusable response in the document's components
//! (`#/components/responses/<Name>`): its status is the one [`ApiError::status`] gives that kind,
//! its body is [`ErrorBody`], and it names the `error.code`s it carries. An operation lists the
//! kinds it can answer as `IntoResponses` types in its `responses(…)`: a bundle ([`SignedIn`],
//! [`JsonBody`]) for what follows from how a request is made, and single kinds ([`Forbidden`],
//! [`NotFound`], [`Conflict`], …) for what depends on the operation. An operation that has more to
//! say about one status lists its own tuple after them, which replaces the shared one.
//!
//! [`ErrorBody`]: super::ErrorBody

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Type};

use super::ApiError;
use crate::validation::FieldError;

/// Declares the kinds of error response, and for each an `IntoResponses` type of the same name
/// that documents that kind alone. These types only document: they have no values.
macro_rules! error_responses {
    ($($(#[doc = $doc:literal])* $kind:ident => $sample:expr;)+) => {
        /// A kind of error answer, as the document's components name it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorResponse {
            $($(#[doc = $doc])* $kind,)+
        }

        impl ErrorResponse {
            /// Every kind, in the order the components list them.
            pub const ALL: &[ErrorResponse] = &[$(ErrorResponse::$kind),+];

            /// The name of its reusable response.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorResponse::$kind => stringify!($kind),)+
                }
            }

            /// An error of this kind, whose status is the one documented.
            fn sample(self) -> ApiError {
                match self {
                    $(ErrorResponse::$kind => $sample,)+
                }
            }

            /// What it means: the first line of the variant's documentation above.
            fn description(self) -> &'static str {
                match self {
                    $(ErrorResponse::$kind => [$($doc),+][0].trim(),)+
                }
            }
        }

        $(
            $(#[doc = $doc])*
            #[allow(dead_code, reason = "each kind can be listed alone; not every one is, yet")]
            pub enum $kind {}

            impl IntoResponses for $kind {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    references(&[ErrorResponse::$kind])
                }
            }
        )+
    };
}

error_responses! {
    /// The body is not JSON (`malformed_json`).
    MalformedJson => ApiError::MalformedJson(String::new());
    /// No valid bearer token (`unauthenticated`); the answer carries `WWW-Authenticate: Bearer`.
    Unauthenticated => ApiError::Unauthenticated;
    /// The caller's roles do not allow it, or only another person may act on this object (`forbidden`).
    Forbidden => ApiError::Forbidden(String::new());
    /// Nothing has the id in the path (`not_found`).
    NotFound => ApiError::NotFound(String::new());
    /// The request body did not arrive within the time limit (`request_timeout`).
    RequestTimeout => ApiError::RequestTimeout { limit_ms: 0 };
    /// The state does not allow it now: not pending, already done, changed meanwhile (a stale `expected_version`), or the ledger is too busy (`conflict`). Re-read and act again.
    Conflict => ApiError::Conflict(String::new());
    /// The body is over the size limit (`payload_too_large`).
    PayloadTooLarge => ApiError::PayloadTooLarge { limit_bytes: 0 };
    /// The body is sent as something other than `application/json` (`unsupported_media_type`).
    UnsupportedMediaType => ApiError::UnsupportedMediaType;
    /// A field or parameter is missing or wrong (`invalid_field`, naming it in `field`, with `valid_values` where there is a short list), or a workflow rule refused the request (the rule is the `code`).
    Invalid => ApiError::Invalid(FieldError::new("", ""));
    /// The store holds a record its ledger does not vouch for (`integrity_check_failed`), or something failed inside levee (`internal`); the details are logged, not sent.
    Internal => ApiError::Internal(String::new());
    /// This host cannot do it at all (`not_implemented`); the message says what to do instead.
    NotImplemented => ApiError::NotImplemented(String::new());
    /// The store is unavailable (`unavailable`); retry after the `Retry-After` seconds.
    Unavailable => ApiError::Unavailable(String::new());
}

impl ErrorResponse {
    /// Its status code, as the document keys it.
    pub fn status(self) -> String {
        self.sample().status().as_str().to_owned()
    }

    /// The reusable response: its description, the error body, and the headers it carries.
    pub fn response(self) -> Response {
        let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        let mut response = ResponseBuilder::new().description(self.description()).content("application/json", body);
        let header = |description: &str, kind: Type| {
            HeaderBuilder::new().schema(ObjectBuilder::new().schema_type(kind)).description(Some(description)).build()
        };
        match self {
            ErrorResponse::Unauthenticated => {
                response = response.header("WWW-Authenticate", header("`Bearer`", Type::String));
            }
            ErrorResponse::Unavailable => {
                response = response.header("Retry-After", header("Seconds to wait before retrying", Type::Integer));
            }
            _ => {}
        }
        response.build()
    }
}

/// The responses of `kinds`, each a reference to its reusable response.
fn references(kinds: &[ErrorResponse]) -> BTreeMap<String, RefOr<Response>> {
    kinds.iter().map(|kind| (kind.status(), RefOr::Ref(Ref::from_response_name(kind.name())))).collect()
}

/// What any operation behind a bearer token can answer, whatever it does: no valid token,
/// a store that is down, a record the ledger does not vouch for.
pub enum SignedIn {}

impl IntoResponses for SignedIn {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use ErrorResponse::{Internal, Unauthenticated, Unavailable};
        references(&[Unauthenticated, Internal, Unavailable])
    }
}

/// What any operation that reads a JSON body can answer about it: not JSON, not sent as JSON,
/// too large or too slow, a field missing or wrong.
pub enum JsonBody {}

impl IntoResponses for JsonBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use ErrorResponse::{Invalid, MalformedJson, PayloadTooLarge, RequestTimeout, UnsupportedMediaType};
        references(&[MalformedJson, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, Invalid])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind's status is the one levee sends for it, and no two kinds share one, so an
    /// operation never lists two answers for a status.
    #[test]
    fn each_kind_has_its_own_status() {
        let statuses: std::collections::BTreeSet<String> =
            ErrorResponse::ALL.iter().map(|kind| kind.status()).collect();
        assert_eq!(statuses.len(), ErrorResponse::ALL.len(), "{statuses:?}");
        assert_eq!(ErrorResponse::Unauthenticated.status(), "401");
        assert_eq!(ErrorResponse::Unavailable.status(), "503");
    }
}
