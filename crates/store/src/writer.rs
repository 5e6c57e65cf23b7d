//! The single writer thread: group commit.
//!
//! Connection tasks submit batches and get a [`CommitTicket`]. The writer takes every batch
//! waiting at that moment, applies them all in one redb write transaction and commits once,
//! so many publishers share one fsync. Under `Durability::Periodic` the commits skip the
//! fsync and a durable commit runs every interval instead.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable};
use tokio::sync::oneshot;

use crate::command::{self, Command};
use crate::schema::{LAST_BATCH_SEQ, META};
use crate::store::decode_batch_seq;
use crate::{Durability, StoreError};

/// Most batches folded into one transaction.
const BATCHES_PER_COMMIT_MAX: usize = 4096;

pub(crate) enum Job {
    Batch(Vec<Command>, Option<oneshot::Sender<Result<(), String>>>),
    /// A batch whose commands are handed back after the commit.
    BatchBack(
        Vec<Command>,
        oneshot::Sender<(Result<(), String>, Vec<Command>)>,
    ),
    /// Make everything so far durable, then answer.
    Flush(oneshot::Sender<Result<(), String>>),
}

/// Resolves when the batch it was issued for is committed (durably, under
/// `Durability::Sync`).
#[derive(Debug)]
pub struct CommitTicket(pub(crate) oneshot::Receiver<Result<(), String>>);

/// Resolves to the batch it was issued for, once committed (see `Store::submit_returning`).
#[derive(Debug)]
pub struct ReturnTicket(pub(crate) oneshot::Receiver<(Result<(), String>, Vec<Command>)>);

impl ReturnTicket {
    /// Wait for the commit from a thread outside the async runtime; the batch comes back.
    pub fn wait_blocking(self) -> Result<Vec<Command>, StoreError> {
        match self.0.blocking_recv() {
            Ok((Ok(()), batch)) => Ok(batch),
            Ok((Err(e), _)) => Err(StoreError::Engine(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

impl CommitTicket {
    /// Wait for the commit.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Engine(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    /// Wait for the commit from a thread outside the async runtime.
    pub fn wait_blocking(self) -> Result<(), StoreError> {
        match self.0.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Engine(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

pub(crate) fn run(db: Arc<Database>, rx: Receiver<Job>, durability: Durability) {
    let mut dirty = false;
    let mut last_sync = Instant::now();
    loop {
        let first = match durability {
            Durability::Sync => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
            Durability::Periodic { interval_ms } => {
                let interval = Duration::from_millis(interval_ms);
                match rx.recv_timeout(interval.saturating_sub(last_sync.elapsed())) {
                    Ok(j) => j,
                    Err(RecvTimeoutError::Timeout) => {
                        if dirty {
                            report(sync(&db));
                            dirty = false;
                        }
                        last_sync = Instant::now();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
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
        let result = commit(&db, &jobs, durable).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "store commit failed; the batches in it are not applied");
        }
        dirty = !durable && result.is_ok();
        if durable {
            last_sync = Instant::now();
        }
        for job in jobs {
            let tx = match job {
                Job::Batch(_, tx) => tx,
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
    if dirty {
        report(sync(&db));
    }
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
        if let Job::Batch(batch, _) | Job::BatchBack(batch, _) = job {
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
/// the cut a read snapshot sees (see `Store::batch_seq`); it only ever grows.
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
