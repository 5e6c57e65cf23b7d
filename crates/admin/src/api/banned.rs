//! `/api/v1/banned`: bans by client id, username or peer address, with an optional expiry.
//! A new ban disconnects the clients it covers at once.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use holdfast_server::auth::{BAN_CLIENT_ID, BAN_PEER, BAN_USERNAME};
use holdfast_server::time::now_ms;
use holdfast_store::Command;
use holdfast_store::records::BannedRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParam};
use crate::state::AppState;

/// Longest banned value or reason accepted, in characters.
pub const TEXT_CHARS_MAX: usize = 1024;

/// What a ban matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BanKind {
    /// The MQTT client id.
    Clientid,
    /// The username given at CONNECT.
    Username,
    /// The client's IP address (IPv4 or IPv6).
    Peer,
}

impl BanKind {
    fn to_record(self) -> u8 {
        match self {
            BanKind::Clientid => BAN_CLIENT_ID,
            BanKind::Username => BAN_USERNAME,
            BanKind::Peer => BAN_PEER,
        }
    }

    fn from_record(v: u8) -> Option<BanKind> {
        match v {
            BAN_CLIENT_ID => Some(BanKind::Clientid),
            BAN_USERNAME => Some(BanKind::Username),
            BAN_PEER => Some(BanKind::Peer),
            _ => None,
        }
    }

    fn parse(s: &str) -> Result<BanKind, ApiError> {
        match s {
            "clientid" => Ok(BanKind::Clientid),
            "username" => Ok(BanKind::Username),
            "peer" => Ok(BanKind::Peer),
            other => Err(ApiError::bad(format!(
                "unknown ban kind {other:?}: use clientid, username or peer"
            ))),
        }
    }
}

/// A ban.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ban {
    pub kind: BanKind,
    pub value: String,
    pub reason: Option<String>,
    /// Unix milliseconds after which the ban no longer applies; null: never.
    pub expires_at_ms: Option<u64>,
    pub created_at_ms: u64,
    /// The ban's expiry has passed (it no longer applies).
    pub expired: bool,
}

/// `POST /api/v1/banned`. Give at most one of `expires_at_ms` and `expires_in_secs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBan {
    pub kind: BanKind,
    /// Client id, username, or IP address (for `peer`); 1 to 1024 characters.
    #[schema(min_length = 1, max_length = 1024)]
    pub value: String,
    #[schema(max_length = 1024)]
    pub reason: Option<String>,
    /// Unix milliseconds; must be in the future.
    pub expires_at_ms: Option<u64>,
    /// Seconds from now (at least 1).
    #[schema(minimum = 1)]
    pub expires_in_secs: Option<u64>,
}

fn view(kind: BanKind, value: &str, r: &BannedRecord, now: u64) -> Ban {
    Ban {
        kind,
        value: value.to_string(),
        reason: r.reason.clone(),
        expires_at_ms: r.expires_at_ms,
        created_at_ms: r.created_at_ms,
        expired: r.expires_at_ms.is_some_and(|t| t <= now),
    }
}

/// The stored form of a value: peers are normalised IP addresses (as connections report them).
fn normalise(kind: BanKind, value: &str) -> Result<String, ApiError> {
    if value.is_empty() || value.chars().count() > TEXT_CHARS_MAX {
        return Err(ApiError::bad(format!(
            "value must be 1 to {TEXT_CHARS_MAX} characters"
        )));
    }
    match kind {
        BanKind::Peer => value
            .parse::<IpAddr>()
            .map(|ip| ip.to_string())
            .map_err(|_| ApiError::bad(format!("peer {value:?} is not an IP address"))),
        _ => Ok(value.to_string()),
    }
}

fn expiry(req: &NewBan, now: u64) -> Result<Option<u64>, ApiError> {
    match (req.expires_at_ms, req.expires_in_secs) {
        (Some(_), Some(_)) => Err(ApiError::bad(
            "give expires_at_ms or expires_in_secs, not both",
        )),
        (Some(at), None) if at <= now => Err(ApiError::bad(format!(
            "expires_at_ms {at} is not in the future (now is {now})"
        ))),
        (Some(at), None) => Ok(Some(at)),
        (None, Some(0)) => Err(ApiError::bad("expires_in_secs must be at least 1")),
        (None, Some(secs)) => secs
            .checked_mul(1000)
            .and_then(|ms| now.checked_add(ms))
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("expires_in_secs {secs} is too large"))),
        (None, None) => Ok(None),
    }
}

