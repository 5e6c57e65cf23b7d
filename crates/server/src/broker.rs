//! [`Broker`]: the state every connection shares — the subscription trie, the retained
//! index, the session registry and the store — and the operations that touch several of
//! them at once (connect, disconnect, publish, subscribe, expiry, wills).
//!
//! Submodules: `publish` (routing a message, its retained change, its store writes),
//! `fanout` (what routing a message produced, submitted writes-then-wake),
//! `auth_ops` (admin changes to the auth tables, kicks, authorization decisions),
//! `admin_view` (listings for the admin API), `import` (applying an archive import and
//! rebuilding what it touched), `restore` (loading the state at start-up).
//!
//! Lock order, to stay deadlock-free: `connect_lock` → `trie`/`retained` → `sessions` →
//! a slot's `state`. `sessions` is never held while taking `trie`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use holdfast_core::retained::RetainedIndex;
use holdfast_core::trie::SubscriptionTrie;
use holdfast_core::{ClientId, Message, SessionState, SubOptions, topic};
use holdfast_store::records::{MessageRecord, SessionRecord, SubscriptionRecord, WillRecord};
use holdfast_store::{Command, CommandLog, Loaded, Store};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::auth::AuthState;
use crate::config::BrokerConfig;
use crate::stats::Stats;
use crate::time::now_ms;

mod admin_view;
mod apply;
mod auth_ops;
mod fanout;
mod import;
mod kick;
mod publish;
mod restore;

pub use admin_view::{ClientInfo, SubscriptionInfo};
pub use fanout::{Fanout, RetainedUndo};

pub use import::ImportEffect;
pub use kick::{Kick, KickSender};

/// The connection currently attached to a session.
#[derive(Debug)]
pub struct ConnLink {
    pub id: u64,
    pub kick: KickSender,
    pub username: Option<String>,
    pub peer_ip: std::net::IpAddr,
}

/// A will message with its delay.
#[derive(Debug, Clone)]
pub struct Will {
    pub msg: Arc<Message>,
    pub delay_secs: u32,
}

/// Session facts that are not MQTT delivery state.
#[derive(Debug)]
pub struct SlotMeta {
    pub will: Option<Will>,
    pub protocol: u8,
    pub created_at_ms: u64,
    pub disconnected_at_ms: Option<u64>,
    /// Bumped on every connection, so that stale timers and cleanups can tell.
    pub generation: u64,
    pub conn: Option<ConnLink>,
    /// The session has a record in the store (so ending it needs a delete).
    pub stored: bool,
}

/// A session in the registry.
#[derive(Debug)]
pub struct Slot {
    pub client_id: ClientId,
    pub state: Mutex<SessionState>,
    pub meta: Mutex<SlotMeta>,
    /// Wakes the attached connection when deliveries are queued.
    pub notify: Notify,
    pub online: AtomicBool,
    /// Replaced by an import: its connection may run a moment longer, but it no longer
    /// changes subscriptions (set under the state lock, checked under it).
    pub retired: AtomicBool,
}

impl Slot {
    fn new(client_id: ClientId, state: SessionState, meta: SlotMeta) -> Arc<Slot> {
        Arc::new(Slot {
            client_id,
            state: Mutex::new(state),
            meta: Mutex::new(meta),
            notify: Notify::new(),
            online: AtomicBool::new(false),
            retired: AtomicBool::new(false),
        })
    }

    /// The store record for this session.
    pub fn record(&self) -> SessionRecord {
        let expiry_secs = self.state.lock().expiry_secs;
        let meta = self.meta.lock();
        SessionRecord {
            expiry_secs,
            protocol: meta.protocol,
            created_at_ms: meta.created_at_ms,
            disconnected_at_ms: meta.disconnected_at_ms,
            will: meta.will.as_ref().map(|w| WillRecord {
                msg: MessageRecord::from(&*w.msg),
                delay_secs: w.delay_secs,
            }),
        }
    }
}

/// What a CONNECT asked for.
#[derive(Debug)]
pub struct ConnectRequest {
    pub client_id: ClientId,
    pub clean_start: bool,
    pub expiry_secs: u32,
    pub will: Option<Will>,
    pub protocol: u8,
    pub kick: KickSender,
    pub username: Option<String>,
    pub peer_ip: std::net::IpAddr,
}

