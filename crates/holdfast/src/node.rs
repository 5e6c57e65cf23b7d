//! Node identity and the data-dir lock.
//!
//! The identity (`<data_dir>/node.toml`: a random node id and a node name defaulting to
//! `holdfast@<hostname>`) is generated on first start and read back on every later start, so
//! a node moved to a new hostname or IP keeps its identity and all its data. The lock
//! (`<data_dir>/LOCK`, an OS file lock held for the life of the process) makes sure that two
//! nodes never share one data dir.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// File holding the identity (the name snapshots use too).
pub const IDENTITY_FILE: &str = holdfast_admin::snapshot::IDENTITY_FILE;
/// Lock file.
pub const LOCK_FILE: &str = "LOCK";

/// Who this node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeIdentity {
    /// Random, generated once: 32 hex digits.
    pub id: String,
    /// Human name; defaults to `holdfast@<hostname at first start>`.
    pub name: String,
    /// Unix milliseconds of the first start.
    pub created_at_ms: u64,
}

impl NodeIdentity {
    /// A new identity: a random id, named after this machine.
    pub fn generate() -> NodeIdentity {
        let host = hostname();
        let bytes: [u8; 16] = rand::random();
        let id = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let created_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        NodeIdentity {
            id,
            name: format!("holdfast@{host}"),
            created_at_ms,
        }
    }
}

/// The machine's hostname (for the default node name only).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Read the identity kept in `data_dir`, creating it on first start.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<(NodeIdentity, bool)> {
    if let Some(id) = read_identity(data_dir)? {
        return Ok((id, false));
    }
    let id = NodeIdentity::generate();
    write_identity(data_dir, &id)?;
    Ok((id, true))
}

/// Write the identity atomically (temp file, fsync, rename).
pub fn write_identity(data_dir: &Path, id: &NodeIdentity) -> anyhow::Result<()> {
    let path = data_dir.join(IDENTITY_FILE);
    let tmp = data_dir.join(format!("{IDENTITY_FILE}.tmp"));
    let text = format!(
        "# This node's identity. Generated once; do not copy it to another node.\n{}",
        toml::to_string(id).context("encode node identity")?
    );
    let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Read the identity kept in `data_dir`, if there is one.
pub fn read_identity(data_dir: &Path) -> anyhow::Result<Option<NodeIdentity>> {
    let path = data_dir.join(IDENTITY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read node identity {}", path.display()))?;
    let id = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "node identity {} is damaged: {e} (restore it from a snapshot)",
            path.display()
        )
    })?;
    Ok(Some(id))
}

/// Holds the data-dir lock while alive.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Take the exclusive lock on `data_dir`, or fail saying who holds it.
pub fn lock(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    let path = data_dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "data dir {} is already in use by another holdfast ({}). Two nodes must never \
                 share one data dir: stop the other process or use another --data-dir",
                data_dir.display(),
                holder.trim()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    writeln!(file, "pid {}", std::process::id())?;
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, created) = load_or_create(dir.path()).expect("create");
        assert!(created);
        assert_eq!(a.id.len(), 32);
        assert!(a.name.starts_with("holdfast@"));
        let (b, created) = load_or_create(dir.path()).expect("read");
        assert!(!created);
        assert_eq!(a, b);
    }

    #[test]
    fn second_lock_on_one_dir_fails_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _held = lock(dir.path()).expect("first lock");
        let err = lock(dir.path()).expect_err("second lock fails").to_string();
        assert!(err.contains("already in use by another holdfast"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
    }
}
