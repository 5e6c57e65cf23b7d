//! [`Store`]: the handle the broker holds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, OnceLock, RwLock};
use std::thread::JoinHandle;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};
use std::sync::Mutex;
use tokio::sync::oneshot;

use crate::log::{Applier, Origin};
use crate::records::{
    self, AclRecord, ApiKeyRecord, BannedRecord, DeliveryRecord, InflightRecord, RetainedRecord,
    SessionRecord, SubscriptionRecord, UserRecord,
};
use crate::schema::*;
use crate::snapshot::Snapshot;
use crate::writer::{self, CommitTicket, Job, ReturnTicket};
use crate::{Command, StoreError};

/// When a commit is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every group commit is fsynced before any of its batches is acknowledged. A QoS 1/2
    /// message acknowledged to its publisher survives a crash or power loss.
    Sync,
    /// Commits are applied at once but fsynced every `interval_ms`: a crash of the machine
    /// (not just the process) can lose the last interval.
    Periodic { interval_ms: u64 },
}

/// The default size of the engine's page cache: [`StoreOptions::cache_bytes`].
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub durability: Durability,
    /// The most memory the engine (redb) keeps for pages it has read and for the dirty pages
    /// of a write transaction before it writes them out early. The broker keeps everything it
    /// serves in memory and reads the store only at start-up, on an export and on an import,
    /// each of which reads every page once, so a large cache mostly holds pages no one reads
    /// again. Measured on the 2.8 M-record reference set (docs/benchmarks.md): 1 GiB cost
    /// about 1 GB more resident memory than 64 MiB. The store file the fill left measured
    /// 1.2 to 2.4 GB, the two largest with 64 MiB: hence the default between the two.
    pub cache_bytes: usize,
    /// Append every committed batch, in commit order, to this file (a diagnostic: the command
    /// stream a replica would apply; `docs/formats/commands.md`, "Recorded streams").
    pub record_to: Option<PathBuf>,
}

impl Default for StoreOptions {
    /// `Sync` durability, [`DEFAULT_CACHE_BYTES`].
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Sync,
            cache_bytes: DEFAULT_CACHE_BYTES,
            record_to: None,
        }
    }
}

/// Everything the broker reloads at start-up.
#[derive(Debug, Default)]
pub struct Loaded {
    pub sessions: Vec<(String, SessionRecord)>,
    pub subscriptions: Vec<(String, String, SubscriptionRecord)>,
    pub queued: Vec<(String, u64, DeliveryRecord)>,
    pub inflight_out: Vec<(String, u16, InflightRecord)>,
    pub inflight_in: Vec<(String, u16)>,
    pub retained: Vec<(String, RetainedRecord)>,
    pub users: Vec<(String, UserRecord)>,
    pub acl: Vec<(u64, AclRecord)>,
    pub banned: Vec<(u8, String, BannedRecord)>,
    pub api_keys: Vec<(String, ApiKeyRecord)>,
    pub cluster_config: Vec<(String, String)>,
}

/// What the writer thread shares with the store handles: the database (replaced when the
/// writer reopens it after a write failure) and whether it can write.
pub(crate) struct Shared {
    /// `None` only while the writer reopens it.
    pub(crate) db: RwLock<Option<Database>>,
    pub(crate) path: PathBuf,
    pub(crate) cache_bytes: usize,
    pub(crate) writable: AtomicBool,
    /// Why the last write failed, while the store is unwritable.
    pub(crate) fault: Mutex<Option<String>>,
    /// The views above the store ([`Store::set_applier`]).
    pub(crate) applier: OnceLock<Arc<dyn Applier>>,
    /// Where every committed batch is appended, if anywhere ([`StoreOptions::record_to`]).
    pub(crate) recorder: Mutex<Option<Recorder>>,
}

impl Shared {
    /// Hand the batches of one successful commit to the recorder and the applier, in order.
    pub(crate) fn apply_committed(&self, jobs: &[Job]) {
        let applier = self.applier.get();
        let mut recorder = self.recorder.lock().ok();
        for job in jobs {
            let (batch, origin) = match job {
                Job::Batch(batch, origin, _) => (batch, *origin),
                // An import's batch: the import rebuilds what it touched itself.
                Job::BatchBack(batch, _) => (batch, Origin::Log),
                Job::Flush(_) => continue,
            };
            if let Some(r) = recorder.as_mut().and_then(|r| r.as_mut()) {
                r.record(batch);
            }
            if let (Some(a), Job::Batch(..)) = (applier, job) {
                a.apply_committed(origin, batch);
            }
        }
    }
}

