//! The applier: the broker's views updated from committed batches, on the store's writer
//! thread, in commit order, before each batch's ticket resolves (`holdfast_store::Applier`).
//!
//! - Every origin: the auth tables (users, ACL rules, bans, API keys, cluster config), with
//!   cached credentials of a changed user forgotten and connected clients a new ban covers
//!   disconnected. An admin answer that waited on its ticket implies the change is in force.
//! - [`Origin::Log`] (a replayed command stream; stage 2b: another node's entry): every view,
//!   retained messages, sessions, subscriptions, queued and in-flight messages too, so that a
//!   node that only applies committed batches serves what the node that decided them served.
//! - [`Origin::Local`]: the retained index, subscriptions and session delivery state are still
//!   changed by the connection that decided them (issue 13 steps C6 to C10 move them here).
//!
//! Nothing here waits on a ticket or takes `connect_lock`.

use std::sync::{Arc, Weak};

use holdfast_core::{ClientId, topic};
use holdfast_store::records::SessionRecord;
use holdfast_store::{Applier, Command, Origin};

use super::restore::will_of;
use super::{Broker, Kick};
use crate::time::now_ms;

/// The [`Applier`] the store calls: a weak handle, so the store does not keep the broker alive.
pub(super) struct Views(pub(super) Weak<Broker>);

impl Applier for Views {
    fn apply_committed(&self, origin: Origin, batch: &[Command]) {
        if let Some(broker) = self.0.upgrade() {
            broker.apply_committed(origin, batch);
        }
    }
}

fn is_auth(c: &Command) -> bool {
    matches!(
        c,
        Command::PutUser { .. }
            | Command::DeleteUser { .. }
            | Command::PutAcl { .. }
            | Command::DeleteAcl { .. }
            | Command::PutBanned { .. }
            | Command::DeleteBanned { .. }
            | Command::PutApiKey { .. }
            | Command::DeleteApiKey { .. }
            | Command::PutConfig { .. }
            | Command::DeleteConfig { .. }
    )
}

impl Broker {
    /// Apply one committed batch to the views (see the module docs for what, by origin).
    pub(super) fn apply_committed(&self, origin: Origin, batch: &[Command]) {
        self.apply_auth(batch);
        if origin == Origin::Log {
            for c in batch {
                self.apply_state(c);
            }
        }
    }

    fn apply_auth(&self, batch: &[Command]) {
        if !batch.iter().any(is_auth) {
            return;
        }
        {
            let mut auth = self.auth.write();
            for c in batch.iter().filter(|c| is_auth(c)) {
                auth.apply(c);
            }
        }
        let mut bans = Vec::new();
        for c in batch {
            match c {
                Command::PutUser { username, .. } | Command::DeleteUser { username } => {
                    self.verifier.forget_user(username);
                }
                Command::PutBanned { kind, value, .. } => bans.push((*kind, value.clone())),
                _ => {}
            }
        }
        if !bans.is_empty() {
            self.kick_banned(&bans);
        }
    }

    /// One non-auth command of a batch this node did not decide.
    fn apply_state(&self, c: &Command) {
        let slot_of = |client: &str| self.slot(&ClientId::new(client));
        match c {
            Command::PutSession { client, rec } => self.apply_put_session(client, rec),
            Command::DeleteSession { client } => {
                if let Some(slot) = slot_of(client) {
                    if let Some(link) = slot.meta.lock().conn.take() {
                        link.kick.send(Kick::Administrative);
                    }
                    // The delete is committed already: nothing more to submit.
                    self.drop_session(&slot, &mut Vec::new());
                }
            }
            Command::PutSubscription {
                client,
                filter,
                rec,
            } => {
                let (Some(slot), Ok(opts), Ok(p)) = (
                    slot_of(client),
                    rec.to_options(),
                    topic::parse_filter(filter),
                ) else {
                    tracing::warn!(%client, %filter, "committed subscription not applied: no such session or unreadable");
                    return;
                };
                let mut state = slot.state.lock();
                self.trie
                    .write()
                    .insert(p.filter, p.group, &slot.client_id, opts);
                state.subscriptions.insert(filter.clone(), opts);
            }
            Command::DeleteSubscription { client, filter } => {
                if let (Some(slot), Ok(p)) = (slot_of(client), topic::parse_filter(filter)) {
                    let mut state = slot.state.lock();
                    state.subscriptions.remove(filter);
                    self.trie.write().remove(p.filter, p.group, &slot.client_id);
                }
            }
            Command::Enqueue { client, seq, rec } => {
                if let (Some(slot), Ok(d)) = (slot_of(client), rec.clone().into_delivery()) {
                    slot.state.lock().insert_queued(*seq, d);
                    slot.notify.notify_one();
                }
            }
            Command::Dequeue { client, seq } => {
                if let Some(slot) = slot_of(client) {
                    slot.state.lock().remove_queued(*seq);
                }
            }
            Command::PutInflightOut {
                client,
                packet_id,
                rec,
            } => {
                if let (Some(slot), Ok(i)) = (slot_of(client), rec.clone().into_inflight()) {
                    let mut state = slot.state.lock();
                    state.remove_queued(i.seq);
                    state.restore_inflight(*packet_id, i);
                }
            }
            Command::DeleteInflightOut { client, packet_id } => {
                if let Some(slot) = slot_of(client) {
                    slot.state.lock().remove_inflight(*packet_id);
                }
            }
            Command::PutInflightIn { client, packet_id } => {
                if let Some(slot) = slot_of(client) {
                    slot.state.lock().incoming_qos2.insert(*packet_id);
                }
            }
            Command::DeleteInflightIn { client, packet_id } => {
                if let Some(slot) = slot_of(client) {
                    slot.state.lock().incoming_qos2.remove(packet_id);
                }
            }
            Command::PutRetained { topic, rec } => match rec.msg.clone().into_message() {
                Ok(m) => self.retained.write().insert(Arc::new(m)),
                Err(e) => {
                    tracing::warn!(%topic, error = %e, "committed retained message not applied: unreadable")
                }
            },
            Command::DeleteRetained { topic } => {
                self.retained.write().remove(topic);
            }
            _ => {}
        }
    }

    /// A committed session record: create the (disconnected) session, or update its facts.
    fn apply_put_session(&self, client: &str, rec: &SessionRecord) {
        let id = ClientId::new(client);
        let Some(slot) = self.slot(&id) else {
            let slot = self.detached_slot(client, rec, now_ms());
            self.sessions.write().insert(id, slot);
            return;
        };
        slot.state.lock().expiry_secs = rec.expiry_secs;
        let mut meta = slot.meta.lock();
        meta.will = will_of(rec);
        meta.protocol = rec.protocol;
        meta.created_at_ms = rec.created_at_ms;
        if meta.conn.is_none() {
            meta.disconnected_at_ms = Some(rec.disconnected_at_ms.unwrap_or_else(now_ms));
        }
        meta.stored = true;
    }
}
