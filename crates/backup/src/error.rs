//! Errors of reading, exporting and importing. Each message says what failed, on what, and
//! what to do about it.

use std::io;
use std::path::PathBuf;

use holdfast_store::StoreError;
use holdfast_store::{Set, Table};

/// An archive could not be read, or failed verification.
#[derive(Debug, thiserror::Error)]
#[error("archive {origin}: {fault}")]
pub struct ReadError {
    /// The file (or `<memory>`) that was read.
    pub origin: String,
    pub fault: ReadFault,
}

/// What was wrong with an archive.
#[derive(Debug, thiserror::Error)]
pub enum ReadFault {
    #[error("cannot read it: {0}")]
    Io(io::Error),
    #[error(
        "it is the temporary file of an export that did not finish (its name ends in .tmp), \
         not an archive; use the finished file, or export again"
    )]
    TemporaryFile,
    #[error(
        "it is not a holdfast archive: it starts neither with the archive magic \
         (89 48 46 58 0D 0A 1A 0A) nor with '{{' (a JSON archive); check the file name"
    )]
    NotAnArchive,
    #[error("its header is corrupt ({0}); the file is damaged, use another copy")]
    CorruptHeader(String),
    #[error(
        "it is archive format version {found}, and this holdfast ({broker_version}) reads up \
         to version {supported}; import it with a newer holdfast",
        broker_version = crate::BROKER_VERSION
    )]
    TooNew { found: u32, supported: u32 },
    #[error(
        "it is archive format version {found}, which this holdfast cannot convert (it reads \
         versions {known}); convert it with the holdfast release that wrote it"
    )]
    NoConverter { found: u32, known: String },
    #[error(
        "it uses features this holdfast does not know (header flags {0:#010x}, for example \
         encryption); read it with a newer holdfast"
    )]
    UnknownFlags(u32),
    /// The whole-file checksum trailer of a binary archive is missing, malformed or does not
    /// match the bytes before it, or bytes follow it.
    #[error("{0}; use another copy")]
    Checksum(String),
    #[error("entry {entry}: {reason} (the archive is corrupt or truncated; use another copy)")]
    Corrupt { entry: String, reason: String },
    #[error(
        "refused entry {entry:?}: {reason} (holdfast never writes such an entry: the file was \
         not made by holdfast or was tampered with; nothing was written anywhere)"
    )]
    Hostile { entry: String, reason: String },
    #[error(
        "entry {entry}: {found} is over {limit} = {max}; if you trust this archive, raise \
         {limit}"
    )]
    Limit {
        entry: String,
        limit: &'static str,
        found: u64,
        max: u64,
    },
}

impl ReadFault {
    pub(crate) fn corrupt(entry: impl Into<String>, reason: impl Into<String>) -> ReadFault {
        ReadFault::Corrupt {
            entry: entry.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn hostile(entry: impl Into<String>, reason: impl Into<String>) -> ReadFault {
        ReadFault::Hostile {
            entry: entry.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn limit(
        entry: impl Into<String>,
        limit: &'static str,
        found: u64,
        max: u64,
    ) -> ReadFault {
        ReadFault::Limit {
            entry: entry.into(),
            limit,
            found,
            max,
        }
    }
}

/// An export failed. No file that looks like a finished archive is left behind.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read the store for export: {0}")]
    Store(#[from] StoreError),
    #[error(
        "cannot {action} {path}: {source} (check the directory exists, is writable and has space)"
    )]
    File {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{0} already exists; choose another file name or remove it (exports never overwrite)")]
    Exists(PathBuf),
    #[error("writing the archive failed: {0}; no finished archive was left behind")]
    Write(io::Error),
    #[error(
        "store table {table}, key {key}: {reason}; this holdfast cannot read that record, so \
         the export stopped (the store may be damaged: check it with an older backup)"
    )]
    BadStoreRecord {
        table: Table,
        key: String,
        reason: String,
    },
    #[error(
        "the archive would exceed {limit} = {max} (it reached {found}); raise it for the export \
         and for the import alike"
    )]
    Limit {
        limit: &'static str,
        found: u64,
        max: u64,
    },
    #[error("invalid export option: {0}")]
    Option(String),
    #[error("internal error while exporting: {0}; please report it")]
    Internal(String),
}

/// An import could not be planned or applied. The target store is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read or write the target store: {0}; nothing was imported")]
    Store(#[from] StoreError),
    #[error("the archive holds no {set} set (it holds: {available}); choose among those")]
    SetNotInArchive { set: Set, available: String },
    #[error("config file {name} in the archive is invalid: {reason}; nothing was imported")]
    Config { name: String, reason: String },
    #[error("archive record {table} {key}: {reason}; nothing was imported")]
    Record {
        table: Table,
        key: String,
        reason: String,
    },
    #[error("cannot restore the node config to {path}: {source}")]
    RestoreConfig { path: PathBuf, source: io::Error },
}
