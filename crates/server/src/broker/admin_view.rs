//! Read-only views of the broker's state for the admin API: sessions, subscriptions and
//! retained messages.

use std::sync::Arc;

use holdfast_core::Message;
use holdfast_store::{Command, StoreError};

use super::{Broker, Slot};

/// A session as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientInfo {
    pub client_id: String,
    pub connected: bool,
    pub username: Option<String>,
    pub peer: Option<String>,
    pub protocol: u8,
    pub expiry_secs: u32,
    pub subscriptions: usize,
    pub queued: usize,
    pub inflight: usize,
    pub created_at_ms: u64,
    pub disconnected_at_ms: Option<u64>,
}

/// One subscription as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubscriptionInfo {
    pub client_id: String,
    pub filter: String,
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    pub sub_id: Option<u32>,
}

impl Broker {
    /// Every session, sorted by client id.
    pub fn clients(&self) -> Vec<ClientInfo> {
        let slots: Vec<Arc<Slot>> = self.sessions.read().values().cloned().collect();
        let mut out: Vec<ClientInfo> = slots
            .iter()
            .map(|s| {
                let state = s.state.lock();
                let meta = s.meta.lock();
                ClientInfo {
                    client_id: s.client_id.to_string(),
                    connected: meta.conn.is_some(),
                    username: meta.conn.as_ref().and_then(|c| c.username.clone()),
                    peer: meta.conn.as_ref().map(|c| c.peer_ip.to_string()),
                    protocol: meta.protocol,
                    expiry_secs: state.expiry_secs,
                    subscriptions: state.subscriptions.len(),
                    queued: state.queue_len(),
                    inflight: state.inflight_len(),
                    created_at_ms: meta.created_at_ms,
                    disconnected_at_ms: meta.disconnected_at_ms,
                }
            })
            .collect();
        out.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        out
    }

    /// Every subscription, sorted by client id then filter.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        let slots: Vec<Arc<Slot>> = self.sessions.read().values().cloned().collect();
        let mut out = Vec::new();
        for s in slots {
            let state = s.state.lock();
            for (filter, o) in &state.subscriptions {
                out.push(SubscriptionInfo {
                    client_id: s.client_id.to_string(),
                    filter: filter.clone(),
                    qos: o.qos.value(),
                    no_local: o.no_local,
                    retain_as_published: o.retain_as_published,
                    retain_handling: o.retain_handling,
                    sub_id: o.sub_id,
                });
            }
        }
        out.sort_by(|a, b| (&a.client_id, &a.filter).cmp(&(&b.client_id, &b.filter)));
        out
    }

    /// Every retained message, sorted by topic.
    pub fn retained_all(&self) -> Vec<Arc<Message>> {
        let mut v = self.retained.read().iter();
        v.sort_by(|a, b| a.topic.cmp(&b.topic));
        v
    }

    /// The retained message on exactly `topic`.
    pub fn retained_get(&self, topic: &str) -> Option<Arc<Message>> {
        self.retained.read().get(topic).cloned()
    }

    /// Delete the retained message on `topic` (committed before returning).
    pub async fn retained_delete(&self, topic: &str) -> Result<bool, StoreError> {
        if self.retained.read().get(topic).is_none() {
            return Ok(false);
        }
        let cmd = Command::DeleteRetained {
            topic: topic.to_string(),
        };
        self.log.submit(vec![cmd]).wait().await?;
        Ok(self.retained.write().remove(topic))
    }
}
