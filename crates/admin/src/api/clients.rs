//! `/api/v1/clients` and `/api/v1/subscriptions`: sessions (connected or waiting for their
//! client) with their subscriptions; kicking a connected client.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use holdfast_core::ClientId;
use holdfast_server::broker::{ClientInfo, SubscriptionInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::PathParam;
use crate::state::AppState;

/// A session, with its connection if one is attached.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub client_id: String,
    pub connected: bool,
    /// Username of the attached connection.
    pub username: Option<String>,
    /// IP address of the attached connection.
    pub peer: Option<String>,
    /// 4: MQTT 3.1.1, 5: MQTT 5.0.
    pub protocol: u8,
    /// Session Expiry Interval in seconds (4294967295: never).
    pub expiry_secs: u32,
    pub subscriptions: u64,
    /// Deliveries waiting to be sent.
    pub queued: u64,
    /// Deliveries sent and not yet acknowledged.
    pub inflight: u64,
    pub created_at_ms: u64,
    pub disconnected_at_ms: Option<u64>,
}

impl From<ClientInfo> for Client {
    fn from(c: ClientInfo) -> Self {
        Client {
            client_id: c.client_id,
            connected: c.connected,
            username: c.username,
            peer: c.peer,
            protocol: c.protocol,
            expiry_secs: c.expiry_secs,
            subscriptions: c.subscriptions as u64,
            queued: c.queued as u64,
            inflight: c.inflight as u64,
            created_at_ms: c.created_at_ms,
            disconnected_at_ms: c.disconnected_at_ms,
        }
    }
}

/// One subscription of one session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub client_id: String,
    /// The filter as subscribed (with `$share/<group>/` for shared subscriptions).
    pub filter: String,
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    pub sub_id: Option<u32>,
}

impl From<SubscriptionInfo> for Subscription {
    fn from(s: SubscriptionInfo) -> Self {
        Subscription {
            client_id: s.client_id,
            filter: s.filter,
            qos: s.qos,
            no_local: s.no_local,
            retain_as_published: s.retain_as_published,
            retain_handling: s.retain_handling,
            sub_id: s.sub_id,
        }
    }
}

/// Every session, sorted by client id.
#[utoipa::path(get, path = "/api/v1/clients", operation_id = "list_clients", tag = "clients",
    responses((status = 200, description = "Every session", body = [Client])))]
pub async fn list(State(st): State<AppState>) -> Json<Vec<Client>> {
    Json(st.broker.clients().into_iter().map(Client::from).collect())
}

/// Disconnect a connected client (v5 clients get DISCONNECT 0x98). Its session stays, as
/// for any disconnection.
#[utoipa::path(delete, path = "/api/v1/clients/{client_id}", operation_id = "kick_client", tag = "clients",
    params(("client_id" = String, Path, description = "Client id (percent-encoded)")),
    responses(
        (status = 204, description = "Told to disconnect"),
        (status = 404, description = "No such client connected", body = ErrorBody)))]
pub async fn kick(
    State(st): State<AppState>,
    PathParam(client_id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    if st.broker.kick(&ClientId::new(&client_id)) {
        tracing::info!(client = %client_id, "admin: client kicked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "client {client_id:?} is not connected"
        )))
    }
}

/// Every subscription, sorted by client id then filter.
#[utoipa::path(get, path = "/api/v1/subscriptions", operation_id = "list_subscriptions", tag = "clients",
    responses((status = 200, description = "Every subscription", body = [Subscription])))]
pub async fn subscriptions(State(st): State<AppState>) -> Json<Vec<Subscription>> {
    Json(
        st.broker
            .subscriptions()
            .into_iter()
            .map(Subscription::from)
            .collect(),
    )
}
