//! The hot snapshot of a node (BACKUP.md §4): a dir holding a consistent copy of the store
//! made while the node serves, the node identity, the bootstrap key file and the node's config
//! file, with a manifest (`SNAPSHOT.json`) giving the size and BLAKE3 of each file.
//!
//! A snapshot is node-bound: it is this node's data dir, identity included, the fast way
//! back for the same node. The portable way between nodes is export/import. It is written by
//! `POST /api/v1/data/snapshot` ([`write_snapshot`]) and checked by `holdfast
//! restore-snapshot` ([`read_verified`]) before anything is restored.
//!
//! The store copy is a new store database filled from one read snapshot
//! (`Store::copy_to`), never a copy of the live file. The manifest is written last, through
//! a temporary file, fsync and rename: a dir without it is an unfinished snapshot.
//!
//! The snapshot runs beside live traffic at nice 19, and both its copy and its hashing yield
//! the CPU every few tens of µs of work (`holdfast_store::courtesy`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use holdfast_backup::timestamp::{now_ms, rfc3339_utc};
use holdfast_store::courtesy::{Courtesy, YIELD_EVERY_BYTES};
use holdfast_store::{CommandLog, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "SNAPSHOT.json";
/// The store copy's file name (the name the data dir uses).
pub const STORE_FILE: &str = "holdfast.redb";
/// The node identity's file name.
pub const IDENTITY_FILE: &str = "node.toml";
/// Where the node's config file goes inside the snapshot.
pub const CONFIG_DIR: &str = "config";
/// `format` of the manifest.
pub const FORMAT: &str = "holdfast-snapshot";
/// The snapshot layout version this holdfast writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Largest manifest read.
const MANIFEST_BYTES_MAX: u64 = 1 << 20;

/// `SNAPSHOT.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotManifest {
    /// Always `holdfast-snapshot`.
    pub format: String,
    pub format_version: u32,
    pub broker_version: String,
    /// The node the snapshot belongs to.
    pub node_id: String,
    pub node_name: String,
    pub created_at_ms: u64,
    pub created_at: String,
    /// Batches the store had committed at the copy's read snapshot.
    pub batch_seq: u64,
    /// Records per table of the store copy (`meta` included).
    pub tables: Vec<SnapshotTable>,
    /// Every file of the snapshot but the manifest.
    pub files: Vec<SnapshotFile>,
}

/// Records of one table of the store copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotTable {
    pub name: String,
    pub records: u64,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotFile {
    /// Path inside the snapshot dir (`holdfast.redb`, `node.toml`, `admin.key`,
    /// `config/<name>`).
    pub path: String,
    pub bytes: u64,
    /// BLAKE3, 64 lowercase hex digits.
    pub blake3: String,
}

/// A snapshot could not be written or does not check out.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot dir {dir}: {reason}")]
    Dir { dir: PathBuf, reason: String },
    #[error("snapshot dir {0} is not empty; snapshots never overwrite: choose a new or empty dir")]
    NotEmpty(PathBuf),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot copy the store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "{0} is not a finished holdfast snapshot: {1}; nothing was restored (take the snapshot \
         again: `holdfast ctl data snapshot -o NEW_DIR`)"
    )]
    Manifest(PathBuf, String),
    #[error(
        "snapshot file {path}: {reason}; the snapshot is damaged or was changed, nothing was \
         restored (use another snapshot, or an export archive)"
    )]
    Damaged { path: String, reason: String },
}

/// What the snapshot is taken of.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotSource<'a> {
    pub store: &'a dyn CommandLog,
    pub data_dir: &'a Path,
    pub config_file: Option<&'a Path>,
    pub node_id: &'a str,
    pub node_name: &'a str,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io {
        action,
        path,
        source,
    }
}

/// Check the target dir: absolute, no `..`, and new (its parent existing) or empty.
/// Creates it (mode 0700) when new.
pub fn prepare_dir(dir: &Path) -> Result<(), SnapshotError> {
    let bad = |reason: &str| SnapshotError::Dir {
        dir: dir.to_path_buf(),
        reason: reason.into(),
    };
    if !dir.is_absolute() || dir.components().any(|c| c == Component::ParentDir) {
        return Err(bad("give an absolute path without '..'"));
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {
            let mut entries = std::fs::read_dir(dir).map_err(io("read", dir))?;
            if entries.next().is_some() {
                return Err(SnapshotError::NotEmpty(dir.to_path_buf()));
            }
            Ok(())
        }
        Ok(_) => Err(bad("it exists and is not a directory")),
        Err(_) => {
            let mut b = std::fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir).map_err(|e| SnapshotError::Dir {
                dir: dir.to_path_buf(),
                reason: format!("cannot create it ({e}); its parent dir must exist"),
            })
        }
    }
}

