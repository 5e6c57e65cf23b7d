//! Damaged archives: random byte flips and truncations (deterministic seed, hundreds of
//! cases) are refused by `verify` and by import with a clear message, and the target store is
//! left unchanged. For a small binary archive, every single-bit flip and every truncation is
//! tried, and the checksum trailer is checked on its own: missing, wrong, followed by bytes.

mod support;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use holdfast_backup::{
    Archive, ExportOptions, Format, HEADER_BYTES, Mode, PlanOptions, ReadError, ReadFault, Set,
    TRAILER_BYTES, apply, checksum_trailer, export, plan, verify,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{bulk_commands, commit, dump, open_store, sample_commands};

const SEED: u64 = 0x401d_fa57;

/// Try the whole import path; it must fail before anything is applied.
fn import(path: &Path, target: &holdfast_store::Store) -> Result<(), ReadError> {
    let archive = Archive::open(path)?.verify()?;
    // Reaching here means the damage went unnoticed: apply so the test sees the store change.
    let snapshot = target.snapshot().expect("snapshot");
    let opts = PlanOptions {
        mode: Mode::Replace,
        ..PlanOptions::default()
    };
    let plan = plan(&archive, &snapshot, &opts).expect("plan");
    drop(snapshot);
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
        ReadFault::Checksum(_) => "checksum",
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

/// `bytes` as file `name`, through `verify` (the read of `holdfast ctl data verify` and
/// `inspect`).
fn verify_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ReadError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write case");
    verify(&path).map(|_| ())
}

/// A small binary archive (the sample store, about 2 KiB) and where its trailer starts.
fn small_binary(dir: &Path) -> (Vec<u8>, usize) {
    let src = open_store(&dir.join("src.redb"));
    commit(&src, sample_commands());
    let good = archive_bytes(&src, dir, Format::Binary);
    let trailer_at = good.len() - TRAILER_BYTES;
    assert_eq!(
        good[trailer_at..],
        checksum_trailer(&good[..trailer_at]),
        "the archive ends with the trailer over every byte before it"
    );
    (good, trailer_at)
}

/// What flipping some bits of an archive, one at a time, came to.
#[derive(Default)]
struct Flips {
    tried: usize,
    /// Bits whose flip verified: must stay empty.
    accepted: Vec<usize>,
    kinds: BTreeMap<&'static str, u32>,
    /// Flips of the header and data frame that only the trailer caught: zstd's and the
    /// manifest's checksums cover decoded content, and these left it unchanged.
    only_the_trailer: Vec<usize>,
}

impl Flips {
    /// Flip each bit of `bits` in `good` alone and `verify` the result, as file `name`.
    fn run(dir: &Path, name: &str, good: &[u8], trailer_at: usize, bits: Range<usize>) -> Flips {
        let mut flips = Flips::default();
        for bit in bits {
            let mut bad = good.to_vec();
            bad[bit / 8] ^= 1 << (bit % 8);
            flips.tried += 1;
            let e = match verify_bytes(dir, name, &bad) {
                Ok(()) => {
                    flips.accepted.push(bit);
                    continue;
                }
                Err(e) => e,
            };
            *flips.kinds.entry(kind(&e)).or_default() += 1;
            if bit / 8 < trailer_at && matches!(e.fault, ReadFault::Checksum(_)) {
                // The read of import refuses them too, for the same reason.
                let e = Archive::from_bytes(name, bad)
                    .and_then(Archive::verify)
                    .map(|_| ())
                    .expect_err("import's read accepted a flip that verify refused");
                assert!(matches!(e.fault, ReadFault::Checksum(_)), "{e}");
                flips.only_the_trailer.push(bit);
            }
        }
        flips
    }

    fn merge(mut self, other: Flips) -> Flips {
        self.tried += other.tried;
        self.accepted.extend(other.accepted);
        for (k, n) in other.kinds {
            *self.kinds.entry(k).or_default() += n;
        }
        self.only_the_trailer.extend(other.only_the_trailer);
        self
    }
}

#[test]
fn every_single_bit_flip_and_every_truncation_of_a_small_archive_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (good, trailer_at) = small_binary(dir.path());
    let started = std::time::Instant::now();

