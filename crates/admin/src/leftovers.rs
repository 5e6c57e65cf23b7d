//! What interrupted work leaves behind, and its cleanup at start.
//!
//! - An export killed midway leaves `<name>.tmp` in the backup dir; an upload killed midway
//!   leaves a hidden `.<name>.<random>.upload` there. Neither is ever an archive (their names
//!   and contents are refused), and no other process writes the backup dir while the node holds
//!   its data-dir lock, so `holdfast start` removes them.
//! - A hot snapshot writes into a dir that was empty (or new) when it began. While it runs, a
//!   marker `<data_dir>/snapshots-pending/<n>` names that dir. A snapshot that fails removes
//!   what it wrote; one killed midway leaves the marker, and at start a dir it names that has
//!   no `SNAPSHOT.json` (the manifest is written last) is emptied again.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::api::data::{BACKUP_DIR, UPLOAD_SUFFIX};
use crate::snapshot::MANIFEST_FILE;

/// Dir of the markers of snapshots in progress, inside the data dir.
pub const PENDING_DIR: &str = "snapshots-pending";

/// Remove leftovers of interrupted exports, uploads and snapshots; returns what was removed.
pub fn clean(data_dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    if let Ok(entries) = std::fs::read_dir(data_dir.join(BACKUP_DIR)) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let leftover = name.ends_with(".tmp") || name.ends_with(UPLOAD_SUFFIX);
            if leftover
                && e.file_type().is_ok_and(|t| t.is_file())
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed.push(e.path());
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(data_dir.join(PENDING_DIR)) {
        for e in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let dir = PathBuf::from(text.trim());
            if dir.is_absolute() && !dir.join(MANIFEST_FILE).exists() {
                removed.extend(empty_dir(&dir));
            }
            let _ = std::fs::remove_file(e.path());
        }
    }
    removed
}

/// Remove everything inside `dir` (not following symbolic links); what was removed.
fn empty_dir(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let gone = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p).is_ok(),
                Ok(_) => std::fs::remove_file(&p).is_ok(),
                Err(_) => false,
            };
            if gone {
                removed.push(p);
            }
        }
    }
    removed
}

/// A snapshot in progress into `dir`: its marker exists until [`PendingSnapshot::done`]; if
/// dropped before that (the snapshot failed), what it wrote in `dir` is removed too.
pub struct PendingSnapshot {
    marker: Option<PathBuf>,
    dir: PathBuf,
}

impl PendingSnapshot {
    /// Write the marker for a snapshot into `dir` (an empty or new dir).
    pub fn begin(data_dir: &Path, dir: &Path) -> std::io::Result<PendingSnapshot> {
        let pending = data_dir.join(PENDING_DIR);
        std::fs::create_dir_all(&pending)?;
        let marker = pending.join(format!("{:016x}", rand::random::<u64>()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)?;
        f.write_all(dir.as_os_str().as_encoded_bytes())?;
        f.sync_all()?;
        Ok(PendingSnapshot {
            marker: Some(marker),
            dir: dir.to_path_buf(),
        })
    }

    /// The snapshot is complete: forget the marker, keep the files.
    pub fn done(mut self) {
        if let Some(m) = self.marker.take() {
            let _ = std::fs::remove_file(m);
        }
    }
}

impl Drop for PendingSnapshot {
    fn drop(&mut self) {
        if let Some(m) = self.marker.take() {
            empty_dir(&self.dir);
            let _ = std::fs::remove_file(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_tmp_uploads_and_unfinished_snapshots_only() {
        let t = tempfile::tempdir().expect("tmp");
        let data = t.path().join("data");
        let backup = data.join(BACKUP_DIR);
        std::fs::create_dir_all(&backup).expect("mkdir");
        for f in ["a.hfx", "a.hfx.tmp", ".b.hfx.1234.upload", "c.json"] {
            std::fs::write(backup.join(f), b"x").expect("write");
        }
        let unfinished = t.path().join("snap1");
        let finished = t.path().join("snap2");
        for d in [&unfinished, &finished] {
            std::fs::create_dir_all(d.join("config")).expect("mkdir");
            std::fs::write(d.join("holdfast.redb"), b"x").expect("write");
        }
        std::fs::write(finished.join(MANIFEST_FILE), b"{}").expect("write");
        PendingSnapshot::begin(&data, &unfinished)
            .map(std::mem::forget)
            .expect("marker");
        PendingSnapshot::begin(&data, &finished)
            .map(std::mem::forget)
            .expect("marker");
        let removed = clean(&data);
        assert_eq!(removed.len(), 4, "{removed:?}");
        assert!(backup.join("a.hfx").exists() && backup.join("c.json").exists());
        assert!(!backup.join("a.hfx.tmp").exists());
        assert_eq!(std::fs::read_dir(&unfinished).expect("dir").count(), 0);
        assert!(finished.join("holdfast.redb").exists());
        assert_eq!(
            std::fs::read_dir(data.join(PENDING_DIR))
                .expect("dir")
                .count(),
            0
        );
    }
}
