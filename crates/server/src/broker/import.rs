//! [`Broker::apply_import`]: commit an import batch (a backup archive's plan) and make the
//! running broker match the store at once, without a restart.
//!
//! What the batch touches is rebuilt, not patched:
//! - auth tables and cluster config: every command is mirrored into the auth cache, as for
//!   admin writes; connected clients a new ban covers are disconnected;
//! - retained messages: each topic the batch writes or deletes is replaced by the batch's
//!   record (retained rows have no other writer while the batch commits, and no cascade);
//! - sessions: every client whose session, subscriptions, queued or in-flight rows the batch
//!   touches gets a new session built from its rows in the store: read back after the
//!   commit for a client that had rows before it, taken from the batch's records (moved, not
//!   decoded again) for a client that had none, as on a fresh node. Its old session is retired
//!   and, if connected, the client is disconnected (v5 reason 0x98, administrative action):
//!   it reconnects to the imported session (`clean_start=false` finds the imported
//!   subscriptions and queue, and in-flight messages are resent with DUP). The retired
//!   session's will is not published: an operator replaced it.
//!
//! Consistency: the batch is made (the caller re-plans if the store moved since its plan) and
//! committed while the broker holds its connect lock, after every write submitted before has
//! been committed; the commit itself also holds the subscription trie and retained index
//! locks, so no client connects and no message is routed in the meantime (the pause is
//! reported as `paused_ms`: a re-plan if one was needed, and the commit of one batch).
//! Before the commit the sessions to be replaced are made non-persistent in memory, so their
//! connections cannot write rows of the old session over the imported ones. A slot's state
//! lock is never taken while the trie lock is held (`subscribe` takes them in the other
//! order).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use holdfast_core::trie::SubscriptionTrie;
use holdfast_core::{ClientId, topic};
use holdfast_store::{Command, StoreError};

use super::restore::insert_retained;
use super::{Broker, Kick, Slot};
use crate::time::now_ms;

/// What applying an import did to the running broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportEffect {
    /// Sessions rebuilt from the store (imported, changed or removed by the batch).
    pub sessions_reloaded: u64,
    /// Connected clients disconnected because their session was replaced.
    pub clients_disconnected: u64,
    /// Retained topics read back from the store.
    pub retained_reloaded: u64,
    /// Auth and cluster-config commands mirrored into the auth cache.
    pub auth_changes: u64,
    /// How long connects and routing waited for the commit, in milliseconds.
    pub paused_ms: u64,
}

/// What a batch touches.
#[derive(Debug, Default)]
struct Touched {
    /// Sorted, without duplicates.
    clients: Vec<String>,
    /// Sorted, without duplicates.
    topics: Vec<String>,
    /// The auth and cluster-config commands, mirrored into the auth cache after the commit
    /// (the batch itself moves into the store).
    auth: Vec<Command>,
    /// Bans in force that the batch writes: connected clients they cover are disconnected.
    bans: Vec<(u8, String)>,
}

impl Touched {
    fn of(commands: &[Command]) -> Touched {
        let now = now_ms();
        let mut t = Touched::default();
        for c in commands {
            match c {
                Command::PutSession { client, .. }
                | Command::DeleteSession { client }
                | Command::PutSubscription { client, .. }
                | Command::DeleteSubscription { client, .. }
                | Command::Enqueue { client, .. }
                | Command::Dequeue { client, .. }
                | Command::PutInflightOut { client, .. }
                | Command::DeleteInflightOut { client, .. }
                | Command::PutInflightIn { client, .. }
                | Command::DeleteInflightIn { client, .. } => {
                    // A table's rows come grouped by client: skip the repeats here.
                    if t.clients.last() != Some(client) {
                        t.clients.push(client.clone());
                    }
                }
                Command::PutRetained { topic, .. } | Command::DeleteRetained { topic } => {
                    t.topics.push(topic.clone());
                }
                Command::PutBanned { kind, value, rec } => {
                    if rec.expires_at_ms.is_none_or(|at| at > now) {
                        t.bans.push((*kind, value.clone()));
                    }
                    t.auth.push(c.clone());
                }
                _ => t.auth.push(c.clone()),
            }
        }
        // A plan lists its rows table by table in key order: these sorts have little to do.
        for list in [&mut t.clients, &mut t.topics] {
            list.sort_unstable();
            list.dedup();
        }
        t
    }
}