/// The outcome of [`Broker::connect`].
#[derive(Debug)]
pub struct Connected {
    pub slot: Arc<Slot>,
    pub conn_id: u64,
    pub session_present: bool,
    /// Store writes to commit before CONNACK.
    pub commands: Vec<Command>,
}

/// The shared broker.
pub struct Broker {
    pub config: Arc<BrokerConfig>,
    /// The store, private to the seam: durable changes go through `log`.
    store: Store,
    /// The write seam ([`CommandLog`]); every durable change is submitted here.
    log: Arc<dyn CommandLog>,
    pub stats: Stats,
    /// Starting, ready, shutting down; whether the store writes.
    pub health: crate::health::Health,
    /// MQTT password checks: bounded, cached, equal work for unknown users.
    pub verifier: crate::auth::verifier::Verifier,
    pub shutdown: CancellationToken,
    trie: RwLock<SubscriptionTrie>,
    retained: RwLock<RetainedIndex>,
    sessions: RwLock<HashMap<ClientId, Arc<Slot>>>,
    connect_lock: Mutex<()>,
    next_conn_id: AtomicU64,
    /// Users, ACL, bans, API keys and cluster config, as in the store.
    auth: RwLock<AuthState>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("store", &self.store)
            .finish()
    }
}

impl Broker {
    /// A broker over `store`, with the state loaded from it.
    pub fn new(config: BrokerConfig, store: Store, loaded: Loaded) -> Arc<Broker> {
        let broker = Arc::new(Broker {
            config: Arc::new(config),
            log: Arc::new(store.clone()),
            store,
            stats: Stats::default(),
            health: crate::health::Health::default(),
            verifier: crate::auth::verifier::Verifier::default(),
            shutdown: CancellationToken::new(),
            trie: RwLock::new(SubscriptionTrie::new()),
            retained: RwLock::new(RetainedIndex::new()),
            sessions: RwLock::new(HashMap::new()),
            connect_lock: Mutex::new(()),
            next_conn_id: AtomicU64::new(1),
            auth: RwLock::new(AuthState::default()),
        });
        let mut loaded = loaded;
        {
            let mut auth = broker.auth.write();
            auth.users = std::mem::take(&mut loaded.users).into_iter().collect();
            auth.acl = std::mem::take(&mut loaded.acl).into_iter().collect();
            auth.banned = std::mem::take(&mut loaded.banned)
                .into_iter()
                .map(|(k, v, r)| ((k, v), r))
                .collect();
            auth.api_keys = std::mem::take(&mut loaded.api_keys).into_iter().collect();
            auth.cluster_config = std::mem::take(&mut loaded.cluster_config)
                .into_iter()
                .collect();
        }
        broker.restore(loaded);
        if let Err(e) = broker
            .store
            .set_applier(Arc::new(apply::Views(Arc::downgrade(&broker))))
        {
            tracing::error!(error = %e, "committed batches will not reach this broker's views");
        }
        broker
    }

    /// The write seam: every durable change is submitted here.
    pub fn log(&self) -> &dyn CommandLog {
        &*self.log
    }

    /// The write seam, as a handle to move into a blocking task (exports, snapshots).
    pub fn log_handle(&self) -> Arc<dyn CommandLog> {
        self.log.clone()
    }

    /// Commit everything submitted so far and stop the store's writer (at shutdown).
    pub fn close_store(&self) -> Result<(), holdfast_store::StoreError> {
        self.store.close()
    }

    fn queued_max(&self) -> usize {
        self.config.mqtt.queued_messages_max
    }