    // Every bit, split among the cores (each case is independent).
    let bits = good.len() * 8;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = bits.div_ceil(threads);
    let flips = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (dir, good) = (dir.path(), &good[..]);
                let bits = t * per_thread..((t + 1) * per_thread).min(bits);
                s.spawn(move || Flips::run(dir, &format!("flip-{t}.hfx"), good, trailer_at, bits))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a flip worker panicked"))
            .fold(Flips::default(), Flips::merge)
    });
    let mut cuts_accepted = Vec::new();
    for len in 0..good.len() {
        if verify_bytes(dir.path(), "cut.hfx", &good[..len]).is_ok() {
            cuts_accepted.push(len);
        }
    }
    let mut only_the_trailer = flips.only_the_trailer;
    only_the_trailer.sort_unstable();
    eprintln!(
        "{} bytes: {} bit flips, {} accepted; {} truncations, {} accepted; refusals by kind: \
         {:?}; {} flips before the trailer caught only by it (bits {:?}); {:?}",
        good.len(),
        flips.tried,
        flips.accepted.len(),
        good.len(),
        cuts_accepted.len(),
        flips.kinds,
        only_the_trailer.len(),
        only_the_trailer,
        started.elapsed(),
    );
    assert_eq!(flips.tried, bits, "every bit was flipped");
    assert_eq!(
        flips.accepted,
        Vec::<usize>::new(),
        "bit flips that verified"
    );
    assert_eq!(
        flips.kinds.values().sum::<u32>() as usize,
        bits,
        "every flip was refused"
    );
    // The case the trailer exists for is among them: flips of encoding-only bits of the zstd
    // frame (its window descriptor at least) that decode to the same content.
    assert!(
        !only_the_trailer.is_empty(),
        "no flip needed the trailer: the test no longer covers content-neutral flips"
    );
    assert_eq!(
        cuts_accepted,
        Vec::<usize>::new(),
        "truncations that verified"
    );
}

#[test]
fn the_checksum_trailer_is_required_exact_and_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (good, trailer_at) = small_binary(dir.path());
    verify_bytes(dir.path(), "good-again.hfx", &good).expect("the good archive verifies");
    let target = open_store(&dir.path().join("target.redb"));
    commit(&target, sample_commands());
    let before = dump(&target, &Set::ALL);

    // Refused by verify and by import, with the trailer's own message.
    let checksum = |name: &str, bytes: &[u8], says: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write case");
        for e in [
            verify(&path).map(|_| ()).expect_err("verify accepted it"),
            import(&path, &target).expect_err("import accepted it"),
        ] {
            assert!(matches!(e.fault, ReadFault::Checksum(_)), "{name}: {e}");
            assert!(e.to_string().contains(says), "{name}: {e}");
        }
    };

    let mut appended = good.clone();
    appended.extend_from_slice(b"\0extra");
    checksum(
        "appended.hfx",
        &appended,
        &format!(
            "unexpected bytes after the checksum trailer (from byte {})",
            good.len()
        ),
    );
    // Even another, well-formed trailer.
    let mut twice = good.clone();
    twice.extend_from_slice(&good[trailer_at..]);
    checksum(
        "twice.hfx",
        &twice,
        "unexpected bytes after the checksum trailer",
    );

    // A well-formed trailer over other bytes: the hash of a file differing in one byte.
    let mut other = good[..trailer_at].to_vec();
    other[HEADER_BYTES + 4] ^= 0x01;
    let mut wrong = good[..trailer_at].to_vec();
    wrong.extend_from_slice(&checksum_trailer(&other));
    checksum(
        "wrong-hash.hfx",
        &wrong,
        &format!(
            "archive checksum mismatch: the file is damaged (BLAKE3 of bytes 0..{trailer_at} \
             differs from the trailer)"
        ),
    );

    checksum(
        "no-trailer.hfx",
        &good[..trailer_at],
        "the archive ends without its checksum trailer",
    );
    checksum(
        "short-trailer.hfx",
        &good[..good.len() - 1],
        "the checksum trailer is cut short (47 of its 48 bytes)",
    );
    // Bytes between the data frame and the trailer: the trailer is not where it must be.
    let mut between = good[..trailer_at].to_vec();
    between.extend_from_slice(&[0; 8]);
    between.extend_from_slice(&checksum_trailer(&between));
    checksum("between.hfx", &between, &format!("bytes {trailer_at}.."));
    assert_eq!(dump(&target, &Set::ALL), before, "the target store changed");
}

#[test]
fn standard_zstd_still_reads_the_body_and_skips_the_trailer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (good, trailer_at) = small_binary(dir.path());
    // What `tail -c +21 x.hfx | zstd -dc` does: every frame decoded, skippable ones skipped.
    let with_trailer = zstd::decode_all(&good[HEADER_BYTES..]).expect("zstd reads the body");
    let without = zstd::decode_all(&good[HEADER_BYTES..trailer_at]).expect("the data frame");
    assert_eq!(with_trailer, without);
    let mut tar = tar::Archive::new(&with_trailer[..]);
    let names: Vec<String> = tar
        .entries()
        .expect("a tar")
        .map(|e| String::from_utf8(e.expect("entry").path_bytes().into_owned()).expect("utf-8"))
        .collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some("tables/cluster_config/000000.rec")
    );
    assert_eq!(names.last().map(String::as_str), Some("MANIFEST.json"));
}
