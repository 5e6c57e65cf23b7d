//! [`ConvertError`]: why a conversion stopped. Each names the input file and, for bad bytes,
//! the offset or record.

use std::path::PathBuf;

/// Why a conversion failed. Nothing is written at the destination when it does.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The input is not what it should be; `at` is an offset or a record name.
    #[error("{file}: {at}: {reason} (the file is damaged or not a {what}; nothing was written)")]
    Corrupt {
        file: String,
        at: String,
        what: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "--strict: {0} record(s) could not be carried (see the report); no archive was written"
    )]
    Strict(usize),
    #[error("cannot build the scratch store: {0}")]
    Store(#[from] holdfast_store::StoreError),
    #[error("cannot write the archive: {0}")]
    Export(#[from] holdfast_backup::ExportError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ConvertError {
    pub(crate) fn corrupt(
        file: &str,
        at: impl std::fmt::Display,
        what: &'static str,
        reason: impl Into<String>,
    ) -> ConvertError {
        ConvertError::Corrupt {
            file: file.to_string(),
            at: at.to_string(),
            what,
            reason: reason.into(),
        }
    }
}