/// How far a snapshot has got, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotStep {
    /// Copying the store from one read transaction.
    Copying,
    /// The store copy is written: `records` in its tables (`meta` excepted).
    Copied { records: u64 },
    /// Hashing the files for the manifest: `bytes` of `bytes_total`.
    Hashing { bytes: u64, bytes_total: u64 },
}

/// Write a snapshot of `src` into `dir` (new, or empty), telling `progress` how far it got.
///
/// Crash safety: every file is fsynced, then the dirs holding them, and only then is the
/// manifest written (temporary name, fsync, rename, fsync of the dir). Whenever the process
/// dies, the dir either has a `SNAPSHOT.json` whose files are all complete, or none, and
/// [`read_verified`] refuses it as unfinished.
pub fn write_snapshot(
    src: &SnapshotSource<'_>,
    dir: &Path,
    progress: &mut dyn FnMut(SnapshotStep),
) -> Result<SnapshotManifest, SnapshotError> {
    prepare_dir(dir)?;
    // Until done, a failure (or, at the next start, a kill) removes what was written.
    let pending = crate::leftovers::PendingSnapshot::begin(src.data_dir, dir)
        .map_err(io("write the in-progress marker for", dir))?;
    let created_at_ms = now_ms();
    progress(SnapshotStep::Copying);
    let copy = src.store.snapshot()?.copy_to(&dir.join(STORE_FILE))?;
    progress(SnapshotStep::Copied {
        records: copy
            .tables
            .iter()
            .filter(|(name, _)| *name != "meta")
            .map(|(_, n)| n)
            .sum(),
    });
    let mut paths = vec![STORE_FILE.to_string()];
    copy_private(&src.data_dir.join(IDENTITY_FILE), &dir.join(IDENTITY_FILE))?;
    paths.push(IDENTITY_FILE.into());
    let key = src.data_dir.join(crate::bootstrap::KEY_FILE);
    if key.is_file() {
        copy_private(&key, &dir.join(crate::bootstrap::KEY_FILE))?;
        paths.push(crate::bootstrap::KEY_FILE.into());
    }
    if let Some(config) = src.config_file {
        let name = config
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "holdfast.toml".into());
        let config_dir = dir.join(CONFIG_DIR);
        std::fs::create_dir(&config_dir).map_err(io("create", &config_dir))?;
        copy_private(config, &config_dir.join(&name))?;
        paths.push(format!("{CONFIG_DIR}/{name}"));
    }
    let mut bytes_total = 0;
    for p in &paths {
        let path = dir.join(p);
        bytes_total += std::fs::metadata(&path).map_err(io("read", &path))?.len();
    }
    let mut files = Vec::new();
    let mut hashed = 0;
    for p in paths {
        let (bytes, blake3) = hash_file_with(&dir.join(&p), &mut |n| {
            progress(SnapshotStep::Hashing {
                bytes: hashed + n,
                bytes_total,
            });
        })?;
        hashed += bytes;
        files.push(SnapshotFile {
            path: p,
            bytes,
            blake3,
        });
    }
    // The files' names are durable before the manifest that vouches for them.
    if src.config_file.is_some() {
        sync_dir(&dir.join(CONFIG_DIR))?;
    }
    sync_dir(dir)?;
    let manifest = SnapshotManifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        broker_version: holdfast_backup::BROKER_VERSION.into(),
        node_id: src.node_id.into(),
        node_name: src.node_name.into(),
        created_at_ms,
        created_at: rfc3339_utc(created_at_ms),
        batch_seq: copy.batch_seq,
        tables: copy
            .tables
            .iter()
            .map(|(name, records)| SnapshotTable {
                name: (*name).into(),
                records: *records,
            })
            .collect(),
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| SnapshotError::Manifest(dir.to_path_buf(), e.to_string()))?;
    let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
    write_private(&tmp, &text)?;
    std::fs::rename(&tmp, dir.join(MANIFEST_FILE)).map_err(io("rename", &tmp))?;
    sync_dir(dir)?;
    pending.done();
    Ok(manifest)
}

fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))
}