impl Broker {
    /// Commit the batch `make_batch` gives (one atomic batch) and rebuild the in-memory state
    /// it touches from the store. `make_batch` runs once no client can connect and every
    /// write submitted before has been committed, so a plan it re-makes from a fresh read
    /// snapshot sees everything but the acknowledgements of already connected clients.
    /// Blocks until the batch is committed: call it from a blocking thread of the runtime (it
    /// starts the timers of the rebuilt sessions). If the commit fails, nothing changed, in
    /// the store or in memory. An empty batch is not submitted.
    pub fn apply_import<E: From<StoreError>>(
        self: &Arc<Self>,
        make_batch: impl FnOnce() -> Result<Vec<Command>, E>,
    ) -> Result<ImportEffect, E> {
        let paused = Instant::now();
        let connect_guard = self.connect_lock.lock();
        self.store.flush().wait_blocking()?;
        let commands = make_batch()?;
        if commands.is_empty() {
            return Ok(ImportEffect::default());
        }
        let batch_made = paused.elapsed();
        let touched = Touched::of(&commands);
        let mut effect = ImportEffect {
            auth_changes: touched.auth.len() as u64,
            ..ImportEffect::default()
        };
        // Sessions about to be replaced stop writing to the store before the batch lands, and
        // their subscriptions are taken out (a slot's state is locked before the trie, never
        // while holding it, as `subscribe` does).
        let old: Vec<Retired> = touched
            .clients
            .iter()
            .filter_map(|c| self.slot(&ClientId::new(c)))
            .map(Retired::quiet)
            .collect();
        // Clients with rows in the store before the batch are read back after it (the batch
        // may leave some of their rows as they were); for the others, and for retained
        // topics, the batch's own records are exactly what the store holds after it.
        let existing = match self.store.clients_with_rows(&touched.clients) {
            Ok(e) => e,
            Err(e) => {
                for r in old {
                    r.undo();
                }
                return Err(e.into());
            }
        };
        let mut trie = self.trie.write();
        let mut retained = self.retained.write();
        let commit_started = Instant::now();
        let batch = match self.store.submit_returning(commands).wait_blocking() {
            Ok(b) => b,
            Err(e) => {
                drop((retained, trie));
                for r in old {
                    r.undo();
                }
                return Err(e.into());
            }
        };
        let committed = commit_started.elapsed();
        for r in &old {
            r.leave_trie(&mut trie);
        }
        let reload_started = Instant::now();
        let reloaded = self.store.load_part(&existing, &[]);
        let mut part = match reloaded {
            Ok(mut p) => {
                p.absorb_puts(batch, &existing);
                p
            }
            Err(e) => {
                tracing::error!(error = %e, "the import is committed but could not be reloaded; restart the node");
                return Err(e.into());
            }
        };
        let read_back = reload_started.elapsed();
        let rebuilt = self.rebuild_sessions(&mut part, &mut trie);
        let new_slots: Vec<Arc<Slot>> = rebuilt.slots.into_values().collect();
        {
            let mut sessions = self.sessions.write();
            for r in &old {
                if sessions
                    .get(&r.slot.client_id)
                    .is_some_and(|s| Arc::ptr_eq(s, &r.slot))
                {
                    sessions.remove(&r.slot.client_id);
                }
            }
            for slot in &new_slots {
                sessions.insert(slot.client_id.clone(), slot.clone());
            }
        }
        for topic in &touched.topics {
            retained.remove(topic);
        }
        let bad = rebuilt.bad + insert_retained(&mut retained, std::mem::take(&mut part.retained));
        drop((retained, trie));
        for r in &old {
            if r.detach() {
                effect.clients_disconnected += 1;
            }
        }
        drop(connect_guard);
        effect.paused_ms = u64::try_from(paused.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            paused_ms = effect.paused_ms,
            batch_ms = batch_made.as_millis() as u64,
            commit_ms = committed.as_millis() as u64,
            read_back_ms = read_back.as_millis() as u64,
            rebuild_ms = (reload_started.elapsed() - read_back).as_millis() as u64,
            "import batch applied"
        );
        if bad > 0 {
            tracing::warn!(
                records = bad,
                "imported records that could not be loaded were skipped"
            );
        }
        effect.sessions_reloaded = new_slots.len() as u64;
        effect.retained_reloaded = touched.topics.len() as u64;
        for slot in new_slots {
            self.start_timers(slot);
        }
        {
            let mut auth = self.auth.write();
            for c in &touched.auth {
                auth.apply(c);
            }
        }
        if touched
            .auth
            .iter()
            .any(|c| matches!(c, Command::PutUser { .. } | Command::DeleteUser { .. }))
        {
            self.verifier.forget_all();
        }
        if !touched.bans.is_empty() {
            self.kick_banned(&touched.bans);
        }
        Ok(effect)
    }
}

/// A session an import replaces, on its way out.
struct Retired {
    slot: Arc<Slot>,
    /// Its expiry before it was made non-persistent (put back if the commit fails).
    expiry_secs: u32,
    /// Its subscriptions, taken out of its state.
    filters: std::collections::BTreeMap<String, holdfast_core::SubOptions>,
}

impl Retired {
    /// Make the session write nothing more to the store and change no more subscriptions (its
    /// connection may still run until it is told to go), and take its subscriptions.
    fn quiet(slot: Arc<Slot>) -> Retired {
        let mut state = slot.state.lock();
        slot.retired.store(true, Ordering::Release);
        let expiry_secs = std::mem::replace(&mut state.expiry_secs, 0);
        let filters = std::mem::take(&mut state.subscriptions);
        drop(state);
        Retired {
            slot,
            expiry_secs,
            filters,
        }
    }

    /// The commit failed: the session is as it was.
    fn undo(self) {
        let mut state = self.slot.state.lock();
        state.expiry_secs = self.expiry_secs;
        state.subscriptions = self.filters;
        self.slot.retired.store(false, Ordering::Release);
    }

    fn leave_trie(&self, trie: &mut SubscriptionTrie) {
        for raw in self.filters.keys() {
            if let Ok(p) = topic::parse_filter(raw) {
                trie.remove(p.filter, p.group, &self.slot.client_id);
            }
        }
    }

    /// Cancel its timers and will, and tell its connection (if any) to go. Returns whether one
    /// was connected.
    fn detach(&self) -> bool {
        let mut meta = self.slot.meta.lock();
        // Pending expiry and will timers check the generation, and find it changed.
        meta.generation += 1;
        meta.stored = false;
        meta.will = None;
        let link = meta.conn.take();
        drop(meta);
        self.slot.online.store(false, Ordering::Release);
        match link {
            Some(link) => {
                link.kick.send(Kick::Administrative);
                true
            }
            None => false,
        }
    }
}
