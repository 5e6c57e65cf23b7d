//! `GET /metrics`: the broker's figures in the Prometheus text format (0.0.4), encoded with
//! `prometheus-client`. Each scrape builds a registry from the current figures, so the
//! broker's hot paths keep their plain atomic counters.

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::prometheus_text::{CONTENT_TYPE, encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::api::node::collect;
use crate::error::ApiError;
use crate::jobs::JobKind;
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
    let v = &st.broker.verifier;
    let load = |a: &AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    counter(
        &mut r,
        "auth_failures",
        "CONNECTs refused for a bad username or password",
        load(&v.stats.failures),
    );
    counter(
        &mut r,
        "auth_busy",
        "CONNECTs refused because no password verification slot freed up in time",
        load(&v.stats.busy),
    );
    counter(
        &mut r,
        "auth_cache_hits",
        "CONNECT credentials accepted from the verified-credentials cache",
        load(&v.stats.cache_hits),
    );
    counter(
        &mut r,
        "auth_verifications",
        "Password hashes verified",
        load(&v.stats.verifications),
    );
    gauge(
        &mut r,
        "store_writable",
        "1 while the store accepts writes, 0 after a failed write until it recovers",
        u64::from(st.broker.log().writable()),
    );
    data_jobs(&mut r, st);
    r
}

/// A `kind` label.
type KindLabel = Vec<(String, String)>;

/// The data jobs' figures (`crate::data_stats`), labelled by `kind`: export, import,
/// snapshot. The last-success gauges appear for a kind once one has succeeded.
fn data_jobs(r: &mut Registry, st: &AppState) {
    let succeeded = Family::<KindLabel, Counter>::default();
    let failed = Family::<KindLabel, Counter>::default();
    let at = Family::<KindLabel, Gauge>::default();
    let took = Family::<KindLabel, Gauge<f64, AtomicU64>>::default();
    let bytes = Family::<KindLabel, Gauge>::default();
    for (kind, name) in [
        (JobKind::Export, "export"),
        (JobKind::Import, "import"),
        (JobKind::Snapshot, "snapshot"),
    ] {
        let f = st.data_stats.figures(kind);
        let label = vec![("kind".to_string(), name.to_string())];
        succeeded.get_or_create(&label).inc_by(f.succeeded);
        failed.get_or_create(&label).inc_by(f.failed);
        if let Some(last) = f.last_success {
            let secs = i64::try_from(last.finished_at_ms / 1000).unwrap_or(i64::MAX);
            at.get_or_create(&label).set(secs);
            took.get_or_create(&label)
                .set(last.duration_ms as f64 / 1000.0);
            bytes
                .get_or_create(&label)
                .set(i64::try_from(last.bytes).unwrap_or(i64::MAX));
        }
    }
    r.register(
        "data_jobs_succeeded",
        "Data jobs (export, import, snapshot) that succeeded since the node started",
        succeeded,
    );
    r.register(
        "data_jobs_failed",
        "Data jobs (export, import, snapshot) that failed since the node started",
        failed,
    );
    r.register(
        "data_last_success_timestamp_seconds",
        "When the last successful data job of this kind finished, Unix seconds",
        at,
    );
    r.register(
        "data_last_success_duration_seconds",
        "How long the last successful data job of this kind took",
        took,
    );
    r.register(
        "data_last_success_bytes",
        "Bytes the last successful data job of this kind wrote (export, snapshot) or read (import)",
        bytes,
    );
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
