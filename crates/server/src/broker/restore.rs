//! Building the broker's in-memory sessions and retained index from store rows: at start-up
//! ([`Broker::restore`], everything) and after an import (`import`, what the import touched).
//! Restored sessions are disconnected; [`Broker::start_timers`] starts their expiry and
//! delayed-will timers.

use std::collections::HashMap;
use std::sync::Arc;

use holdfast_core::retained::RetainedIndex;
use holdfast_core::trie::SubscriptionTrie;
use holdfast_core::{ClientId, SessionState, topic};
use holdfast_store::records::{RetainedRecord, SessionRecord};
use holdfast_store::{Command, Loaded};

use super::{Broker, Slot, SlotMeta, Will};
use crate::time::now_ms;

/// Sessions rebuilt from store rows.
pub(super) struct Rebuilt {
    pub slots: HashMap<String, Arc<Slot>>,
    /// Deletes of rows that belong to no session, or that cannot be read.
    pub orphans: Vec<Command>,
    /// Rows that could not be read.
    pub bad: usize,
}

impl Broker {
    /// Build one slot per `sessions` row of `loaded`, with its subscriptions (added to `trie`),
    /// queued and in-flight messages. The other fields of `loaded` are left alone.
    pub(super) fn rebuild_sessions(
        &self,
        loaded: &mut Loaded,
        trie: &mut SubscriptionTrie,
    ) -> Rebuilt {
        let now = now_ms();
        let mut bad = 0usize;
        let mut orphans = Vec::new();
        let mut slots: HashMap<String, Arc<Slot>> = HashMap::with_capacity(loaded.sessions.len());
        for (client, rec) in std::mem::take(&mut loaded.sessions) {
            let slot = self.detached_slot(&client, &rec, now);
            slots.insert(client, slot);
        }
        for (client, raw, rec) in std::mem::take(&mut loaded.subscriptions) {
            let (Some(slot), Ok(opts), Ok(p)) = (
                slots.get(&client),
                rec.to_options(),
                topic::parse_filter(&raw),
            ) else {
                bad += 1;
                orphans.push(Command::DeleteSubscription {
                    client,
                    filter: raw,
                });
                continue;
            };
            trie.insert(p.filter, p.group, &slot.client_id, opts);
            slot.state.lock().subscriptions.insert(raw.clone(), opts);
        }
        for (client, seq, rec) in std::mem::take(&mut loaded.queued) {
            match (slots.get(&client), rec.into_delivery()) {
                (Some(slot), Ok(d)) => slot.state.lock().restore_queued(seq, d),
                _ => {
                    bad += 1;
                    orphans.push(Command::Dequeue { client, seq });
                }
            }
        }
        for (client, pid, rec) in std::mem::take(&mut loaded.inflight_out) {
            match (slots.get(&client), rec.into_inflight()) {
                (Some(slot), Ok(i)) => slot.state.lock().restore_inflight(pid, i),
                _ => {
                    bad += 1;
                    orphans.push(Command::DeleteInflightOut {
                        client,
                        packet_id: pid,
                    });
                }
            }
        }
        for (client, pid) in std::mem::take(&mut loaded.inflight_in) {
            match slots.get(&client) {
                Some(slot) => {
                    slot.state.lock().incoming_qos2.insert(pid);
                }
                None => orphans.push(Command::DeleteInflightIn {
                    client,
                    packet_id: pid,
                }),
            }
        }
        Rebuilt {
            slots,
            orphans,
            bad,
        }
    }

    /// A disconnected session built from its store record. One that was connected when its
    /// record was written (the broker stopped, or the export was taken) ended at `now`.
    pub(super) fn detached_slot(&self, client: &str, rec: &SessionRecord, now: u64) -> Arc<Slot> {
        let id = ClientId::new(client);
        let state = SessionState::new(id.clone(), rec.expiry_secs, self.queued_max());
        let meta = SlotMeta {
            will: will_of(rec),
            protocol: rec.protocol,
            created_at_ms: rec.created_at_ms,
            disconnected_at_ms: Some(rec.disconnected_at_ms.unwrap_or(now)),
            generation: 1,
            conn: None,
            stored: true,
        };
        Slot::new(id, state, meta)
    }

    /// Load the whole state read at start-up.
    pub(super) fn restore(self: &Arc<Self>, mut loaded: Loaded) {
        let rebuilt = self.rebuild_sessions(&mut loaded, &mut self.trie.write());
        let mut bad = rebuilt.bad;
        bad += insert_retained(
            &mut self.retained.write(),
            std::mem::take(&mut loaded.retained),
        );
        if bad > 0 {
            tracing::warn!(
                records = bad,
                "store records that could not be restored were skipped"
            );
        }
        if !rebuilt.orphans.is_empty() {
            // Rows left behind by a session that ended while a delivery to it was being
            // written (or unreadable ones): remove them so they are not exported or reloaded.
            tracing::info!(
                rows = rebuilt.orphans.len(),
                "removing orphaned session rows"
            );
            self.log.submit_detached(rebuilt.orphans);
        }
        let count = rebuilt.slots.len();
        let mut sessions = self.sessions.write();
        for (_, slot) in rebuilt.slots {
            sessions.insert(slot.client_id.clone(), slot);
        }
        drop(sessions);
        tracing::info!(
            sessions = count,
            subscriptions = self.subscription_count(),
            retained = self.retained_count(),
            "state restored from the store"
        );
    }

    /// Start the timers of restored sessions (wills due, expiry). Needs a runtime.
    pub fn start_restored_timers(self: &Arc<Self>) {
        let slots: Vec<Arc<Slot>> = self.sessions.read().values().cloned().collect();
        for slot in slots {
            self.start_timers(slot);
        }
    }

    /// Start the delayed-will and expiry timers of one restored (disconnected, generation 1)
    /// session. Needs a runtime.
    pub(super) fn start_timers(self: &Arc<Self>, slot: Arc<Slot>) {
        let now = now_ms();
        let expiry = slot.state.lock().expiry_secs;
        let (gone_ms, will_delay) = {
            let meta = slot.meta.lock();
            let gone = now.saturating_sub(meta.disconnected_at_ms.unwrap_or(now));
            (gone, meta.will.as_ref().map(|w| w.delay_secs))
        };
        if let Some(delay) = will_delay {
            let due_ms = u64::from(delay.min(expiry)) * 1000;
            let left = due_ms.saturating_sub(gone_ms);
            self.schedule_will(
                slot.clone(),
                1,
                u32::try_from(left / 1000).unwrap_or(u32::MAX),
            );
        }
        if expiry != u32::MAX {
            let left = (u64::from(expiry) * 1000).saturating_sub(gone_ms);
            self.schedule_expiry(slot, 1, left);
        }
    }
}

/// Put readable retained records into `index`; returns how many could not be read.
pub(super) fn insert_retained(
    index: &mut RetainedIndex,
    rows: Vec<(String, RetainedRecord)>,
) -> usize {
    let mut bad = 0;
    for (topic, rec) in rows {
        match rec.msg.into_message() {
            Ok(m) => index.insert(Arc::new(m)),
            Err(e) => {
                bad += 1;
                tracing::warn!(%topic, error = %e, "skipping unreadable retained message");
            }
        }
    }
    bad
}

/// The will a session record holds, if it can be read.
pub(super) fn will_of(rec: &SessionRecord) -> Option<Will> {
    rec.will.as_ref().and_then(|w| {
        w.msg.to_message().ok().map(|m| Will {
            msg: Arc::new(m),
            delay_secs: w.delay_secs,
        })
    })
}
