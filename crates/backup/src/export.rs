//! [`export`]: an archive of the store written to a file so that no half-written file ever
//! looks like an archive.
//!
//! The archive is written to `<path>.tmp` (created anew with create-new, mode 0600, so two
//! exports never share one), fsynced, and only then linked (or, with `overwrite`, renamed) to
//! `<path>`, and the directory is fsynced. If the export fails, or panics, the temporary file
//! is removed; if the process is killed, what remains is a `.tmp` file without its manifest,
//! which `verify` and `import` refuse by name and by content, and which `holdfast start`
//! removes from the backup dir. [`export_new`] picks a free name atomically.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

use holdfast_store::CommandLog;
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
///
/// `<path>.tmp` is created anew: if it exists, another export of the same file is running (or
/// one was killed; `holdfast start` removes those from the backup dir), and this one fails
/// rather than touch it. Without `opts.overwrite`, an existing `path` is an error, also when it
/// appears while the export runs (the file is linked into place, never renamed over another).
pub fn export(
    store: &dyn CommandLog,
    opts: ExportOptions<'_>,
    path: &Path,
) -> Result<ExportReport, ExportError> {
    check_file_path(path)?;
    if !opts.overwrite && path.exists() {
        return Err(ExportError::Exists(path.to_path_buf()));
    }
    let tmp = temporary_path(path);
    let file = create_private(&tmp).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => ExportError::Option(format!(
            "{} exists: another export of {} is running, or one was interrupted (remove it if \
             none is running)",
            tmp.display(),
            path.display()
        )),
        _ => ExportError::File {
            action: "create",
            path: tmp.clone(),
            source,
        },
    })?;
    write_and_place(store, opts, path.to_path_buf(), tmp, file, None)
}

/// Export into `dir` under `name`, or `<stem>-<n>.<ext>` when that name is taken, by a file
/// or by another export running at the same moment: names are reserved atomically (the
/// temporary file is created with create-new), so concurrent exports never share one, and
/// each report describes its own file.
pub fn export_new(
    store: &dyn CommandLog,
    opts: ExportOptions<'_>,
    dir: &Path,
    name: &str,
) -> Result<ExportReport, ExportError> {
    let candidates = Candidates::new(dir, name);
    for path in candidates.clone() {
        if path.exists() {
            continue;
        }
        let tmp = temporary_path(&path);
        match create_private(&tmp) {
            Ok(file) => return write_and_place(store, opts, path, tmp, file, Some(candidates)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(ExportError::File {
                    action: "create",
                    path: tmp,
                    source,
                });
            }
        }
    }
    Err(ExportError::Option(format!(
        "no free file name for {name} in {}",
        dir.display()
    )))
}

/// Most `-<n>` suffixes tried for a free export name.
const NAME_SUFFIXES_MAX: u32 = 10_000;

/// `dir/name`, then `dir/<stem>-1.<ext>`, `dir/<stem>-2.<ext>`, ...
#[derive(Clone)]
struct Candidates {
    dir: PathBuf,
    stem: String,
    ext: String,
    next: u32,
}

impl Candidates {
    fn new(dir: &Path, name: &str) -> Candidates {
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
        Candidates {
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            ext: ext.to_string(),
            next: 0,
        }
    }
}

impl Iterator for Candidates {
    type Item = PathBuf;
    fn next(&mut self) -> Option<PathBuf> {
        let n = self.next;
        if n > NAME_SUFFIXES_MAX {
            return None;
        }
        self.next += 1;
        let dot = if self.ext.is_empty() { "" } else { "." };
        Some(match n {
            0 => self.dir.join(format!("{}{dot}{}", self.stem, self.ext)),
            n => self.dir.join(format!("{}-{n}{dot}{}", self.stem, self.ext)),
        })
    }
}

fn check_file_path(path: &Path) -> Result<(), ExportError> {
    if path.file_name().is_none() {
        return Err(ExportError::Option(format!(
            "{} is not a file path",
            path.display()
        )));
    }
    Ok(())
}

/// Write the archive into `file` (at `tmp`), fsync it and put it at `path`. With
/// `free_names`, a `path` that appeared meanwhile makes it take the next free candidate.
fn write_and_place(
    store: &dyn CommandLog,
    mut opts: ExportOptions<'_>,
    mut path: PathBuf,
    tmp: PathBuf,
    file: File,
    free_names: Option<Candidates>,
) -> Result<ExportReport, ExportError> {
    let started = Instant::now();
    let file_err = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| ExportError::File {
            action,
            path: p,
            source,
        }
    };
    let guard = RemoveOnDrop(Some(tmp.clone()));
    let (written, file) = std::thread::scope(|s| {
        // The snapshot is held only while writing.
        let snapshot = store.snapshot()?;
        // The copy into the page cache runs on a thread of its own (`writer_thread`).
        let mut out = WriterThread::new(s, "export-write", file).map_err(ExportError::Write)?;
        let written = write_archive(&snapshot, &mut opts, &mut out)?;
        let file = out.finish().map_err(ExportError::Write)?;
        Ok::<_, ExportError>((written, file))
    })?;
    file.sync_all().map_err(file_err("fsync", &tmp))?;
    drop(file);
    if opts.overwrite {
        std::fs::rename(&tmp, &path).map_err(file_err("rename into place", &path))?;
    } else {
        // A hard link never replaces an existing file, as a rename would.
        let mut names = free_names;
        loop {
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match names.as_mut().and_then(|c| c.find(|p| !p.exists())) {
                        Some(next) => path = next,
                        None => return Err(ExportError::Exists(path)),
                    }
                }
                Err(e) => return Err(file_err("link into place", &path)(e)),
            }
        }
        std::fs::remove_file(&tmp).map_err(file_err("remove", &tmp))?;
    }
    guard.disarm();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(file_err("fsync the directory", dir))?;
    }
    Ok(ExportReport {
        path,
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
