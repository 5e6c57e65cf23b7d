//! Errors: [`ApiError`] is what a request can fail with, sent as `{"error": "..."}` with a
//! 4xx/5xx status; [`AdminError`] is what starting the admin server can fail with.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What is wrong, naming the field, value or resource involved.
    pub error: String,
}

/// Why a request failed. The message is sent to the client, so it never holds a password or
/// secret.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a value is invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// No API key, or one that is unknown, wrong or expired (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The key is valid but its role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The resource already exists, or the change would conflict with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The request body is over a limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// The store could not commit the change (500; 503 while the store cannot write);
    /// nothing was changed.
    #[error("the store could not commit the change (nothing was changed): {0}")]
    Store(#[from] holdfast_store::StoreError),
    /// A bug or a failed background task (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status this error is sent with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            // The disk is full or failing: retry later (the store recovers by itself).
            ApiError::Store(holdfast_store::StoreError::Unwritable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 400 with `message`.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }

    /// A 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::NotFound(message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "admin API request failed");
        }
        let mut resp = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Starting the admin server failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "cannot listen on {addr} (admin API): {source} (set admin.bind or HOLDFAST_ADMIN__BIND \
         to a free address, or admin.enabled = false)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the bootstrap admin API key to {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot store the bootstrap admin API key: {0}")]
    Store(#[from] holdfast_store::StoreError),
}
