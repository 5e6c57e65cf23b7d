//! Interrupted exports never leave a file that looks like an archive: a writer that fails
//! halfway, a panic halfway, and a real `SIGKILL` of a process that is exporting.

mod support;

use std::io::{self, Write};
use std::path::Path;
use std::process::Command as Process;
use std::time::Duration;

use holdfast_backup::{
    Archive, ExportError, ExportOptions, Format, ReadFault, Set, export, temporary_path, verify,
    write_archive,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{bulk_commands, commit, dump, open_store};

/// Accepts `left` bytes, then fails like a full disk.
struct FailingWriter {
    written: Vec<u8>,
    left: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"));
        }
        let n = buf.len().min(self.left);
        self.written.extend_from_slice(&buf[..n]);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_failing_halfway_leaves_bytes_that_never_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    commit(&store, bulk_commands(2000));
    let full = {
        let snapshot = store.snapshot().expect("snapshot");
        let mut out = Vec::new();
        write_archive(&snapshot, &mut ExportOptions::default(), &mut out).expect("export");
        out
    };
    for format in [Format::Binary, Format::Json] {
        for cut in [0, 5, 19, 20, 100, 4096, full.len() / 2, full.len() - 1] {
            let snapshot = store.snapshot().expect("snapshot");
            let mut w = FailingWriter {
                written: Vec::new(),
                left: cut,
            };
            let mut opts = ExportOptions {
                format,
                ..ExportOptions::default()
            };
            match write_archive(&snapshot, &mut opts, &mut w) {
                Err(ExportError::Write(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::StorageFull)
                }
                Err(e) => panic!("cut {cut}: unexpected error {e}"),
                Ok(_) => continue, // the whole archive fitted (JSON is larger)
            }
            let path = dir
                .path()
                .join(format!("partial-{cut}.{}", format.extension()));
            std::fs::write(&path, &w.written).expect("write");
            let e = verify(&path).expect_err("a partial archive verified");
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn an_export_that_panics_halfway_leaves_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    commit(&store, bulk_commands(20_000));
    let path = dir.path().join("x.hfx");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut calls = 0;
        let mut progress = |_| {
            calls += 1;
            if calls == 3 {
                panic!("killed mid-export");
            }
        };
        let opts = ExportOptions {
            progress: Some(&mut progress),
            ..ExportOptions::default()
        };
        export(&store, opts, &path)
    }));
    assert!(result.is_err(), "the export should have panicked");
    assert!(!path.exists(), "a half archive was renamed into place");
    assert!(
        !temporary_path(&path).exists(),
        "the temporary file was left"
    );
}

#[test]
fn temporary_files_are_refused_by_name_and_by_content_and_exports_never_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    commit(&store, bulk_commands(100));
    let path = dir.path().join("x.hfx");
    // An existing temporary file may be another export's in progress: it is never deleted
    // or written to (`holdfast start` removes those of killed exports from the backup dir).
    std::fs::write(temporary_path(&path), b"stale").expect("write");
    let e = export(&store, ExportOptions::default(), &path).expect_err("took the .tmp");
    assert!(e.to_string().contains("another export"), "{e}");
    assert_eq!(
        std::fs::read(temporary_path(&path)).expect("read"),
        b"stale"
    );
    std::fs::remove_file(temporary_path(&path)).expect("remove");
    let report = export(&store, ExportOptions::default(), &path).expect("export");
    assert!(!temporary_path(&path).exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "archives hold password hashes");
    }
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(bytes.len() as u64, report.archive_bytes);

    // A complete archive under its temporary name is still refused.
    std::fs::write(temporary_path(&path), &bytes).expect("write");
    let e = verify(&temporary_path(&path)).expect_err("a .tmp verified");
    assert!(matches!(e.fault, ReadFault::TemporaryFile), "{e}");
    assert!(e.to_string().contains("did not finish"), "{e}");
    let e = Archive::open(&temporary_path(&path)).expect_err("a .tmp opened");
    assert!(matches!(e.fault, ReadFault::TemporaryFile), "{e}");

    let e = export(&store, ExportOptions::default(), &path).expect_err("overwrote");
    assert!(matches!(e, ExportError::Exists(_)), "{e}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

const CHILD_DIR: &str = "HOLDFAST_BACKUP_KILL_TEST_DIR";

/// In the child process (re-run of `a_killed_export_leaves_no_valid_looking_file` with
/// `CHILD_DIR` set): export the store in that directory over and over until killed.
fn exports_until_killed(dir: &Path) -> ! {
    let store = open_store(&dir.join("s.redb"));
    let mut i = 0u64;
    loop {
        let opts = ExportOptions {
            overwrite: true,
            ..ExportOptions::default()
        };
        export(&store, opts, &dir.join(format!("x{}.hfx", i % 2))).expect("export");
        i += 1;
    }
}

fn child(dir: &Path) -> std::process::Child {
    Process::new(std::env::current_exe().expect("test binary"))
        .args([
            "a_killed_export_leaves_no_valid_looking_file",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child")
}

#[test]
fn a_killed_export_leaves_no_valid_looking_file() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        exports_until_killed(Path::new(&dir));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("s.redb");
    let before = {
        let store = open_store(&db);
        commit(&store, bulk_commands(5_000));
        let d = dump(&store, &Set::ALL);
        store.close().expect("close");
        d
    };
    let mut rng = StdRng::seed_from_u64(9);
    let (mut tmp_seen, mut done_seen) = (0, 0);
    for run in 0..12 {
        let mut c = child(dir.path());
        std::thread::sleep(Duration::from_millis(rng.random_range(20..1000)));
        c.kill().expect("SIGKILL");
        c.wait().expect("reap");
        for entry in std::fs::read_dir(dir.path()).expect("ls") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".hfx") {
                // Renamed into place only once complete.
                verify(&path).unwrap_or_else(|e| panic!("run {run}: {e}"));
                done_seen += 1;
            } else if name.ends_with(".hfx.tmp") {
                tmp_seen += 1;
                verify(&path).expect_err("a .tmp verified");
            }
        }
    }
    // The source store is never harmed: it opens cleanly with the same contents.
    let store = open_store(&db);
    assert_eq!(dump(&store, &Set::ALL), before);
    eprintln!(
        "killed 12 exporting processes: {tmp_seen} unfinished .tmp files refused, \
         {done_seen} finished archives verified"
    );
}
