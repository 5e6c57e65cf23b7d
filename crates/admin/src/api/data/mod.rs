//! `/api/v1/data`: backup and restore (BACKUP.md §3-4) on top of `holdfast-backup`.
//!
//! - [`export`]: one consistent cut of the store, written as an archive into the node's
//!   backup dir (`<data_dir>/backup`).
//! - [`files`]: the archives in that dir: list, download, upload, delete.
//! - [`import`]: verify an archive from that dir, plan it (dry run), and apply it as one
//!   batch that the running broker mirrors at once (`Broker::apply_import`).
//! - [`snapshot`]: the node-bound hot copy of the store, identity and config file.
//! - [`jobs`]: export, import and snapshot run as jobs on request (`?async=true`), watched
//!   with `GET /api/v1/data/jobs/{id}` (records and bytes done, then the result).
//!
//! Archives hold password and API-key hashes, so everything here but the listing needs an
//! admin key; the files are created with mode 0600 in a 0700 dir.

pub mod export;
pub mod files;
pub mod import;
pub mod jobs;
pub mod node_config;
pub mod snapshot;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use holdfast_backup::Set;
use holdfast_server::time::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::data_stats::{DataStats, LastSuccess};
use crate::error::ApiError;
use crate::jobs::JobKind;
use crate::state::AppState;

/// The backup dir, inside the data dir.
pub const BACKUP_DIR: &str = "backup";
/// Longest archive file name accepted, in bytes.
pub const FILE_NAME_BYTES_MAX: usize = 128;
/// Suffix of an upload being received (hidden, removed if it fails).
pub const UPLOAD_SUFFIX: &str = ".upload";

/// `<data_dir>/backup`.
pub fn backup_dir(st: &AppState) -> PathBuf {
    st.node.data_dir.join(BACKUP_DIR)
}

/// Create the backup dir (mode 0700) if it is missing.
pub fn ensure_backup_dir(dir: &Path) -> Result<(), ApiError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        ApiError::Internal(format!(
            "cannot create the backup dir {}: {e}",
            dir.display()
        ))
    })
}

/// An archive file name in the backup dir: 1 to 128 characters among `A-Z a-z 0-9 . _ -`,
/// not starting with `.`, without `..`, not a temporary name (`.tmp`, `.upload`). So a name
/// never leaves the backup dir.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let charset = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let ok = (1..=FILE_NAME_BYTES_MAX).contains(&name.len())
        && charset
        && !name.starts_with('.')
        && !name.contains("..")
        && !name.ends_with(".tmp")
        && !name.ends_with(UPLOAD_SUFFIX);
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "invalid archive file name {name:?}: use 1 to {FILE_NAME_BYTES_MAX} characters \
             among A-Z a-z 0-9 . _ - (no '/', no '..', not starting with '.', not ending in \
             .tmp or .upload)"
        )))
    }
}

/// The path of the archive `name` in the backup dir; 404 if there is no such file.
pub fn existing_file(st: &AppState, name: &str) -> Result<PathBuf, ApiError> {
    check_name(name)?;
    let path = backup_dir(st).join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        _ => Err(ApiError::not_found(format!(
            "no archive {name:?} in the backup dir (see GET /api/v1/data/files)"
        ))),
    }
}

/// A JSON request body that must be an object. (Serde would also accept a struct as an
/// array of its fields in order, which the OpenAPI document does not allow.)
pub fn body_object<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad(
            "invalid request body: expected a JSON object",
        ));
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad(format!("invalid request body: {e}")))
}

/// Run blocking work (file I/O, archive reading, store snapshots) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("background task failed: {e}")))?
}

