//! Request extractors whose rejections are [`ApiError`]s, so that a malformed body, query or
//! path parameter gets the same `{"error": ...}` 400 as every other mistake (axum's own
//! extractors answer in plain text, some with 415 or 422).

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};

use crate::error::ApiError;

/// The largest JSON request body: axum's default body limit, which the router keeps.
pub const JSON_BODY_BYTES_MAX: usize = 2 * 1024 * 1024;

/// A JSON request body (`Content-Type: application/json`), at most [`JSON_BODY_BYTES_MAX`]
/// bytes (413 beyond).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// Query-string parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// Path parameters (percent-decoded).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParam<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge(format!(
                "request body larger than {JSON_BODY_BYTES_MAX} bytes, the limit for JSON bodies"
            ));
        }
        ApiError::BadRequest(format!("invalid request body: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(format!("invalid path parameter: {}", r.body_text()))
    }
}
