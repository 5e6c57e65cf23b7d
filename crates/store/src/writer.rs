//! The single writer thread: group commit.
//!
//! Connection tasks submit batches and get a [`CommitTicket`]. The writer takes every batch
//! waiting at that moment, applies them all in one redb write transaction and commits once,
//! so many publishers share one fsync. Under `Durability::Periodic` the commits skip the
//! fsync and a durable commit runs every interval instead.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable};
use tokio::sync::oneshot;

use crate::command::{self, Command};
use crate::log::Origin;
use crate::schema::{LAST_BATCH_SEQ, META};
use crate::store::{Shared, decode_batch_seq};
use crate::{Durability, StoreError};

/// Most batches folded into one transaction.
const BATCHES_PER_COMMIT_MAX: usize = 4096;
/// How often an unwritable store is reopened and probed.
const RECOVER_INTERVAL: Duration = Duration::from_secs(1);
/// The `meta` key a recovery probe writes (Unix milliseconds of the probe).
const PROBE_KEY: &str = "write_probe_ms";

/// Why a job was not committed.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// The commit was attempted and failed.
    Failed(String),
    /// The store was unwritable; the commit was not attempted.
    Unwritable(String),
}

impl From<Fault> for StoreError {
    fn from(f: Fault) -> StoreError {
        match f {
            Fault::Failed(e) => StoreError::Engine(e),
            Fault::Unwritable(e) => StoreError::Unwritable(e),
        }
    }
}

pub(crate) enum Job {
    Batch(
        Vec<Command>,
        Origin,
        Option<oneshot::Sender<Result<(), Fault>>>,
    ),
    /// A batch whose commands are handed back after the commit.
    BatchBack(
        Vec<Command>,
        oneshot::Sender<(Result<(), Fault>, Vec<Command>)>,
    ),
    /// Make everything so far durable, then answer.
    Flush(oneshot::Sender<Result<(), Fault>>),
}

/// Resolves when the batch it was issued for is committed (durably, under
/// `Durability::Sync`).
#[derive(Debug)]
pub struct CommitTicket(pub(crate) oneshot::Receiver<Result<(), Fault>>);

/// Resolves to the batch it was issued for, once committed (see `Store::submit_returning`).
#[derive(Debug)]
pub struct ReturnTicket(pub(crate) oneshot::Receiver<(Result<(), Fault>, Vec<Command>)>);

