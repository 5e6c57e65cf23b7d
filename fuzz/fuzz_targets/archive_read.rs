//! Arbitrary bytes into the archive reader that `verify` and `import` use: it must accept or
//! refuse, never panic, hang, or allocate beyond its limits. Whatever it accepts must be
//! self-consistent (every table holds the records its manifest promises).
#![no_main]

use holdfast_backup::{Archive, HEADER_BYTES, Limits, MAGIC, checksum_trailer};
use libfuzzer_sys::fuzz_target;

/// Small limits, so that a run explores the limit checks instead of filling memory.
fn limits() -> Limits {
    Limits {
        archive_entry_bytes_max: 1 << 20,
        archive_total_bytes_max: 4 << 20,
        json_archive_bytes_max: 1 << 20,
        archive_records_max: 10_000,
        archive_entries_max: 1_000,
        record_bytes_max: 64 << 10,
        config_file_bytes_max: 64 << 10,
        config_files_max: 4,
        manifest_bytes_max: 64 << 10,
    }
}

/// A valid v1 header followed by `tar` compressed with zstd and the checksum trailer: lets
/// the fuzzer reach the tar and record parsers, which random bytes rarely get past zstd's
/// checksum to, and lets what they accept pass the trailer check.
fn wrapped(tar: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(out.len(), HEADER_BYTES);
    // The format requires the frame's content checksum (the reader refuses a frame without
    // it), so the frame is written as the exporter writes it.
    let mut enc = zstd::Encoder::new(Vec::new(), 1).expect("zstd encoder");
    enc.include_checksum(true).expect("checksum flag");
    std::io::Write::write_all(&mut enc, tar).expect("compressing to memory cannot fail");
    out.extend(enc.finish().expect("compressing to memory cannot fail"));
    let trailer = checksum_trailer(&out);
    out.extend_from_slice(&trailer);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    // Low bit: the input is a whole archive file (binary or JSON), or a tar to wrap.
    let bytes = if mode & 1 == 0 {
        input.to_vec()
    } else {
        wrapped(input)
    };
    let Ok(archive) = Archive::from_bytes("fuzz", bytes) else {
        return;
    };
    if let Ok(verified) = archive.with_limits(limits()).verify() {
        for t in &verified.manifest().tables {
            assert_eq!(verified.rows(t.name).len() as u64, t.records);
        }
    }
});