/// Run the data job `work` of `kind` and count its outcome in `stats` (for `/metrics`):
/// a failure, or a success with its duration and the bytes `bytes` finds in its result.
pub async fn counted<T>(
    stats: &DataStats,
    kind: JobKind,
    work: impl Future<Output = Result<T, ApiError>>,
    bytes: impl FnOnce(&T) -> u64,
) -> Result<T, ApiError> {
    let started = Instant::now();
    let result = work.await;
    match &result {
        Ok(r) => stats.succeeded(
            kind,
            LastSuccess {
                finished_at_ms: now_ms(),
                duration_ms: elapsed_ms(started),
                bytes: bytes(r),
            },
        ),
        Err(_) => stats.failed(kind),
    }
    result
}

/// Run `f` on a thread of its own at the lowest CPU priority (nice 19 on Linux; the threads
/// it starts, such as an export's compressing and writing stages, inherit it), so that a long
/// export yields the CPU to client traffic whenever both want it. The thread ends with `f`.
pub async fn background<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let label = name.to_string();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let lowest = thread_priority::ThreadPriority::Min;
            if let Err(e) = thread_priority::set_current_thread_priority(lowest) {
                tracing::debug!(error = ?e, thread = %label, "could not lower the thread's priority");
            }
            let _ = tx.send(f());
        })
        .map_err(|e| ApiError::Internal(format!("cannot start a thread: {e}")))?;
    rx.await
        .map_err(|_| ApiError::Internal(format!("background task {name} failed")))?
}

/// A table set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SetName {
    /// `cluster_config`.
    Config,
    /// `users`, `acl`, `banned`, `api_keys`.
    Auth,
    /// `retained`.
    Retained,
    /// `sessions`, `subscriptions`, `queued`, `inflight`.
    Sessions,
}

impl From<SetName> for Set {
    fn from(s: SetName) -> Set {
        match s {
            SetName::Config => Set::Config,
            SetName::Auth => Set::Auth,
            SetName::Retained => Set::Retained,
            SetName::Sessions => Set::Sessions,
        }
    }
}

/// Sets as the API shows them.
pub fn set_names(sets: &[Set]) -> Vec<String> {
    sets.iter().map(|s| s.name().to_string()).collect()
}

/// The form of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveFormat {
    /// Header, then a zstd-compressed tar (`.hfx`).
    #[default]
    Binary,
    /// One readable JSON document (`.json`).
    Json,
}

impl From<ArchiveFormat> for holdfast_backup::Format {
    fn from(f: ArchiveFormat) -> Self {
        match f {
            ArchiveFormat::Binary => holdfast_backup::Format::Binary,
            ArchiveFormat::Json => holdfast_backup::Format::Json,
        }
    }
}

impl From<holdfast_backup::Format> for ArchiveFormat {
    fn from(f: holdfast_backup::Format) -> Self {
        match f {
            holdfast_backup::Format::Binary => ArchiveFormat::Binary,
            holdfast_backup::Format::Json => ArchiveFormat::Json,
        }
    }
}

/// Records of one table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableCount {
    pub table: String,
    pub set: String,
    pub records: u64,
    /// Bytes of the table's record frames in the archive.
    pub bytes: u64,
}

/// The per-table counts of a manifest.
pub fn table_counts(m: &holdfast_backup::Manifest) -> Vec<TableCount> {
    m.tables
        .iter()
        .map(|t| TableCount {
            table: t.name.name().to_string(),
            set: t.set.name().to_string(),
            records: t.records,
            bytes: t.bytes,
        })
        .collect()
}

/// Milliseconds since `t`.
pub fn elapsed_ms(t: std::time::Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_leave_the_backup_dir() {
        for good in [
            "holdfast-export-20260321T101112Z.hfx",
            "a.json",
            "x_1-2.hfx",
        ] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        let long = "x".repeat(FILE_NAME_BYTES_MAX + 1);
        for bad in [
            "",
            "..",
            "../x.hfx",
            "a/b.hfx",
            "/etc/passwd",
            ".hidden",
            "a..b",
            "x.hfx.tmp",
            "x.hfx.upload",
            "a b",
            "a\\b",
            long.as_str(),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