impl ReturnTicket {
    /// Wait for the commit from a thread outside the async runtime; the batch comes back.
    pub fn wait_blocking(self) -> Result<Vec<Command>, StoreError> {
        match self.0.blocking_recv() {
            Ok((Ok(()), batch)) => Ok(batch),
            Ok((Err(e), _)) => Err(e.into()),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

impl CommitTicket {
    /// Wait for the commit.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    /// Wait for the commit from a thread outside the async runtime.
    pub fn wait_blocking(self) -> Result<(), StoreError> {
        match self.0.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

pub(crate) fn run(shared: Arc<Shared>, rx: Receiver<Job>, durability: Durability) {
    let mut dirty = false;
    let mut last_sync = Instant::now();
    let mut last_recovery = Instant::now();
    loop {
        let writable = shared.writable.load(Ordering::Acquire);
        // Unwritable: wake up at least every RECOVER_INTERVAL to try again.
        let wait = match (writable, durability) {
            (false, _) => Some(RECOVER_INTERVAL.saturating_sub(last_recovery.elapsed())),
            (true, Durability::Sync) => None,
            (true, Durability::Periodic { interval_ms }) => {
                Some(Duration::from_millis(interval_ms).saturating_sub(last_sync.elapsed()))
            }
        };
        let first = match wait {
            None => match rx.recv() {
                Ok(j) => Some(j),
                Err(_) => break,
            },
            Some(wait) => match rx.recv_timeout(wait) {
                Ok(j) => Some(j),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        if !writable && last_recovery.elapsed() >= RECOVER_INTERVAL {
            last_recovery = Instant::now();
            recover(&shared);
        }
        let Some(first) = first else {
            if writable && dirty {
                let r = with_db(&shared, sync);
                dirty = false;
                if let Err(e) = r {
                    unwritable(&shared, &e.to_string());
                }
                last_sync = Instant::now();
            } else if writable {
                last_sync = Instant::now();
            }
            continue;
        };
        let mut jobs = vec![first];
        while jobs.len() < BATCHES_PER_COMMIT_MAX {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let durable = matches!(durability, Durability::Sync)
            || jobs.iter().any(|j| matches!(j, Job::Flush(_)));
        let result = if shared.writable.load(Ordering::Acquire) {
            match with_db(&shared, |db| commit(db, &jobs, durable)) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let e = e.to_string();
                    unwritable(&shared, &e);
                    Err(Fault::Failed(e))
                }
            }
        } else {
            Err(Fault::Unwritable(shared.fault()))
        };
        if result.is_ok() {
            shared.apply_committed(&jobs);
        }
        dirty = (dirty || result.is_ok()) && !durable;
        if durable {
            last_sync = Instant::now();
        }
        for job in jobs {
            let tx = match job {
                Job::Batch(_, _, tx) => tx,
                Job::BatchBack(batch, tx) => {
                    let _ = tx.send((result.clone(), batch));
                    None
                }
                Job::Flush(tx) => Some(tx),
            };
            if let Some(tx) = tx {
                let _ = tx.send(result.clone());
            }
        }
    }
    if dirty && shared.writable.load(Ordering::Acquire) {
        report(with_db(&shared, sync));
    }
}

/// Run `f` on the open database.
fn with_db<T>(
    shared: &Shared,
    f: impl FnOnce(&Database) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let db = shared.db.read().map_err(|_| StoreError::WriterGone)?;
    match db.as_ref() {
        Some(db) => f(db),
        None => Err(StoreError::Unwritable(shared.fault())),
    }
}

/// A write failed: refuse writes from now on until [`recover`] succeeds.
fn unwritable(shared: &Shared, error: &str) {
    if let Ok(mut f) = shared.fault.lock() {
        *f = Some(error.to_string());
    }
    if shared.writable.swap(false, Ordering::AcqRel) {
        tracing::error!(
            %error,
            path = %shared.path.display(),
            "store write failed: the batches in it are not applied, and durable writes are \
             refused until the store recovers (it is reopened and probed every second)"
        );
    }
}

/// Close the store (a failed write leaves redb refusing everything until it is reopened),
/// reopen it and commit a durable probe; writable again only if that succeeds.
fn recover(shared: &Shared) {
    let Ok(mut guard) = shared.db.write() else {
        return;
    };
    if let Some(old) = guard.take() {
        // Closes even with read transactions alive (their reads then fail).
        if let Err(e) = old.close() {
            tracing::debug!(error = %e, "closing the store before reopening it");
        }
    }
    let reopened = Shared::open_db(&shared.path, shared.cache_bytes).and_then(|db| {
        probe(&db)?;
        Ok(db)
    });
    match reopened {
        Ok(db) => {
            *guard = Some(db);
            drop(guard);
            if let Ok(mut f) = shared.fault.lock() {
                *f = None;
            }
            shared.writable.store(true, Ordering::Release);
            tracing::warn!(
                path = %shared.path.display(),
                "store recovered: reopened and a probe write committed; durable writes are \
                 accepted again"
            );
        }
        Err(e) => {
            tracing::debug!(error = %e, "store still cannot write");
            // Keep serving reads if the file can at least be opened.
            if guard.is_none()
                && let Ok(db) = Shared::open_db(&shared.path, shared.cache_bytes)
            {
                *guard = Some(db);
            }
        }
    }
}

fn probe(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        meta.insert(PROBE_KEY, now.to_le_bytes().as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

fn report(r: Result<(), StoreError>) {
    if let Err(e) = r {
        tracing::error!(error = %e, "store sync failed");
    }
}

fn commit(db: &Database, jobs: &[Job], durable: bool) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    if !durable {
        txn.set_durability(redb::Durability::None)?;
    }
    let mut batches = 0u64;
    for job in jobs {
        if let Job::Batch(batch, _, _) | Job::BatchBack(batch, _) = job {
            command::apply(&txn, batch)?;
            batches += 1;
        }
    }
    if batches > 0 {
        bump_batch_seq(&txn, batches)?;
    }
    txn.commit()?;
    Ok(())
}

/// Advance `meta/last_batch_seq` by the number of batches in this commit. The number names
/// the cut a read snapshot sees (see `Snapshot::batch_seq`); it only ever grows.
fn bump_batch_seq(txn: &redb::WriteTransaction, batches: u64) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META)?;
    let current = match meta.get(LAST_BATCH_SEQ)? {
        Some(v) => decode_batch_seq(v.value())?,
        None => 0,
    };
    let next = current.saturating_add(batches);
    meta.insert(LAST_BATCH_SEQ, next.to_le_bytes().as_slice())?;
    Ok(())
}

fn sync(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    txn.commit()?;
    Ok(())
}
