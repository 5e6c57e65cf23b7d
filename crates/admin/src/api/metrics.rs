//! `GET /metrics`: the broker's figures in the Prometheus text format (0.0.4), encoded with
//! `prometheus-client`. Each scrape builds a registry from the current figures, so the
//! broker's hot paths keep their plain atomic counters.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::prometheus_text::{CONTENT_TYPE, encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::api::node::collect;
use crate::error::ApiError;
use crate::state::AppState;

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
    reg.register(name, help, g);
}

/// The current figures as a Prometheus registry (names prefixed `holdfast_`).
pub fn registry(st: &AppState) -> Registry {
    let s = collect(st);
    let mut r = Registry::with_prefix("holdfast");
    gauge(
        &mut r,
        "connections",
        "Connections attached to a session",
        s.connections,
    );
    gauge(&mut r, "sessions", "Sessions, connected or not", s.sessions);
    gauge(&mut r, "subscriptions", "Subscriptions", s.subscriptions);
    gauge(&mut r, "retained_messages", "Retained messages", s.retained);
    counter(
        &mut r,
        "messages_received",
        "PUBLISH packets received",
        s.messages_received,
    );
    counter(
        &mut r,
        "messages_sent",
        "PUBLISH packets sent",
        s.messages_sent,
    );
    counter(
        &mut r,
        "messages_dropped",
        "Deliveries dropped because a session queue was full",
        s.messages_dropped,
    );
    counter(
        &mut r,
        "bytes_received",
        "Bytes received from clients",
        s.bytes_received,
    );
    counter(&mut r, "bytes_sent", "Bytes sent to clients", s.bytes_sent);
    gauge(&mut r, "users", "Rows of the users table", s.users);
    gauge(&mut r, "acl_rules", "Rows of the acl table", s.acl_rules);
    gauge(&mut r, "banned", "Rows of the banned table", s.banned);
    gauge(&mut r, "api_keys", "Rows of the api_keys table", s.api_keys);
    gauge(
        &mut r,
        "uptime_seconds",
        "Seconds since the node started",
        s.uptime_secs,
    );
    r
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", operation_id = "get_metrics", tag = "node",
    security((), ("bearer" = [])),
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain", body = String)))]
pub async fn metrics(State(st): State<AppState>) -> Result<Response, ApiError> {
    let mut text = String::new();
    encode(&mut text, &registry(&st))
        .map_err(|e| ApiError::Internal(format!("metrics encoding failed: {e}")))?;
    let mut resp = text.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(resp)
}
