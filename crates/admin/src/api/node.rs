//! `/api/v1/node` and `/api/v1/stats`: who this node is and what it is doing.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::state::AppState;

/// Broker counters and table sizes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Connections attached to a session now.
    pub connections: u64,
    /// Sessions, connected or not.
    pub sessions: u64,
    pub subscriptions: u64,
    pub retained: u64,
    /// PUBLISH packets received since start (wills and `$SYS` included).
    pub messages_received: u64,
    /// PUBLISH packets sent to clients since start.
    pub messages_sent: u64,
    /// Deliveries dropped because a session queue was full.
    pub messages_dropped: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub users: u64,
    pub acl_rules: u64,
    pub banned: u64,
    pub api_keys: u64,
    pub uptime_secs: u64,
}

/// Gather the current figures.
pub fn collect(st: &AppState) -> Stats {
    let b = &st.broker;
    let s = &b.stats;
    let (users, acl_rules, banned, api_keys) = {
        let a = b.auth();
        (a.users.len(), a.acl.len(), a.banned.len(), a.api_keys.len())
    };
    Stats {
        connections: s.connected.load(Ordering::Relaxed),
        sessions: b.session_count() as u64,
        subscriptions: b.subscription_count() as u64,
        retained: b.retained_count() as u64,
        messages_received: s.messages_received.load(Ordering::Relaxed),
        messages_sent: s.messages_sent.load(Ordering::Relaxed),
        messages_dropped: s.messages_dropped.load(Ordering::Relaxed),
        bytes_received: s.bytes_received.load(Ordering::Relaxed),
        bytes_sent: s.bytes_sent.load(Ordering::Relaxed),
        users: users as u64,
        acl_rules: acl_rules as u64,
        banned: banned as u64,
        api_keys: api_keys as u64,
        uptime_secs: st.started.elapsed().as_secs(),
    }
}

/// A bound listener.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `tcp`, `tls`, `ws` or `admin`.
    pub name: String,
    /// `ip:port` as bound.
    pub addr: String,
}

/// This node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Node id kept in the data dir (32 hex digits).
    pub id: String,
    pub name: String,
    /// Holdfast version.
    pub version: String,
    /// Unix milliseconds.
    pub started_at_ms: u64,
    pub uptime_secs: u64,
    pub listeners: Vec<Listener>,
    pub stats: Stats,
}

/// Node identity, version, uptime, listeners and counts.
#[utoipa::path(get, path = "/api/v1/node", operation_id = "get_node", tag = "node",
    responses((status = 200, description = "This node", body = Node)))]
pub async fn node(State(st): State<AppState>) -> Json<Node> {
    let mut listeners: Vec<Listener> = st
        .node
        .listeners
        .iter()
        .map(|(name, addr)| Listener {
            name: name.clone(),
            addr: addr.to_string(),
        })
        .collect();
    listeners.push(Listener {
        name: "admin".into(),
        addr: st.admin_addr.to_string(),
    });
    let stats = collect(&st);
    Json(Node {
        id: st.node.id.clone(),
        name: st.node.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at_ms: st.started_at_ms,
        uptime_secs: stats.uptime_secs,
        listeners,
        stats,
    })
}

/// Broker counters and table sizes.
#[utoipa::path(get, path = "/api/v1/stats", operation_id = "get_stats", tag = "node",
    responses((status = 200, description = "Current figures", body = Stats)))]
pub async fn stats(State(st): State<AppState>) -> Json<Stats> {
    Json(collect(&st))
}

/// Whether the node is ready.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `ready`, `starting`, `shutting_down` or `store_unwritable`.
    pub status: String,
    /// What the status means, for operators.
    pub reason: String,
}

/// Readiness for supervisors, load balancers and `holdfast ctl wait-ready`: 200 when every
/// MQTT listener accepts and the store writes, 503 with the reason otherwise. Needs no key
/// and tells nothing about the data.
#[utoipa::path(get, path = "/api/v1/health", operation_id = "get_health", tag = "node", security(()),
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Starting, shutting down, or the store cannot write", body = Health)))]
pub async fn health(State(st): State<AppState>) -> (axum::http::StatusCode, Json<Health>) {
    let r = st.broker.health.readiness(st.broker.log().writable());
    let code = match r {
        holdfast_server::health::Readiness::Ready => axum::http::StatusCode::OK,
        _ => axum::http::StatusCode::SERVICE_UNAVAILABLE,
    };
    (
        code,
        Json(Health {
            status: r.as_str().to_string(),
            reason: r.reason().to_string(),
        }),
    )
}