/// Read a snapshot's manifest and check every file it lists (present, size, BLAKE3).
pub fn read_verified(dir: &Path) -> Result<SnapshotManifest, SnapshotError> {
    let path = dir.join(MANIFEST_FILE);
    let bad = |reason: String| SnapshotError::Manifest(dir.to_path_buf(), reason);
    let file = File::open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            bad(format!(
                "it has no {MANIFEST_FILE}, which a snapshot writes last, once every other file \
                 is complete: the snapshot was interrupted (the node stopped or failed while \
                 writing it), or this is not a snapshot dir"
            ))
        } else {
            bad(format!("cannot read {MANIFEST_FILE}: {e}"))
        }
    })?;
    let mut text = Vec::new();
    file.take(MANIFEST_BYTES_MAX)
        .read_to_end(&mut text)
        .map_err(|e| bad(format!("cannot read {MANIFEST_FILE}: {e}")))?;
    let m: SnapshotManifest = serde_json::from_slice(&text)
        .map_err(|e| bad(format!("{MANIFEST_FILE} is invalid: {e}")))?;
    if m.format != FORMAT {
        return Err(bad(format!("its format is {:?}, not {FORMAT:?}", m.format)));
    }
    if m.format_version > FORMAT_VERSION {
        return Err(bad(format!(
            "it is snapshot format version {}, and this holdfast ({}) reads up to version \
             {FORMAT_VERSION}; restore it with a newer holdfast",
            m.format_version,
            holdfast_backup::BROKER_VERSION
        )));
    }
    for required in [STORE_FILE, IDENTITY_FILE] {
        if !m.files.iter().any(|f| f.path == required) {
            return Err(bad(format!("it lists no {required}")));
        }
    }
    for f in &m.files {
        if !allowed_path(&f.path) {
            return Err(SnapshotError::Damaged {
                path: f.path.clone(),
                reason: "holdfast never writes such a path".into(),
            });
        }
        let (bytes, blake3) =
            hash_file(&dir.join(&f.path)).map_err(|e| SnapshotError::Damaged {
                path: f.path.clone(),
                reason: e.to_string(),
            })?;
        if bytes != f.bytes || blake3 != f.blake3 {
            return Err(SnapshotError::Damaged {
                path: f.path.clone(),
                reason: format!(
                    "{bytes} bytes with BLAKE3 {blake3}, but the manifest says {} bytes with \
                     BLAKE3 {}",
                    f.bytes, f.blake3
                ),
            });
        }
    }
    Ok(m)
}

/// The paths a snapshot may list: never absolute, never outside the dir.
fn allowed_path(p: &str) -> bool {
    let name_ok = |n: &str| {
        !n.is_empty()
            && !n.starts_with('.')
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    match p.split_once('/') {
        None => [STORE_FILE, IDENTITY_FILE, crate::bootstrap::KEY_FILE].contains(&p),
        Some((CONFIG_DIR, name)) => name_ok(name),
        Some(_) => false,
    }
}

/// Size and BLAKE3 of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String), SnapshotError> {
    hash_file_with(path, &mut |_| {})
}

/// Bytes hashed between two progress reports.
const HASH_REPORT_BYTES: u64 = 4 << 20;

/// [`hash_file`], telling `hashed` the bytes read so far every few MiB.
fn hash_file_with(
    path: &Path,
    hashed: &mut dyn FnMut(u64),
) -> Result<(u64, String), SnapshotError> {
    let mut f = File::open(path).map_err(io("read", path))?;
    let mut h = blake3::Hasher::new();
    // Slices of the courtesy's size, each followed by a yield: hashing runs beside traffic.
    let mut buf = vec![0u8; YIELD_EVERY_BYTES];
    let mut courtesy = Courtesy::default();
    let mut bytes = 0u64;
    let mut reported = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("read", path)(e)),
        };
        h.update(&buf[..n]);
        courtesy.record(n);
        bytes += n as u64;
        if bytes - reported >= HASH_REPORT_BYTES {
            reported = bytes;
            hashed(bytes);
        }
    }
    hashed(bytes);
    Ok((bytes, h.finalize().to_hex().to_string()))
}

/// Copy `from` to the new file `to` (mode 0600), fsynced.
pub fn copy_private(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let mut src = File::open(from).map_err(io("read", from))?;
    let mut dst = create_private(to)?;
    std::io::copy(&mut src, &mut dst).map_err(io("write", to))?;
    dst.sync_all().map_err(io("fsync", to))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    let _ = std::fs::remove_file(path);
    let mut f = create_private(path)?;
    f.write_all(bytes).map_err(io("write", path))?;
    f.sync_all().map_err(io("fsync", path))
}

fn create_private(path: &Path) -> Result<File, SnapshotError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(io("create", path))
}
