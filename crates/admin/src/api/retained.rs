//! `/api/v1/retained`: retained messages (list, get one with its payload, delete). Topics go
//! in the path as they are (`/api/v1/retained/sensors/kitchen/temp`) or percent-encoded.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use holdfast_core::{Message, topic};
use holdfast_server::time::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{PathParam, QueryParams};
use crate::state::AppState;

/// Messages listed when no `limit` is given.
pub const LIST_LIMIT_DEFAULT: usize = 1000;
/// Largest `limit` accepted.
pub const LIST_LIMIT_MAX: usize = 10_000;

/// `GET /api/v1/retained` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Topic filter (`+` and `#` allowed); absent: every retained message.
    pub topic: Option<String>,
    /// At most this many, sorted by topic (default 1000, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
}

/// A retained message without its payload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetainedSummary {
    pub topic: String,
    pub qos: u8,
    pub payload_bytes: u64,
    pub content_type: Option<String>,
    /// Unix milliseconds; null: never.
    pub expires_at_ms: Option<u64>,
}

/// A retained message with its payload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetainedMessage {
    pub topic: String,
    pub qos: u8,
    /// The payload, base64 (standard alphabet, padded).
    pub payload_base64: String,
    pub payload_bytes: u64,
    /// Payload Format Indicator: the publisher said the payload is UTF-8.
    pub payload_utf8: bool,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub user_properties: Vec<UserProperty>,
    pub expires_at_ms: Option<u64>,
}

/// An MQTT 5.0 user property.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserProperty {
    pub name: String,
    pub value: String,
}

fn summary(m: &Message) -> RetainedSummary {
    RetainedSummary {
        topic: m.topic.to_string(),
        qos: m.qos.value(),
        payload_bytes: m.payload.len() as u64,
        content_type: m.props.content_type.as_ref().map(|s| s.to_string()),
        expires_at_ms: m.expires_at_ms,
    }
}

fn full(m: &Message) -> RetainedMessage {
    RetainedMessage {
        topic: m.topic.to_string(),
        qos: m.qos.value(),
        payload_base64: STANDARD.encode(&m.payload),
        payload_bytes: m.payload.len() as u64,
        payload_utf8: m.props.payload_utf8,
        content_type: m.props.content_type.as_ref().map(|s| s.to_string()),
        response_topic: m.props.response_topic.as_ref().map(|s| s.to_string()),
        user_properties: m
            .props
            .user_properties
            .iter()
            .map(|(k, v)| UserProperty {
                name: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        expires_at_ms: m.expires_at_ms,
    }
}

fn check_name(t: &str) -> Result<(), ApiError> {
    topic::validate_name(t).map_err(|e| ApiError::bad(format!("invalid topic {t:?}: {e}")))
}

/// List retained messages, optionally those matching a filter.
#[utoipa::path(get, path = "/api/v1/retained", operation_id = "list_retained", tag = "retained", params(ListQuery),
    responses(
        (status = 200, description = "Matching messages, by topic", body = [RetainedSummary]),
        (status = 400, description = "Invalid filter or limit", body = ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<Vec<RetainedSummary>>, ApiError> {
    let limit = q.limit.unwrap_or(LIST_LIMIT_DEFAULT);
    if limit == 0 || limit > LIST_LIMIT_MAX {
        return Err(ApiError::bad(format!(
            "limit must be 1 to {LIST_LIMIT_MAX}"
        )));
    }
    let mut msgs: Vec<Arc<Message>> = match &q.topic {
        Some(f) => {
            topic::validate_filter(f)
                .map_err(|e| ApiError::bad(format!("invalid topic filter {f:?}: {e}")))?;
            st.broker.retained_matching(f)
        }
        None => {
            let now = now_ms();
            let mut all = st.broker.retained_all();
            all.retain(|m| !m.is_expired(now));
            all
        }
    };
    msgs.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(Json(msgs.iter().take(limit).map(|m| summary(m)).collect()))
}

/// One retained message, with its payload.
#[utoipa::path(get, path = "/api/v1/retained/{topic}", operation_id = "get_retained", tag = "retained",
    params(("topic" = String, Path, description = "Topic name; slashes may stay unencoded",
        min_length = 1, pattern = "^[^+#\\u0000]+$")),
    responses(
        (status = 200, description = "The message", body = RetainedMessage),
        (status = 400, description = "Invalid topic name", body = ErrorBody),
        (status = 404, description = "No retained message on that topic", body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    PathParam(topic): PathParam<String>,
) -> Result<Json<RetainedMessage>, ApiError> {
    check_name(&topic)?;
    st.broker
        .retained_get(&topic)
        .filter(|m| !m.is_expired(now_ms()))
        .map(|m| Json(full(&m)))
        .ok_or_else(|| ApiError::not_found(format!("no retained message on {topic:?}")))
}

/// Delete the retained message on a topic.
#[utoipa::path(delete, path = "/api/v1/retained/{topic}", operation_id = "delete_retained", tag = "retained",
    params(("topic" = String, Path, description = "Topic name; slashes may stay unencoded",
        min_length = 1, pattern = "^[^+#\\u0000]+$")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid topic name", body = ErrorBody),
        (status = 404, description = "No retained message on that topic", body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    PathParam(topic): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    check_name(&topic)?;
    if st.broker.retained_delete(&topic).await? {
        tracing::info!(%topic, "admin: retained message deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no retained message on {topic:?}"
        )))
    }
}
