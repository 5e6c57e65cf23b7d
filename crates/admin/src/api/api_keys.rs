//! `/api/v1/api_keys`: keys for this API. Listing never shows secrets or their hashes; the
//! secret of a new key is in the creation response only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use holdfast_server::auth::password;
use holdfast_server::time::now_ms;
use holdfast_store::Command;
use holdfast_store::records::ApiKeyRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParam};
use crate::keys::{NewKey, Role};
use crate::state::AppState;

/// Longest key name accepted, in characters.
pub const NAME_CHARS_MAX: usize = 128;
/// Longest lifetime of a key, in seconds (about 100 years).
pub const EXPIRES_IN_SECS_MAX: u64 = 100 * 366 * 24 * 3600;

/// A key as listed (no secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// 16 hex digits; the part of the token before the dot.
    pub key_id: String,
    pub name: String,
    pub role: Role,
    /// Unix milliseconds; null: never.
    pub expires_at_ms: Option<u64>,
    pub created_at_ms: u64,
    /// The key has expired and is refused.
    pub expired: bool,
}

/// `POST /api/v1/api_keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// 1 to 128 characters, for people to recognise the key.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    pub role: Role,
    /// Lifetime in seconds (1 to about 100 years); absent: never expires.
    #[schema(minimum = 1, maximum = 3_162_240_000_u64)]
    pub expires_in_secs: Option<u64>,
}

/// A new key, with its token: shown once, store it now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedApiKey {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    pub expires_at_ms: Option<u64>,
    pub created_at_ms: u64,
    pub expired: bool,
    /// `<key_id>.<secret>`, for `Authorization: Bearer ...`. Not retrievable later.
    pub api_key: String,
}

fn view(key_id: &str, r: &ApiKeyRecord, now: u64) -> ApiKey {
    ApiKey {
        key_id: key_id.to_string(),
        name: r.name.clone(),
        role: Role::from_record(r.role),
        expires_at_ms: r.expires_at_ms,
        created_at_ms: r.created_at_ms,
        expired: r.expires_at_ms.is_some_and(|t| t <= now),
    }
}

/// List keys (without secrets).
#[utoipa::path(get, path = "/api/v1/api_keys", operation_id = "list_api_keys", tag = "api_keys",
    responses((status = 200, description = "Every key", body = [ApiKey])))]
pub async fn list(State(st): State<AppState>) -> Json<Vec<ApiKey>> {
    let now = now_ms();
    let auth = st.broker.auth();
    Json(
        auth.api_keys
            .iter()
            .map(|(id, r)| view(id, r, now))
            .collect(),
    )
}

/// Create a key; the response holds its token, which is never shown again.
#[utoipa::path(post, path = "/api/v1/api_keys", operation_id = "create_api_key", tag = "api_keys", request_body = NewApiKey,
    responses(
        (status = 201, description = "Created; `api_key` is the token", body = CreatedApiKey),
        (status = 400, description = "Invalid body or value", body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    if req.name.is_empty() || req.name.chars().count() > NAME_CHARS_MAX {
        return Err(ApiError::bad(format!(
            "name must be 1 to {NAME_CHARS_MAX} characters"
        )));
    }
    let now = now_ms();
    let expires_at_ms = match req.expires_in_secs {
        None => None,
        Some(s) if s == 0 || s > EXPIRES_IN_SECS_MAX => {
            return Err(ApiError::bad(format!(
                "expires_in_secs must be 1 to {EXPIRES_IN_SECS_MAX}"
            )));
        }
        Some(s) => Some(now + s * 1000),
    };
    let key = NewKey::generate();
    let secret = key.secret.clone();
    let secret_hash = tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| ApiError::Internal(format!("secret hashing task failed: {e}")))?;
    let rec = ApiKeyRecord {
        name: req.name,
        secret_hash,
        role: req.role.to_record(),
        expires_at_ms,
        created_at_ms: now,
    };
    let v = view(&key.key_id, &rec, now);
    st.broker
        .apply_admin(vec![Command::PutApiKey {
            key_id: key.key_id.clone(),
            rec,
        }])
        .await?;
    tracing::info!(key_id = %v.key_id, name = %v.name, role = ?v.role, "admin: API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: key.token(),
            key_id: v.key_id,
            name: v.name,
            role: v.role,
            expires_at_ms: v.expires_at_ms,
            created_at_ms: v.created_at_ms,
            expired: v.expired,
        }),
    ))
}

/// Delete a key; it stops working at once. The last usable admin key cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/api_keys/{key_id}", operation_id = "delete_api_key", tag = "api_keys",
    params(("key_id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 409, description = "It is the last usable admin key", body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    PathParam(key_id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    let _w = st.writes.lock().await;
    let now = now_ms();
    {
        let auth = st.broker.auth();
        let Some(rec) = auth.api_keys.get(&key_id) else {
            return Err(ApiError::not_found(format!("no API key {key_id:?}")));
        };
        let usable_admin = |r: &ApiKeyRecord| {
            Role::from_record(r.role) == Role::Admin && r.expires_at_ms.is_none_or(|t| t > now)
        };
        let admins = auth.api_keys.values().filter(|r| usable_admin(r)).count();
        if usable_admin(rec) && admins == 1 {
            return Err(ApiError::Conflict(format!(
                "API key {key_id} is the last usable admin key; create another admin key first"
            )));
        }
    }
    st.broker
        .apply_admin(vec![Command::DeleteApiKey {
            key_id: key_id.clone(),
        }])
        .await?;
    tracing::info!(%key_id, "admin: API key deleted");
    Ok(StatusCode::NO_CONTENT)
}