/// Appends every committed batch to a file: `u32 LE length ++ wire batch`
/// (`docs/formats/commands.md`, "Recorded streams").
pub(crate) struct Recorder {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
}

impl Recorder {
    fn open(path: &Path) -> Result<Recorder, StoreError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| StoreError::Engine(format!("cannot open {}: {e}", path.display())))?;
        Ok(Recorder {
            file: std::io::BufWriter::new(file),
            path: path.to_path_buf(),
        })
    }

    fn record(&mut self, batch: &[Command]) {
        use std::io::Write;
        let bytes = crate::wire::encode_batch(batch);
        let r = u32::try_from(bytes.len())
            .map_err(std::io::Error::other)
            .and_then(|n| self.file.write_all(&n.to_le_bytes()))
            .and_then(|()| self.file.write_all(&bytes))
            .and_then(|()| self.file.flush());
        if let Err(e) = r {
            tracing::error!(path = %self.path.display(), error = %e, "recording a committed batch failed");
        }
    }
}

impl Shared {
    pub(crate) fn open_db(path: &Path, cache_bytes: usize) -> Result<Database, StoreError> {
        Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                source: e.into(),
            })
    }

    pub(crate) fn fault(&self) -> String {
        self.fault
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_else(|| "a write failed".into())
    }
}

struct Inner {
    shared: Arc<Shared>,
    tx: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The embedded store. Cloning shares one database and one writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.shared.path)
            .finish()
    }
}

