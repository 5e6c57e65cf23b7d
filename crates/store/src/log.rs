//! The write seam: [`CommandLog`], the one way a durable change reaches the store, and
//! [`Applier`], the one way a committed change reaches the in-memory views above it.
//!
//! On one node [`Store`] is the log: a submitted batch is committed by the writer thread and
//! then handed to the applier, in commit order, before its ticket resolves. A PUBACK, SUBACK or
//! admin answer that waits on a ticket therefore implies the views already show the change, and
//! a batch whose commit fails is never applied. A replicated log (stage 2b: openraft) will
//! implement the same trait, with every node applying the same committed batches.
//!
//! The applier runs on the writer thread: it must not block on a ticket, and no thread may wait
//! on a ticket while it holds a lock the applier takes (`docs/dev/write-seam-plan.md`, lock
//! rule).

use std::fmt::Debug;

use crate::{Command, CommitTicket, Snapshot, Store, StoreError};

/// Who proposed a batch, as the applier sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This node's broker decided it. The delivery state of a session it owns (queued and
    /// in-flight messages of an attached session, the packet ids of its flows) was changed by
    /// the connection that decided it, so the applier leaves that state alone; every other
    /// view is changed only by the applier.
    Local,
    /// A batch this node did not decide: a replayed command stream, or (stage 2b) an entry
    /// another node proposed. The applier applies every command of it to the views.
    Log,
}

/// The in-memory views over the store, updated from committed batches only.
pub trait Applier: Send + Sync + 'static {
    /// `batch` has been committed (durably under `Durability::Sync`). Called on the writer
    /// thread, once per batch, in commit order, before the batch's ticket resolves.
    fn apply_committed(&self, origin: Origin, batch: &[Command]);
}

/// The one seam durable changes go through.
pub trait CommandLog: Send + Sync + Debug + 'static {
    /// Submit a batch to be committed atomically; the ticket resolves after the commit and
    /// after the applier has seen the batch.
    fn submit(&self, batch: Vec<Command>) -> CommitTicket;
    /// [`CommandLog::submit`] without a ticket. Batches keep their order.
    fn submit_detached(&self, batch: Vec<Command>);
    /// Submit a batch that this node did not decide ([`Origin::Log`]).
    fn submit_from_log(&self, batch: Vec<Command>) -> CommitTicket;
    /// Resolves once every batch submitted before it is durable and applied.
    fn flush(&self) -> CommitTicket;
    /// Whether durable writes are accepted.
    fn writable(&self) -> bool;
    /// Why durable writes are refused, while they are.
    fn fault(&self) -> Option<String>;
    /// One consistent read cut.
    fn snapshot(&self) -> Result<Snapshot, StoreError>;
}

impl CommandLog for Store {
    fn submit(&self, batch: Vec<Command>) -> CommitTicket {
        Store::submit(self, batch)
    }
    fn submit_detached(&self, batch: Vec<Command>) {
        Store::submit_detached(self, batch)
    }
    fn submit_from_log(&self, batch: Vec<Command>) -> CommitTicket {
        Store::submit_with_origin(self, batch, Origin::Log)
    }
    fn flush(&self) -> CommitTicket {
        Store::flush(self)
    }
    fn writable(&self) -> bool {
        Store::writable(self)
    }
    fn fault(&self) -> Option<String> {
        Store::fault(self)
    }
    fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Store::snapshot(self)
    }
}
