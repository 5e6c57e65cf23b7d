//! Holdfast's embedded store: every durable piece of broker state, in named redb tables.
//!
//! - [`schema`]: the tables and their key types; the schema version.
//! - [`records`]: the versioned record types kept in those tables.
//! - [`command`]: the write commands. Every change to the store is a [`Command`]; a batch of
//!   commands is applied atomically. On one node they go straight to the [`writer`]; in a
//!   cluster they will go through the Raft log first, and every node applies the same batches.
//! - [`wire`]: the versioned wire form of a command batch (`docs/formats/commands.md`), for a
//!   replicated log and for replaying a recorded command stream.
//! - [`CommandLog`]: the write seam every durable change goes through; [`Applier`]: the views
//!   above the store, updated from committed batches only (`log`).
//! - [`writer`]: one thread that applies batches with group commit (many batches, one fsync).
//! - [`Store`]: open, load the state at start-up, submit batches, take read snapshots;
//!   `partial` reloads what an import touched, `copy` makes the hot snapshot's copy.
//! - [`Snapshot`]: one consistent read cut, with rows by [`Table`] as [`KeyPart`]s and record
//!   bytes; `table` and `key_part` name the tables, their [`Set`]s and their key shapes.
//!
//! Neighbours: `server` submits commands and waits on their tickets before acknowledging
//! QoS 1/2; `backup` reads one [`Snapshot`] for a consistent cut, without naming redb. The
//! [`schema`] module still exports redb table definitions; making it private, with one table
//! registry, is the next step (issue 13), after which the engine is the store's own business.

pub mod command;
mod copy;
pub mod courtesy;
mod error;
mod key_part;
mod log;
mod partial;
pub mod records;
pub mod schema;
mod snapshot;
mod store;
mod table;
pub mod wire;
mod writer;

pub use command::Command;
pub use copy::StoreCopy;
pub use error::StoreError;
pub use key_part::{KeyKind, KeyPart};
pub use log::{Applier, CommandLog, Origin};
pub use snapshot::{RowFn, Snapshot};
pub use store::{DEFAULT_CACHE_BYTES, Durability, Loaded, Store, StoreOptions};
pub use table::{Set, Table, UnknownSet};
pub use writer::{CommitTicket, ReturnTicket};
