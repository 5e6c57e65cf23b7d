//! Store errors.

use std::path::PathBuf;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store {path}: {source} (is another holdfast using this data dir?)")]
    Open {
        path: PathBuf,
        /// The engine's error, boxed so that its type stays inside the store.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "store {path} has schema version {found}, this holdfast reads up to {supported}; upgrade holdfast"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("store is corrupted: table {table}, key {key}: {reason}")]
    Corrupted {
        table: &'static str,
        key: String,
        reason: String,
    },
    #[error("store engine error: {0}")]
    Engine(String),
    #[error("the store writer has stopped; the broker is shutting down")]
    WriterGone,
    /// A write failed (disk full, I/O error) and the store has not recovered yet: writes are
    /// refused without being attempted until it has.
    #[error(
        "the store cannot write ({0}); durable writes are refused until it recovers (it retries every second)"
    )]
    Unwritable(String),
}

macro_rules! engine_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Engine(e.to_string()) }
        }
    )*};
}
engine_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