    /// Number of sessions (connected or not).
    pub fn session_count(&self) -> usize {
        self.sessions.read().len()
    }

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.trie.read().len()
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.retained.read().len()
    }

    /// The session of `client`, if any.
    pub fn slot(&self, client: &ClientId) -> Option<Arc<Slot>> {
        self.sessions.read().get(client).cloned()
    }

    /// Attach a new connection to its session (created, resumed or replaced).
    pub fn connect(&self, req: ConnectRequest) -> Connected {
        let _guard = self.connect_lock.lock();
        let conn_id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let existing = self.slot(&req.client_id);
        let mut commands = Vec::new();
        let mut old_will = None;
        if let Some(old) = &existing {
            let mut meta = old.meta.lock();
            if let Some(link) = meta.conn.take() {
                link.kick.send(Kick::TakenOver);
            }
            // The old connection's will (or a will still waiting for its delay): sent now if it
            // had no delay or if its session ends here; cancelled when the session resumes
            // before the delay is over (MQTT 5.0 §3.1.3.2.2).
            old_will = meta
                .will
                .take()
                .filter(|w| w.delay_secs == 0 || req.clean_start);
        }
        if let Some(w) = old_will {
            self.publish_now(w.msg, None);
        }
        let resumed = match existing {
            Some(old) if !req.clean_start => Some(old),
            Some(old) => {
                self.drop_session(&old, &mut commands);
                None
            }
            None => None,
        };
        let session_present = resumed.is_some();
        let slot = match resumed {
            Some(slot) => {
                slot.state.lock().expiry_secs = req.expiry_secs;
                let mut meta = slot.meta.lock();
                meta.will = req.will;
                meta.protocol = req.protocol;
                meta.disconnected_at_ms = None;
                meta.generation += 1;
                meta.conn = Some(ConnLink {
                    id: conn_id,
                    kick: req.kick,
                    username: req.username,
                    peer_ip: req.peer_ip,
                });
                drop(meta);
                slot
            }
            None => {
                let state =
                    SessionState::new(req.client_id.clone(), req.expiry_secs, self.queued_max());
                let meta = SlotMeta {
                    will: req.will,
                    protocol: req.protocol,
                    created_at_ms: now,
                    disconnected_at_ms: None,
                    generation: 1,
                    conn: Some(ConnLink {
                        id: conn_id,
                        kick: req.kick,
                        username: req.username,
                        peer_ip: req.peer_ip,
                    }),
                    stored: false,
                };
                let slot = Slot::new(req.client_id.clone(), state, meta);
                self.sessions
                    .write()
                    .insert(req.client_id.clone(), slot.clone());
                slot
            }
        };
        slot.online.store(true, Ordering::Release);
        let client = req.client_id.as_str().to_string();
        if req.expiry_secs > 0 {
            slot.meta.lock().stored = true;
            commands.push(Command::PutSession {
                client,
                rec: slot.record(),
            });
        } else if std::mem::take(&mut slot.meta.lock().stored) {
            // A resumed session that now ends with its connection leaves the store at once.
            commands.push(Command::DeleteSession { client });
        }
        self.stats.connected.fetch_add(1, Ordering::Relaxed);
        Connected {
            slot,
            conn_id,
            session_present,
            commands,
        }
    }

    /// Remove a session from the trie and the registry; adds the store delete.
    fn drop_session(&self, slot: &Arc<Slot>, commands: &mut Vec<Command>) {
        let filters: Vec<String> = slot.state.lock().subscriptions.keys().cloned().collect();
        {
            let mut trie = self.trie.write();
            for raw in &filters {
                if let Ok(p) = topic::parse_filter(raw) {
                    trie.remove(p.filter, p.group, &slot.client_id);
                }
            }
        }
        let mut sessions = self.sessions.write();
        if sessions
            .get(&slot.client_id)
            .is_some_and(|s| Arc::ptr_eq(s, slot))
        {
            sessions.remove(&slot.client_id);
        }
        drop(sessions);
        let mut meta = slot.meta.lock();
        if std::mem::take(&mut meta.stored) {
            commands.push(Command::DeleteSession {
                client: slot.client_id.as_str().to_string(),
            });
        }
    }

    /// A connection ended. `publish_will` is false after a normal DISCONNECT.
    pub fn disconnect(self: &Arc<Self>, slot: &Arc<Slot>, conn_id: u64, publish_will: bool) {
        let guard = self.connect_lock.lock();
        self.stats.connected.fetch_sub(1, Ordering::Relaxed);
        let mut meta = slot.meta.lock();
        if meta.conn.as_ref().is_none_or(|c| c.id != conn_id) {
            // Taken over: `connect` already dealt with this connection's will.
            return;
        }
        let will = meta.will.take().filter(|_| publish_will);
        meta.conn = None;
        meta.disconnected_at_ms = Some(now_ms());
        let generation = meta.generation;
        drop(meta);
        slot.online.store(false, Ordering::Release);
        let expiry = slot.state.lock().expiry_secs;
        let mut commands = Vec::new();
        if expiry == 0 {
            self.drop_session(slot, &mut commands);
        } else {
            if let Some(w) = &will
                && w.delay_secs > 0
            {
                // Keep the will with the session until it is due.
                slot.meta.lock().will = Some(w.clone());
            }
            slot.meta.lock().stored = true;
            commands.push(Command::PutSession {
                client: slot.client_id.as_str().into(),
                rec: slot.record(),
            });
        }
        drop(guard);
        if !commands.is_empty() {
            self.log.submit_detached(commands);
        }
        if let Some(w) = will {
            let delay = w.delay_secs.min(expiry);
            if delay == 0 {
                self.publish_now(w.msg, None);
            } else {
                self.schedule_will(slot.clone(), generation, delay);
            }
        }
        if expiry > 0 && expiry != u32::MAX {
            self.schedule_expiry(slot.clone(), generation, u64::from(expiry) * 1000);
        }
    }

    fn schedule_will(self: &Arc<Self>, slot: Arc<Slot>, generation: u64, delay_secs: u32) {
        let broker = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(delay_secs))).await;
            let will = {
                let mut meta = slot.meta.lock();
                if meta.generation != generation || meta.conn.is_some() {
                    return;
                }
                meta.will.take()
            };
            if let Some(w) = will {
                broker.publish_now(w.msg, None);
                let rec = slot.record();
                broker.log.submit_detached(vec![Command::PutSession {
                    client: slot.client_id.as_str().into(),
                    rec,
                }]);
            }
        });
    }

    fn schedule_expiry(self: &Arc<Self>, slot: Arc<Slot>, generation: u64, after_ms: u64) {
        let broker = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after_ms)).await;
            let _guard = broker.connect_lock.lock();
            let will = {
                let mut meta = slot.meta.lock();
                if meta.generation != generation || meta.conn.is_some() {
                    return;
                }
                meta.will.take()
            };
            let mut commands = Vec::new();
            broker.drop_session(&slot, &mut commands);
            broker.log.submit_detached(commands);
            drop(_guard);
            if let Some(w) = will {
                broker.publish_now(w.msg, None);
            }
            tracing::debug!(client = %slot.client_id, "session expired");
        });
    }

    /// Add or replace a subscription. Returns whether it existed and the store write.
    pub fn subscribe(
        &self,
        slot: &Slot,
        raw: &str,
        group: Option<&str>,
        filter: &str,
        opts: SubOptions,
    ) -> (bool, Option<Command>) {
        let mut state = slot.state.lock();
        if slot.retired.load(Ordering::Acquire) {
            return (false, None);
        }
        let existed = self
            .trie
            .write()
            .insert(filter, group, &slot.client_id, opts);
        state.subscriptions.insert(raw.to_string(), opts);
        let cmd = state.is_persistent().then(|| Command::PutSubscription {
            client: slot.client_id.as_str().into(),
            filter: raw.to_string(),
            rec: SubscriptionRecord::from(&opts),
        });
        (existed, cmd)
    }

    /// Remove a subscription. Returns whether it existed and the store write.
    pub fn unsubscribe(&self, slot: &Slot, raw: &str) -> (bool, Option<Command>) {
        let Ok(parsed) = topic::parse_filter(raw) else {
            return (false, None);
        };
        let mut state = slot.state.lock();
        if slot.retired.load(Ordering::Acquire) {
            return (false, None);
        }
        let existed = state.subscriptions.remove(raw).is_some();
        self.trie
            .write()
            .remove(parsed.filter, parsed.group, &slot.client_id);
        let cmd = (existed && state.is_persistent()).then(|| Command::DeleteSubscription {
            client: slot.client_id.as_str().into(),
            filter: raw.to_string(),
        });
        (existed, cmd)
    }

    /// Retained messages matching `filter`, unexpired.
    pub fn retained_matching(&self, filter: &str) -> Vec<Arc<Message>> {
        let now = now_ms();
        let mut v = self.retained.read().matching(filter);
        v.retain(|m| !m.is_expired(now));
        v
    }
}
