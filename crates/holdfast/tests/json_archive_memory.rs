//! A JSON archive is read as a stream: `holdfast ctl data verify` checks a JSON export in a
//! resident set of a few MB, whatever the file's size, because each record is checked,
//! framed, tallied and dropped as it is read (`docs/backup.md` §Limits). A reader that held
//! the document would need many times the file's size. The verify runs as a child process;
//! its peak resident set (VmHWM) is sampled from `/proc` until it exits.
//!
//! `JSON_ARCHIVE_MEMORY_RECORDS=120000` makes a 125 MB archive (the figure in
//! `docs/backup.md`); the default keeps the test to a few seconds. With
//! `JSON_ARCHIVE_MEMORY_KEEP=1` the archive is left in its directory, to measure other
//! builds against the same file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use holdfast_backup::{ExportOptions, Format, export};
use holdfast_store::records::{MessageRecord, RetainedRecord};
use holdfast_store::{Command as StoreCommand, Durability, Store, StoreOptions};

/// Records in the archive (about 1 KB of JSON each), and user properties per record: many
/// small JSON values are what a document tree would multiply most.
const RECORDS: u64 = 20_000;
const PROPERTIES: usize = 48;
const BATCH: u64 = 5_000;

/// The whole verify may use this much resident memory: the process itself (about 10 MB),
/// its buffers and one record at a time. Holding the document took about 15 times the file.
const PEAK_BYTES_MAX: u64 = 40 << 20;

fn records() -> u64 {
    std::env::var("JSON_ARCHIVE_MEMORY_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RECORDS)
}

fn retained(i: u64) -> RetainedRecord {
    let topic = format!("fleet/{}/sensor/{i}", i % 97);
    RetainedRecord {
        msg: MessageRecord {
            topic,
            payload: format!(
                "{{\"reading\":{i},\"unit\":\"kPa\",\"pad\":\"{:064}\"}}",
                i * 7
            )
            .into_bytes(),
            qos: 1,
            retain: true,
            payload_utf8: true,
            content_type: Some("application/json".into()),
            response_topic: None,
            correlation_data: None,
            user_properties: (0..PROPERTIES)
                .map(|p| (format!("k{p}"), format!("v{}", i % 13)))
                .collect(),
            expires_at_ms: None,
        },
        stored_at_ms: 1_700_000_000_000 + i,
    }
}

/// A JSON export of a store of `records` retained messages.
fn write_archive(dir: &Path, records: u64) -> std::path::PathBuf {
    let store = Store::open(
        &dir.join("src.redb"),
        StoreOptions {
            durability: Durability::Periodic {
                interval_ms: 60_000,
            },
            ..StoreOptions::default()
        },
    )
    .expect("store opens");
    for start in (0..records).step_by(BATCH as usize) {
        let batch = (start..(start + BATCH).min(records))
            .map(|i| StoreCommand::PutRetained {
                topic: format!("fleet/{}/sensor/{i}", i % 97),
                rec: retained(i),
            })
            .collect();
        store.submit(batch).wait_blocking().expect("batch commits");
    }
    let path = dir.join("big.json");
    let opts = ExportOptions {
        format: Format::Json,
        ..ExportOptions::default()
    };
    export(&store, opts, &path).expect("export");
    path
}

/// Peak resident set of `pid` so far, in bytes, if it is still running.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[test]
fn verifying_a_large_json_archive_keeps_memory_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let records = records();
    let path = write_archive(dir.path(), records);
    let file_bytes = std::fs::metadata(&path).expect("archive").len();
    assert!(file_bytes > records * 900, "{file_bytes} bytes");
    eprintln!(
        "wrote a {:.1} MB JSON archive in {:.1} s",
        file_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["ctl", "data", "verify"])
        .arg(&path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run holdfast");
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        if let Some(now) = vm_hwm(child.id()) {
            peak = peak.max(now);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed: {stdout}{stderr}");
    assert!(stdout.contains("OK:"), "{stdout}");
    eprintln!(
        "verify of {:.1} MB: peak RSS {:.1} MB, {:.1} s",
        file_bytes as f64 / 1e6,
        peak as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if std::env::var_os("JSON_ARCHIVE_MEMORY_KEEP").is_some() {
        eprintln!("kept {}", path.display());
        let _kept = dir.keep();
    }
    assert!(peak > 0, "no sample of the verify's memory was taken");
    assert!(
        peak < PEAK_BYTES_MAX,
        "verifying a {file_bytes}-byte JSON archive took a peak RSS of {peak} bytes (at most \
         {PEAK_BYTES_MAX} expected: records are read one at a time)"
    );
}