impl Store {
    /// Open (or create) the store file at `path` and start its writer.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        let db = Shared::open_db(path, opts.cache_bytes)?;
        init_schema(&db, path)?;
        let shared = Arc::new(Shared {
            db: RwLock::new(Some(db)),
            path: path.to_path_buf(),
            cache_bytes: opts.cache_bytes,
            writable: AtomicBool::new(true),
            fault: Mutex::new(None),
            applier: OnceLock::new(),
            recorder: Mutex::new(opts.record_to.as_deref().map(Recorder::open).transpose()?),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let wshared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(wshared, rx, opts.durability))
            .map_err(|e| StoreError::Engine(format!("cannot start writer thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.inner.shared.path
    }

    /// Whether the store accepts writes. False from a failed write (disk full, I/O error)
    /// until the writer has reopened the store and a probe write succeeded; meanwhile every
    /// write is refused with [`StoreError::Unwritable`] without being attempted.
    pub fn writable(&self) -> bool {
        self.inner.shared.writable.load(Ordering::Acquire)
    }

    /// Why the store cannot write, while it cannot.
    pub fn fault(&self) -> Option<String> {
        (!self.writable()).then(|| self.inner.shared.fault())
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let guard = self.inner.tx.lock().map_err(|_| StoreError::WriterGone)?;
        let tx = guard.as_ref().ok_or(StoreError::WriterGone)?;
        tx.send(job).map_err(|_| StoreError::WriterGone)
    }

    /// Set the views that every committed batch is applied to, from now on (once).
    pub fn set_applier(&self, applier: Arc<dyn Applier>) -> Result<(), StoreError> {
        self.inner
            .shared
            .applier
            .set(applier)
            .map_err(|_| StoreError::Engine("the store already has an applier".into()))
    }

    /// Submit a batch to be applied atomically; the ticket resolves once it is committed and
    /// applied to the views ([`Origin::Local`]).
    pub fn submit(&self, batch: Vec<Command>) -> CommitTicket {
        self.submit_with_origin(batch, Origin::Local)
    }

    /// [`Store::submit`] with the origin the applier is told.
    pub fn submit_with_origin(&self, batch: Vec<Command>, origin: Origin) -> CommitTicket {
        let (tx, rx) = oneshot::channel();
        // If the writer is gone the sender is dropped and the ticket reports WriterGone.
        let _ = self.send(Job::Batch(batch, origin, Some(tx)));
        CommitTicket(rx)
    }

    /// Submit a batch and get it back once committed: a caller that builds memory from the
    /// same records (an import) moves them out instead of reading them back.
    pub fn submit_returning(&self, batch: Vec<Command>) -> ReturnTicket {
        let (tx, rx) = oneshot::channel();
        let _ = self.send(Job::BatchBack(batch, tx));
        ReturnTicket(rx)
    }

    /// Submit a batch without waiting for it.
    pub fn submit_detached(&self, batch: Vec<Command>) {
        if self.send(Job::Batch(batch, Origin::Local, None)).is_err() {
            tracing::warn!("store writer is gone; a write was dropped during shutdown");
        }
    }

    /// Make every submitted batch durable.
    pub fn flush(&self) -> CommitTicket {
        let (tx, rx) = oneshot::channel();
        let _ = self.send(Job::Flush(tx));
        CommitTicket(rx)
    }

    /// Stop the writer after it has applied and synced everything submitted so far.
    pub fn close(&self) -> Result<(), StoreError> {
        let flushed = self.flush();
        if let Ok(mut tx) = self.inner.tx.lock() {
            tx.take();
        }
        let thread = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
        flushed.wait_blocking()
    }

    /// A read snapshot: one consistent cut across every table.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot::new(self.read()?))
    }

    /// The engine's read transaction behind [`Store::snapshot`], for the store's own readers.
    pub(crate) fn read(&self) -> Result<ReadTransaction, StoreError> {
        let db = self
            .inner
            .shared
            .db
            .read()
            .map_err(|_| StoreError::WriterGone)?;
        match db.as_ref() {
            Some(db) => Ok(db.begin_read()?),
            None => Err(StoreError::Unwritable(format!(
                "being reopened after: {}",
                self.inner.shared.fault()
            ))),
        }
    }

    /// Read the whole broker state (at start-up).
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let txn = self.read()?;
        let mut out = Loaded::default();
        for e in txn.open_table(SESSIONS)?.iter()? {
            let (k, v) = e?;
            let client = k.value().to_string();
            out.sessions.push((
                client.clone(),
                records::decode("sessions", &client, v.value())?,
            ));
        }
        for e in txn.open_table(SUBSCRIPTIONS)?.iter()? {
            let (k, v) = e?;
            let (c, f) = k.value();
            let key = format!("{c}/{f}");
            let rec = records::decode("subscriptions", &key, v.value())?;
            out.subscriptions.push((c.to_string(), f.to_string(), rec));
        }
        for e in txn.open_table(QUEUED)?.iter()? {
            let (k, v) = e?;
            let (c, seq) = k.value();
            let rec = records::decode("queued", &format_args!("{c}/{seq}"), v.value())?;
            out.queued.push((c.to_string(), seq, rec));
        }
        for e in txn.open_table(INFLIGHT)?.iter()? {
            let (k, v) = e?;
            let (c, dir, pid) = k.value();
            match dir {
                DIR_OUT => {
                    let rec =
                        records::decode("inflight", &format_args!("{c}/out/{pid}"), v.value())?;
                    out.inflight_out.push((c.to_string(), pid, rec));
                }
                _ => out.inflight_in.push((c.to_string(), pid)),
            }
        }
        for e in txn.open_table(RETAINED)?.iter()? {
            let (k, v) = e?;
            let topic = k.value().to_string();
            out.retained.push((
                topic.clone(),
                records::decode("retained", &topic, v.value())?,
            ));
        }
        for e in txn.open_table(USERS)?.iter()? {
            let (k, v) = e?;
            let name = k.value().to_string();
            out.users
                .push((name.clone(), records::decode("users", &name, v.value())?));
        }
        for e in txn.open_table(ACL)?.iter()? {
            let (k, v) = e?;
            let id = k.value();
            out.acl.push((id, records::decode("acl", &id, v.value())?));
        }
        for e in txn.open_table(BANNED)?.iter()? {
            let (k, v) = e?;
            let (kind, value) = k.value();
            let key = format!("{kind}/{value}");
            let rec = records::decode("banned", &key, v.value())?;
            out.banned.push((kind, value.to_string(), rec));
        }
        for e in txn.open_table(API_KEYS)?.iter()? {
            let (k, v) = e?;
            let id = k.value().to_string();
            out.api_keys
                .push((id.clone(), records::decode("api_keys", &id, v.value())?));
        }
        for e in txn.open_table(CLUSTER_CONFIG)?.iter()? {
            let (k, v) = e?;
            let value =
                String::from_utf8(v.value().to_vec()).map_err(|_| StoreError::Corrupted {
                    table: "cluster_config",
                    key: k.value().to_string(),
                    reason: "value is not UTF-8".into(),
                })?;
            out.cluster_config.push((k.value().to_string(), value));
        }
        Ok(out)
    }
}

/// `meta/last_batch_seq` from its stored bytes.
pub(crate) fn decode_batch_seq(bytes: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupted {
        table: "meta",
        key: LAST_BATCH_SEQ.into(),
        reason: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(u64::from_le_bytes(b))
}

fn init_schema(db: &Database, path: &Path) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let found = match meta.get("schema_version")? {
            Some(v) => {
                let b: [u8; 4] = v.value().try_into().map_err(|_| StoreError::Corrupted {
                    table: "meta",
                    key: "schema_version".into(),
                    reason: "not 4 bytes".into(),
                })?;
                Some(u32::from_le_bytes(b))
            }
            None => None,
        };
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::SchemaTooNew {
                    path: path.to_path_buf(),
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => {
                meta.insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                meta.insert("created_at_ms", now.to_le_bytes().as_slice())?;
            }
        }
        txn.open_table(CLUSTER_CONFIG)?;
        txn.open_table(RETAINED)?;
        txn.open_table(SESSIONS)?;
        txn.open_table(SUBSCRIPTIONS)?;
        txn.open_table(QUEUED)?;
        txn.open_table(INFLIGHT)?;
        txn.open_table(USERS)?;
        txn.open_table(ACL)?;
        txn.open_table(BANNED)?;
        txn.open_table(API_KEYS)?;
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::MessageRecord;

    fn delivery(topic: &str) -> DeliveryRecord {
        DeliveryRecord {
            msg: MessageRecord {
                topic: topic.into(),
                payload: b"p".to_vec(),
                qos: 1,
                retain: false,
                payload_utf8: false,
                content_type: None,
                response_topic: None,
                correlation_data: None,
                user_properties: vec![],
                expires_at_ms: None,
            },
            qos: 1,
            retain: false,
            sub_ids: vec![],
        }
    }

    fn session() -> SessionRecord {
        SessionRecord {
            expiry_secs: 60,
            protocol: 5,
            created_at_ms: 1,
            disconnected_at_ms: None,
            will: None,
        }
    }

    fn open(path: &Path) -> Store {
        Store::open(path, StoreOptions::default()).expect("opens")
    }

    #[test]
    fn committed_batches_survive_reopen_and_delete_session_cascades() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.redb");
        let store = open(&path);
        let sub = SubscriptionRecord {
            qos: 1,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
            sub_id: None,
        };
        let mut batch = vec![];
        for c in ["a", "ab", "b"] {
            batch.push(Command::PutSession {
                client: c.into(),
                rec: session(),
            });
            batch.push(Command::PutSubscription {
                client: c.into(),
                filter: "x/#".into(),
                rec: sub,
            });
            batch.push(Command::Enqueue {
                client: c.into(),
                seq: 1,
                rec: delivery("x/1"),
            });
            batch.push(Command::PutInflightIn {
                client: c.into(),
                packet_id: 7,
            });
        }
        store.submit(batch).wait_blocking().expect("commit");
        store
            .submit(vec![Command::DeleteSession { client: "a".into() }])
            .wait_blocking()
            .expect("commit");
        store.close().expect("close");
        drop(store);

        let store = open(&path);
        let loaded = store.load().expect("load");
        let clients: Vec<&str> = loaded.sessions.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(clients, ["ab", "b"]);
        assert_eq!(loaded.subscriptions.len(), 2);
        assert_eq!(loaded.queued.len(), 2);
        assert_eq!(loaded.inflight_in.len(), 2);
        assert!(loaded.queued.iter().all(|(c, _, _)| c != "a"));
        // Two batches were committed before the reopen.
        let snapshot = store.snapshot().expect("snapshot");
        assert_eq!(snapshot.batch_seq().expect("seq"), 2);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.redb");
        {
            let db = Database::create(&path).expect("create");
            let txn = db.begin_write().expect("txn");
            txn.open_table(META)
                .expect("meta")
                .insert("schema_version", 99u32.to_le_bytes().as_slice())
                .expect("insert");
            txn.commit().expect("commit");
        }
        let err = Store::open(&path, StoreOptions::default()).expect_err("newer schema is refused");
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }
}
