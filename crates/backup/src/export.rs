//! [`export`]: an archive of the store written to a file so that no half-written file ever
//! looks like an archive.
//!
//! The archive is written to `<path>.tmp` (created anew, mode 0600), fsynced, and only then
//! renamed to `<path>`, and the directory is fsynced. If the export fails, or panics, the
//! temporary file is removed; if the process is killed, what remains is a `.tmp` file without
//! its manifest, which `verify` and `import` refuse by name and by content.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

use holdfast_store::Store;
use serde::Serialize;

use crate::contents::Format;
use crate::error::ExportError;
use crate::manifest::Manifest;
use crate::timestamp::compact_utc;
use crate::write::{ExportOptions, write_archive};
use crate::writer_thread::WriterThread;

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub path: PathBuf,
    pub format: Format,
    /// Size of the archive file.
    pub archive_bytes: u64,
    pub duration_ms: u64,
    pub manifest: Manifest,
}

/// `holdfast-export-<UTC timestamp>.<hfx|json>`, the default file name of an export.
pub fn default_file_name(created_at_ms: u64, format: Format) -> String {
    format!(
        "holdfast-export-{}.{}",
        compact_utc(created_at_ms),
        format.extension()
    )
}

/// The temporary name an export of `path` is written under.
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Export one consistent cut of `store` to the file `path`.
pub fn export(
    store: &Store,
    mut opts: ExportOptions<'_>,
    path: &Path,
) -> Result<ExportReport, ExportError> {
    let started = Instant::now();
    if path.file_name().is_none() {
        return Err(ExportError::Option(format!(
            "{} is not a file path",
            path.display()
        )));
    }
    if !opts.overwrite && path.exists() {
        return Err(ExportError::Exists(path.to_path_buf()));
    }
    let tmp = temporary_path(path);
    let file_err = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| ExportError::File {
            action,
            path: p,
            source,
        }
    };
    // A `.tmp` left by an interrupted export is never resumed.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err("remove the stale", &tmp)(e)),
    }
    let file = create_private(&tmp).map_err(file_err("create", &tmp))?;
    let guard = RemoveOnDrop(Some(tmp.clone()));

    let (written, file) = std::thread::scope(|s| {
        // The snapshot is held only while writing.
        let txn = store.read()?;
        // The copy into the page cache runs on a thread of its own (`writer_thread`).
        let mut out = WriterThread::new(s, "export-write", file).map_err(ExportError::Write)?;
        let written = write_archive(&txn, &mut opts, &mut out)?;
        let file = out.finish().map_err(ExportError::Write)?;
        Ok::<_, ExportError>((written, file))
    })?;
    file.sync_all().map_err(file_err("fsync", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(file_err("rename into place", path))?;
    guard.disarm();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(file_err("fsync the directory", dir))?;
    }
    Ok(ExportReport {
        path: path.to_path_buf(),
        format: opts.format,
        archive_bytes: written.archive_bytes,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        manifest: written.manifest,
    })
}

/// Create a new file readable and writable by its owner only (archives hold password hashes).
/// `create_new` also refuses to follow a symlink planted at the path.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Removes the temporary file unless the export finished.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            default_file_name(1_774_087_872_000, Format::Binary),
            "holdfast-export-20260321T101112Z.hfx"
        );
        assert_eq!(
            temporary_path(Path::new("/b/x.hfx")),
            PathBuf::from("/b/x.hfx.tmp")
        );
    }
}
