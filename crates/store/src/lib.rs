//! Holdfast's embedded store: every durable piece of broker state, in named redb tables.
//!
//! - [`schema`]: the tables and their key types; the schema version.
//! - [`records`]: the versioned record types kept in those tables.
//! - [`command`]: the write commands. Every change to the store is a [`Command`]; a batch of
//!   commands is applied atomically. On one node they go straight to the [`writer`]; in a
//!   cluster they will go through the Raft log first, and every node applies the same batches.
//! - [`wire`]: the versioned wire form of a command batch (`docs/formats/commands.md`), for a
//!   replicated log and for replaying a recorded command stream.
//! - [`writer`]: one thread that applies batches with group commit (many batches, one fsync).
//! - [`Store`]: open, load the state at start-up, submit batches, take read snapshots;
//!   `partial` reloads what an import touched, `copy` makes the hot snapshot's copy.
//!
//! Neighbours: `server` submits commands and waits on their tickets before acknowledging
//! QoS 1/2; `backup` reads one [`redb::ReadTransaction`] for a consistent cut.

pub mod command;
mod copy;
pub mod courtesy;
mod error;
mod partial;
pub mod records;
pub mod schema;
mod store;
pub mod wire;
mod writer;

pub use command::Command;
pub use copy::{StoreCopy, copy_snapshot};
pub use error::StoreError;
pub use store::{DEFAULT_CACHE_BYTES, Durability, Loaded, Store, StoreOptions};
pub use writer::{CommitTicket, ReturnTicket};
