//! Throughput figures (a `harness = false` bench):
//!
//! ```sh
//! cargo bench -p holdfast-backup --bench throughput
//! HOLDFAST_BENCH_MESSAGES=500000 cargo bench -p holdfast-backup --bench throughput
//! ```
//!
//! Under `cargo test` (no `--bench` argument) it runs once on a small store as a smoke check
//! that the benchmark still works; only `cargo bench` produces figures.
//!
//! A store with N retained messages and N queued deliveries (~100-byte payloads) over N/100
//! sessions is exported (binary and JSON), verified, and imported into an empty store. For
//! comparison, the store file is put through `tar | zstd -3` in-process (the tar and zstd
//! crates, one thread). Export and verify times are the best of three runs.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::time::Instant;

use holdfast_backup::{
    Archive, ExportOptions, Format, Mode, PlanOptions, Set, apply, export, plan, verify,
};
use support::{bulk_commands, commit, dump, open_store};

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: u64 = match std::env::var("HOLDFAST_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) if bench => n,
        _ if bench => 50_000,
        _ => 500,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("src.redb");
    let store = open_store(&db);
    commit(&store, bulk_commands(n));
    store.flush().wait_blocking().expect("flush");
    let db_bytes = std::fs::metadata(&db).expect("meta").len();

    let mut lines = vec![];
    for format in [Format::Binary, Format::Json] {
        let path = dir.path().join(format!("x.{}", format.extension()));
        // Best of three: the machine is shared.
        let mut export_s = f64::MAX;
        let mut report = None;
        for _ in 0..3 {
            let t = Instant::now();
            let r = export(
                &store,
                ExportOptions {
                    format,
                    overwrite: true,
                    ..ExportOptions::default()
                },
                &path,
            )
            .expect("export");
            export_s = export_s.min(secs(t));
            report = Some(r);
        }
        let report = report.expect("exported");
        let records = report.manifest.records_total();
        let raw: u64 = report.manifest.tables.iter().map(|t| t.bytes).sum();

        let mut verify_s = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            verify(&path).expect("verify");
            verify_s = verify_s.min(secs(t));
        }

        let t = Instant::now();
        let archive = Archive::open(&path)
            .expect("open")
            .verify()
            .expect("verify");
        let target = open_store(&dir.path().join(format!("dst-{}.redb", format.extension())));
        let snapshot = target.snapshot().expect("snapshot");
        let p = plan(
            &archive,
            &snapshot,
            &PlanOptions {
                mode: Mode::Replace,
                ..PlanOptions::default()
            },
        )
        .expect("plan");
        drop(snapshot);
        apply(p, &target).expect("apply");
        target.flush().wait_blocking().expect("flush");
        let import_s = secs(t);
        assert_eq!(
            dump(&target, &Set::ALL)
                .values()
                .map(Vec::len)
                .sum::<usize>() as u64,
            records
        );

        let mb = |bytes: u64, s: f64| bytes as f64 / s / 1e6;
        lines.push(format!(
            "{format:?}: {records} records, {:.1} MB of records, archive {:.1} MB | export {export_s:.2} s \
             ({:.0} rec/s, {:.0} MB/s) | verify {verify_s:.2} s ({:.0} rec/s) | import (verify + plan + \
             one batch + fsync) {import_s:.2} s ({:.0} rec/s)",
            raw as f64 / 1e6,
            report.archive_bytes as f64 / 1e6,
            records as f64 / export_s,
            mb(raw, export_s),
            records as f64 / verify_s,
            records as f64 / import_s,
        ));
    }

    // The same store file through tar | zstd -3, best of three.
    let mut tar_s = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let out = std::fs::File::create(dir.path().join("datadir.tar.zst")).expect("create");
        let enc = zstd::stream::write::Encoder::new(out, 3).expect("zstd");
        let mut tar = tar::Builder::new(enc);
        tar.append_path_with_name(&db, "holdfast.redb")
            .expect("tar");
        let enc = tar.into_inner().expect("tar");
        let mut out = enc.finish().expect("zstd");
        out.flush().expect("flush");
        out.sync_all().expect("fsync");
        tar_s = tar_s.min(secs(t));
    }
    let tar_bytes = std::fs::metadata(dir.path().join("datadir.tar.zst"))
        .expect("meta")
        .len();
    lines.push(format!(
        "tar | zstd -3 of the {:.1} MB store file: {tar_s:.2} s, {:.1} MB",
        db_bytes as f64 / 1e6,
        tar_bytes as f64 / 1e6
    ));
    for l in lines {
        eprintln!("{l}");
    }
}
