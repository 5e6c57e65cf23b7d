//! Damaged archives: random byte flips and truncations (deterministic seed, hundreds of
//! cases) are refused by `verify` and by import with a clear message, and the target store is
//! left unchanged.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use holdfast_backup::{
    Archive, ExportOptions, Format, Mode, PlanOptions, ReadError, ReadFault, Set, apply, export,
    plan, verify,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{bulk_commands, commit, dump, open_store, sample_commands};

const SEED: u64 = 0x401d_fa57;

/// Try the whole import path; it must fail before anything is applied.
fn import(path: &Path, target: &holdfast_store::Store) -> Result<(), ReadError> {
    let archive = Archive::open(path)?.verify()?;
    // Reaching here means the damage went unnoticed: apply so the test sees the store change.
    let txn = target.read().expect("read");
    let opts = PlanOptions {
        mode: Mode::Replace,
        ..PlanOptions::default()
    };
    let plan = plan(&archive, &txn, &opts).expect("plan");
    drop(txn);
    apply(plan, target).expect("apply");
    Ok(())
}

fn kind(e: &ReadError) -> &'static str {
    match &e.fault {
        ReadFault::Io(_) => "io",
        ReadFault::TemporaryFile => "temporary file",
        ReadFault::NotAnArchive => "not an archive",
        ReadFault::CorruptHeader(_) => "corrupt header",
        ReadFault::TooNew { .. } => "too new",
        ReadFault::NoConverter { .. } => "no converter",
        ReadFault::UnknownFlags(_) => "unknown flags",
        ReadFault::Corrupt { .. } => "corrupt entry",
        ReadFault::Hostile { .. } => "hostile entry",
        ReadFault::Limit { .. } => "limit",
    }
}

struct Run {
    kinds: BTreeMap<&'static str, u32>,
    /// One message of each kind, to show what users read.
    examples: BTreeMap<&'static str, String>,
    cases: u32,
}

impl Run {
    fn new() -> Self {
        Run {
            kinds: BTreeMap::new(),
            examples: BTreeMap::new(),
            cases: 0,
        }
    }

    /// `bytes` must be refused by verify and by import, with a message naming the file.
    fn refused(&mut self, dir: &Path, name: &str, bytes: &[u8], target: &holdfast_store::Store) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write case");
        let e = verify(&path).expect_err(&format!("{name}: verify accepted a damaged archive"));
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("archive {}: ", path.display())) && msg.len() > 60,
            "{name}: unclear message: {msg}"
        );
        let e2 = import(&path, target).expect_err(&format!("{name}: import accepted it"));
        assert_eq!(kind(&e), kind(&e2), "{name}: verify and import disagree");
        *self.kinds.entry(kind(&e)).or_default() += 1;
        self.examples.entry(kind(&e)).or_insert(msg);
        self.cases += 1;
    }
}

fn archive_bytes(store: &holdfast_store::Store, dir: &Path, format: Format) -> Vec<u8> {
    let path = dir.join(format!("good.{}", format.extension()));
    let opts = ExportOptions {
        format,
        ..ExportOptions::default()
    };
    export(store, opts, &path).expect("export");
    verify(&path).expect("the undamaged archive verifies");
    std::fs::read(&path).expect("read")
}

#[test]
fn flipped_bytes_and_truncations_are_refused_and_the_target_is_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = open_store(&dir.path().join("src.redb"));
    commit(&src, bulk_commands(200));
    let target = open_store(&dir.path().join("target.redb"));
    commit(&target, sample_commands());
    let before = dump(&target, &Set::ALL);
    let good = archive_bytes(&src, dir.path(), Format::Binary);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut run = Run::new();

    for case in 0..300 {
        let mut bad = good.clone();
        for _ in 0..rng.random_range(1..=3) {
            let at = rng.random_range(0..bad.len());
            bad[at] ^= rng.random_range(1..=255u8);
        }
        run.refused(dir.path(), &format!("flip-{case}.hfx"), &bad, &target);
    }
    for case in 0..200 {
        let len = rng.random_range(0..good.len());
        run.refused(
            dir.path(),
            &format!("cut-{case}.hfx"),
            &good[..len],
            &target,
        );
    }
    // Appended garbage.
    let mut long = good.clone();
    long.extend_from_slice(b"\0extra");
    run.refused(dir.path(), "appended.hfx", &long, &target);

    assert_eq!(run.cases, 501);
    assert_eq!(dump(&target, &Set::ALL), before, "the target store changed");
    eprintln!("binary: refusals by kind: {:?}", run.kinds);
    for m in run.examples.values() {
        eprintln!("  e.g. {m}");
    }
}

#[test]
fn damaged_json_archives_are_refused_unless_only_whitespace_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = open_store(&dir.path().join("src.redb"));
    commit(&src, bulk_commands(50));
    let target = open_store(&dir.path().join("target.redb"));
    commit(&target, sample_commands());
    let before = dump(&target, &Set::ALL);
    let good = archive_bytes(&src, dir.path(), Format::Json);
    let reference = Archive::from_bytes("good", good.clone())
        .expect("json")
        .verify()
        .expect("verifies");
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut run = Run::new();
    let mut harmless = 0;

    for case in 0..200 {
        let mut bad = good.clone();
        let at = rng.random_range(0..bad.len());
        bad[at] ^= rng.random_range(1..=255u8);
        let name = format!("flip-{case}.json");
        // A byte of JSON whitespace turned into other whitespace changes nothing that the
        // document says; anything else must be refused.
        let whitespace = |b: u8| b" \n\r\t".contains(&b);
        if whitespace(good[at]) && whitespace(bad[at]) {
            let same = Archive::from_bytes(&name, bad)
                .expect("json")
                .verify()
                .expect("whitespace-only change verifies");
            assert_eq!(same.manifest(), reference.manifest());
            harmless += 1;
            continue;
        }
        run.refused(dir.path(), &name, &bad, &target);
    }
    for case in 0..100 {
        let len = rng.random_range(0..good.len() - 1);
        run.refused(
            dir.path(),
            &format!("cut-{case}.json"),
            &good[..len],
            &target,
        );
    }
    assert!(run.cases >= 290, "{} cases", run.cases);
    assert_eq!(dump(&target, &Set::ALL), before, "the target store changed");
    eprintln!(
        "json: refusals by kind: {:?}; harmless whitespace flips: {harmless}",
        run.kinds
    );
}
