//! Holdfast's backup and restore, as a library: the archive format v1, a consistent online
//! export, offline verification, and an atomic import (BACKUP.md §3;
//! `docs/formats/archive-v1.md`). No sockets and no runtime: the admin API and `holdfast ctl`
//! call it.
//!
//! - Export: [`export`] (to a file, atomically) or [`write_archive`] (to any writer) reads
//!   every selected table from one store read snapshot, so an archive is one consistent cut.
//! - Verify: [`verify`] / [`inspect`] check a file offline; [`Archive::verify`] turns an
//!   `Archive<Unverified>` into the `Archive<Verified>` an import needs.
//! - Import: [`plan`] diffs a verified archive against a store snapshot (`--dry-run` stops
//!   here); [`apply`] writes the plan as one atomic batch of store commands.
//! - Versions: [`convert`] brings older format versions to the current one and refuses newer.
//!
//! Modules: `key` and `frame` (the record encoding), `value`, `json_value` and `strict`
//! (record values), [`manifest`], `header`, `trailer` (the whole-file checksum of the binary
//! form), `read_binary` / `read_json`, `source`, `write`, `export`, `archive`, `plan`,
//! `apply`, `node_config`. [`Table`] and [`Set`] are the store's, re-exported.
//!
//! Neighbours: `holdfast-store` below (tables and sets, records, `Command`s, read
//! [`Snapshot`](holdfast_store::Snapshot)s); the admin API and the `holdfast` binary above.

mod apply;
mod archive;
mod contents;
pub mod convert;
mod error;
mod export;
mod frame;
mod header;
mod json_value;
mod key;
mod limits;
pub mod manifest;
mod node_config;
mod plan;
mod read_binary;
mod read_json;
mod reader_thread;
mod source;
mod strict;
pub mod timestamp;
mod trailer;
mod value;
mod write;
mod writer_thread;

pub use apply::{ApplyReport, apply, apply_async};
pub use archive::{
    Archive, ArchiveSummary, Unverified, Verified, inspect, verify, verify_with_limits,
};
pub use contents::{Format, Row, SNIFF_BYTES_MAX, sniff};
pub use error::{ExportError, ImportError, ReadError, ReadFault};
pub use export::{ExportReport, default_file_name, export, export_new, temporary_path};
pub use header::{HEADER_BYTES, MAGIC};
pub use holdfast_store::{KeyPart, Set, Table, UnknownSet};
pub use key::Key;
pub use limits::Limits;
pub use manifest::{ConfigFile, Cut, Manifest, NodeId, TableSummary};
pub use node_config::{RestoredConfig, restore_node_config};
pub use plan::{
    ConfigCheck, Mode, PLAN_KEYS_KEPT, Plan, PlanOptions, PlanReport, TableCounts, TablePlan,
    TableReport, plan,
};
pub use source::table_rows;
pub use trailer::{TRAILER_BYTES, checksum_trailer};
pub use write::{CHUNK_BYTES_TARGET, ExportOptions, Progress, Written, write_archive};

/// The holdfast version written into manifests.
pub const BROKER_VERSION: &str = env!("CARGO_PKG_VERSION");
