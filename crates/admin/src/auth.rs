//! API-key authentication for `/api/v1` (and `/metrics` unless it is public).
//!
//! A request carries `Authorization: Bearer <key_id>.<secret>`. The key id is looked up in the
//! `api_keys` table (through the broker's in-memory copy, so a deleted key stops working at
//! once); expired keys are refused; the secret is checked against its argon2id hash on the
//! blocking pool, never on the async workers. A verified token is remembered for
//! [`CACHE_TTL`] (by its SHA-256 digest, not the secret itself) so that a burst of requests
//! does not pay one argon2 run each. Viewer keys may only `GET`,
//! and not every `GET`: [`require_admin`] guards archive downloads.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use holdfast_server::Broker;
use holdfast_server::auth::password;
use holdfast_server::time::now_ms;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::keys::{KEY_ID_CHARS, Role, parse_token};
use crate::state::AppState;

/// How long a verified token is trusted without another argon2 check.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most tokens remembered at once.
pub const CACHE_ENTRIES_MAX: usize = 1024;

/// Recently verified tokens, by key id.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug)]
struct Cached {
    /// SHA-256 of the whole token.
    digest: [u8; 32],
    /// The stored hash it was verified against (a replaced key is verified again).
    secret_hash: String,
    until: Instant,
}

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub role: Role,
}

impl KeyCache {
    /// Check a bearer token against the `api_keys` table.
    pub async fn check(&self, broker: &Broker, token: &str) -> Result<Caller, ApiError> {
        let malformed = || {
            ApiError::Unauthorized(
                "malformed API key: expected `Authorization: Bearer <key_id>.<secret>`".into(),
            )
        };
        let (id, secret) = parse_token(token).ok_or_else(malformed)?;
        let Some(rec) = broker.auth().api_keys.get(id).cloned() else {
            self.entries.lock().remove(id);
            let shown = if id.len() == KEY_ID_CHARS && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!(" {id}")
            } else {
                String::new()
            };
            return Err(ApiError::Unauthorized(format!(
                "unknown API key{shown} (it may have been deleted)"
            )));
        };
        if let Some(at) = rec.expires_at_ms
            && at <= now_ms()
        {
            return Err(ApiError::Unauthorized(format!(
                "API key {id} ({}) expired at {at} ms since the Unix epoch; create a new key",
                rec.name
            )));
        }
        let caller = Caller {
            key_id: id.to_string(),
            role: Role::from_record(rec.role),
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.is_cached(id, &digest, &rec.secret_hash) {
            return Ok(caller);
        }
        let hash = rec.secret_hash.clone();
        let secret = secret.to_string();
        let verified = tokio::task::spawn_blocking(move || password::verify(&hash, &secret))
            .await
            .map_err(|e| ApiError::Internal(format!("key verification task failed: {e}")))?;
        match verified {
            Ok(true) => {
                self.remember(id, digest, rec.secret_hash);
                Ok(caller)
            }
            Ok(false) => Err(ApiError::Unauthorized(format!(
                "wrong secret for API key {id}"
            ))),
            Err(e) => Err(ApiError::Unauthorized(format!(
                "API key {id} cannot be verified ({e}); create a new key"
            ))),
        }
    }

    fn is_cached(&self, id: &str, digest: &[u8; 32], secret_hash: &str) -> bool {
        let entries = self.entries.lock();
        entries.get(id).is_some_and(|c| {
            bool::from(c.digest.ct_eq(digest))
                && c.secret_hash == secret_hash
                && c.until > Instant::now()
        })
    }

    fn remember(&self, id: &str, digest: [u8; 32], secret_hash: String) {
        let mut entries = self.entries.lock();
        if entries.len() >= CACHE_ENTRIES_MAX {
            let now = Instant::now();
            entries.retain(|_, c| c.until > now);
            if entries.len() >= CACHE_ENTRIES_MAX {
                entries.clear();
            }
        }
        entries.insert(
            id.to_string(),
            Cached {
                digest,
                secret_hash,
                until: Instant::now() + CACHE_TTL,
            },
        );
    }
}

/// The token of an `Authorization: Bearer ...` header.
fn bearer(req: &Request) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::Unauthorized(
            "missing API key: send `Authorization: Bearer <key_id>.<secret>` (the bootstrap key \
             is in <data_dir>/admin.key)"
                .into(),
        )
    };
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized(format!(
            "unsupported authorization scheme {scheme:?}: use `Bearer <key_id>.<secret>`"
        )));
    }
    Ok(token.trim())
}

/// Middleware: refuse requests without a valid key, and writes by viewer keys.
pub async fn require_key(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let caller = match bearer(&req) {
        Ok(token) => st.keys.check(&st.broker, token).await,
        Err(e) => Err(e),
    };
    let caller = match caller {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    if caller.role == Role::Viewer && !read {
        return ApiError::Forbidden(format!(
            "API key {} has the viewer role, which may only read (GET); {} needs an admin key",
            caller.key_id,
            req.method()
        ))
        .into_response();
    }
    // Handlers that a viewer may not use although they only read (archive downloads hold
    // credential hashes) look at the caller.
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Refuse `caller` unless it has the admin role; `what` names the operation.
pub fn require_admin(caller: &Caller, what: &str) -> Result<(), ApiError> {
    match caller.role {
        Role::Admin => Ok(()),
        Role::Viewer => Err(ApiError::Forbidden(format!(
            "API key {} has the viewer role; {what} needs an admin key",
            caller.key_id
        ))),
    }
}