/// List bans (expired ones included, marked `expired`).
#[utoipa::path(get, path = "/api/v1/banned", operation_id = "list_bans", tag = "banned",
    responses((status = 200, description = "Every ban", body = [Ban])))]
pub async fn list(State(st): State<AppState>) -> Json<Vec<Ban>> {
    let now = now_ms();
    let auth = st.broker.auth();
    Json(
        auth.banned
            .iter()
            .filter_map(|((k, v), r)| Some(view(BanKind::from_record(*k)?, v, r, now)))
            .collect(),
    )
}

/// Ban a client id, username or peer address; matching connected clients are disconnected.
#[utoipa::path(post, path = "/api/v1/banned", operation_id = "create_ban", tag = "banned", request_body = NewBan,
    responses(
        (status = 201, description = "Banned", body = Ban),
        (status = 400, description = "Invalid body or value", body = ErrorBody),
        (status = 409, description = "Already banned", body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<NewBan>,
) -> Result<(StatusCode, Json<Ban>), ApiError> {
    let now = now_ms();
    let value = normalise(req.kind, &req.value)?;
    if req
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > TEXT_CHARS_MAX)
    {
        return Err(ApiError::bad(format!(
            "reason must be at most {TEXT_CHARS_MAX} characters"
        )));
    }
    let rec = BannedRecord {
        reason: req.reason.clone(),
        expires_at_ms: expiry(&req, now)?,
        created_at_ms: now,
    };
    let kind = req.kind.to_record();
    let _w = st.writes.lock().await;
    if st.broker.auth().banned.contains_key(&(kind, value.clone())) {
        return Err(ApiError::Conflict(format!(
            "{} {value:?} is already banned (delete the ban first to change it)",
            kind_name(req.kind)
        )));
    }
    let out = view(req.kind, &value, &rec, now);
    st.broker
        .apply_admin(vec![Command::PutBanned {
            kind,
            value: value.clone(),
            rec,
        }])
        .await?;
    tracing::info!(kind = kind_name(req.kind), %value, "admin: ban added");
    Ok((StatusCode::CREATED, Json(out)))
}

fn kind_name(k: BanKind) -> &'static str {
    match k {
        BanKind::Clientid => "clientid",
        BanKind::Username => "username",
        BanKind::Peer => "peer",
    }
}

/// Lift a ban.
#[utoipa::path(delete, path = "/api/v1/banned/{kind}/{value}", operation_id = "delete_ban", tag = "banned",
    params(
        ("kind" = BanKind, Path, description = "clientid, username or peer"),
        ("value" = String, Path, description = "The banned value (percent-encoded)",
            min_length = 1, max_length = 1024)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Unknown kind or invalid value", body = ErrorBody),
        (status = 404, description = "No such ban", body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    PathParam((kind, value)): PathParam<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = BanKind::parse(&kind)?;
    let value = normalise(kind, &value)?;
    let key = (kind.to_record(), value.clone());
    let _w = st.writes.lock().await;
    if !st.broker.auth().banned.contains_key(&key) {
        return Err(ApiError::not_found(format!(
            "no ban on {} {value:?}",
            kind_name(kind)
        )));
    }
    st.broker
        .apply_admin(vec![Command::DeleteBanned {
            kind: key.0,
            value: value.clone(),
        }])
        .await?;
    tracing::info!(kind = kind_name(kind), %value, "admin: ban deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(at: Option<u64>, secs: Option<u64>) -> NewBan {
        NewBan {
            kind: BanKind::Clientid,
            value: "c".into(),
            reason: None,
            expires_at_ms: at,
            expires_in_secs: secs,
        }
    }

    #[test]
    fn expiry_rules() {
        assert_eq!(expiry(&ban(None, None), 1000).ok(), Some(None));
        assert_eq!(expiry(&ban(None, Some(2)), 1000).ok(), Some(Some(3000)));
        assert_eq!(expiry(&ban(Some(5000), None), 1000).ok(), Some(Some(5000)));
        assert!(expiry(&ban(Some(500), None), 1000).is_err());
        assert!(expiry(&ban(Some(5000), Some(1)), 1000).is_err());
        assert!(expiry(&ban(None, Some(0)), 1000).is_err());
        assert!(expiry(&ban(None, Some(u64::MAX)), 1000).is_err());
    }

    #[test]
    fn peers_are_normalised_ip_addresses() {
        assert_eq!(
            normalise(BanKind::Peer, "::0001").ok().as_deref(),
            Some("::1")
        );
        assert!(normalise(BanKind::Peer, "host.example").is_err());
        assert!(normalise(BanKind::Username, "").is_err());
    }
}
