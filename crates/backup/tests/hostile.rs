//! Hostile archives: entries holdfast never writes (paths out of the archive, absolute paths,
//! links, PAX and GNU extension headers, duplicates, unknown names), oversize entries,
//! decompression bombs, newer versions, frames after the data frame. Each is refused with a
//! message naming the entry, and an import never starts.

mod support;

use std::io::{Read, Write};

use holdfast_backup::{
    Archive, ExportOptions, Format, Limits, MAGIC, ReadError, ReadFault, Set, TRAILER_BYTES,
    checksum_trailer, export,
};
use support::{commit, dump, open_store, sample_commands};
use tar::EntryType;

/// A binary archive with the given header fields around a zstd-compressed tar of `entries`,
/// ended by its checksum trailer, built from raw headers (so that names the tar crate would
/// refuse can be written).
fn build(version: u32, flags: u32, entries: &[(&[u8], EntryType, &[u8])]) -> Vec<u8> {
    let mut tar_bytes = Vec::new();
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.as_ustar_mut().expect("ustar").name[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_entry_type(*kind);
        h.set_cksum();
        tar_bytes.extend_from_slice(h.as_bytes());
        tar_bytes.extend_from_slice(data);
        tar_bytes.resize(tar_bytes.len().div_ceil(512) * 512, 0);
    }
    tar_bytes.extend_from_slice(&[0; 1024]);
    with_header(version, flags, &compress(&tar_bytes, true))
}

/// One zstd frame of `data`, with or without its content checksum (holdfast always writes
/// it; zstd's own default is without).
fn compress(data: &[u8], checksum: bool) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("zstd");
    enc.include_checksum(checksum).expect("zstd option");
    enc.write_all(data).expect("compress");
    enc.finish().expect("zstd")
}

fn with_header(version: u32, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
    let trailer = checksum_trailer(&out);
    out.extend_from_slice(&trailer);
    out
}

/// The entries of a real archive of the sample store, in order.
fn good_entries() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    commit(&store, sample_commands());
    let path = dir.path().join("good.hfx");
    export(&store, ExportOptions::default(), &path).expect("export");
    let bytes = std::fs::read(&path).expect("read");
    let tar_bytes = zstd::decode_all(&bytes[20..]).expect("unzstd");
    let mut ar = tar::Archive::new(&tar_bytes[..]);
    ar.entries()
        .expect("entries")
        .map(|e| {
            let mut e = e.expect("entry");
            let name = String::from_utf8(e.path_bytes().into_owned()).expect("utf8");
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("data");
            (name, data)
        })
        .collect()
}

fn refused(bytes: Vec<u8>, limits: Limits) -> ReadError {
    Archive::from_bytes("hostile.hfx", bytes)
        .and_then(|a| a.with_limits(limits).verify())
        .map(|_| ())
        .expect_err("a hostile archive was accepted")
}

fn hostile(bytes: Vec<u8>, entry: &str, reason: &str) {
    let e = refused(bytes, Limits::default());
    match &e.fault {
        ReadFault::Hostile {
            entry: got,
            reason: why,
        } => {
            assert_eq!(got, entry, "{e}");
            assert!(why.contains(reason), "{e}");
        }
        _ => panic!("not refused as hostile: {e}"),
    }
}

const FILE: EntryType = EntryType::Regular;

#[test]
fn paths_out_of_the_archive_are_refused() {
    hostile(
        build(1, 0, &[(b"../../etc/cron.d/x", FILE, b"* * * * * root sh")]),
        "../../etc/cron.d/x",
        "climbs out",
    );
    hostile(
        build(1, 0, &[(b"tables/../../x", FILE, b"")]),
        "tables/../../x",
        "climbs out",
    );
    hostile(
        build(1, 0, &[(b"/etc/passwd", FILE, b"root::0:0")]),
        "/etc/passwd",
        "absolute path",
    );
    hostile(
        build(1, 0, &[(b"config/../holdfast.toml", FILE, b"")]),
        "config/../holdfast.toml",
        "climbs out",
    );
}

#[test]
fn links_extension_headers_and_unknown_names_are_refused() {
    for kind in [
        EntryType::Symlink,
        EntryType::Link,
        EntryType::Directory,
        EntryType::Char,
        EntryType::Fifo,
        EntryType::XHeader,
        EntryType::XGlobalHeader,
        EntryType::GNULongName,
        EntryType::GNUSparse,
    ] {
        hostile(
            build(1, 0, &[(b"config/holdfast.toml", kind, b"")]),
            "config/holdfast.toml",
            "entry type",
        );
    }
    for name in [
        &b"tables/users/000000.txt"[..],
        b"tables/meta/000000.rec",
        b"tables/users/0.rec",
        b"config/.hidden",
        b"manifest.json",
        b"README",
    ] {
        let shown = String::from_utf8_lossy(name).into_owned();
        hostile(
            build(1, 0, &[(name, FILE, b"")]),
            &shown,
            "not an entry holdfast writes",
        );
    }
}

#[test]
fn duplicate_entries_are_refused() {
    let toml = b"[node]\n";
    hostile(
        build(
            1,
            0,
            &[
                (b"config/holdfast.toml", FILE, toml),
                (b"config/holdfast.toml", FILE, toml),
            ],
        ),
        "config/holdfast.toml",
        "duplicate entry",
    );
    // A duplicate of a real archive's manifest, after it.
    let good = good_entries();
    let mut entries: Vec<(&[u8], EntryType, &[u8])> = good
        .iter()
        .map(|(n, d)| (n.as_bytes(), FILE, d.as_slice()))
        .collect();
    let last = entries[entries.len() - 1];
    entries.push(last);
    hostile(build(1, 0, &entries), "MANIFEST.json", "duplicate entry");
}

#[test]
fn oversize_entries_and_bombs_hit_their_limits() {
    let limit = |e: ReadError| match e.fault {
        ReadFault::Limit { limit, .. } => limit,
        _ => panic!("not refused by a limit: {e}"),
    };
    let small = Limits {
        archive_entry_bytes_max: 1000,
        ..Limits::default()
    };
    let big = vec![0u8; 5000];
    let e = refused(
        build(1, 0, &[(b"tables/users/000000.rec", FILE, &big)]),
        small,
    );
    assert!(e.to_string().contains("tables/users/000000.rec"), "{e}");
    assert_eq!(limit(e), "archive_entry_bytes_max");

    // 64 MiB of zeros compress to a few KiB: the decompressed total is bounded.
    let bomb = vec![0u8; 64 << 20];
    let tight = Limits {
        archive_total_bytes_max: 1 << 20,
        config_file_bytes_max: 128 << 20,
        ..Limits::default()
    };
    let bytes = build(1, 0, &[(b"config/x.bin", FILE, &bomb)]);
    assert!(bytes.len() < 64 << 10, "{} bytes", bytes.len());
    assert_eq!(limit(refused(bytes, tight)), "archive_total_bytes_max");

    let e = refused(
        build(1, 0, &[(b"config/x.bin", FILE, &big)]),
        Limits {
            config_file_bytes_max: 100,
            ..Limits::default()
        },
    );
    assert_eq!(limit(e), "config_file_bytes_max");

    // Too many records, too many entries, too large a record.
    let good = good_entries();
    let entries: Vec<(&[u8], EntryType, &[u8])> = good
        .iter()
        .map(|(n, d)| (n.as_bytes(), FILE, d.as_slice()))
        .collect();
    let few = Limits {
        archive_records_max: 5,
        ..Limits::default()
    };
    assert_eq!(
        limit(refused(build(1, 0, &entries), few)),
        "archive_records_max"
    );
    let few = Limits {
        archive_entries_max: 3,
        ..Limits::default()
    };
    assert_eq!(
        limit(refused(build(1, 0, &entries), few)),
        "archive_entries_max"
    );
    let few = Limits {
        record_bytes_max: 20,
        ..Limits::default()
    };
    assert_eq!(
        limit(refused(build(1, 0, &entries), few)),
        "record_bytes_max"
    );
    // The same entries within the default limits are a good archive.
    Archive::from_bytes("rebuilt", build(1, 0, &entries))
        .expect("binary")
        .verify()
        .expect("rebuilt archive verifies");
}

#[test]
fn order_missing_manifest_and_trailing_data_are_corruption() {
    let good = good_entries();
    let all: Vec<(&[u8], EntryType, &[u8])> = good
        .iter()
        .map(|(n, d)| (n.as_bytes(), FILE, d.as_slice()))
        .collect();
    let corrupt = |bytes: Vec<u8>, what: &str| {
        let e = refused(bytes, Limits::default());
        assert!(matches!(e.fault, ReadFault::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    };
    corrupt(build(1, 0, &all[..all.len() - 1]), "MANIFEST.json: missing");
    let mut swapped = all.clone();
    swapped.swap(1, 2);
    corrupt(build(1, 0, &swapped), "must be in archive order");
    let mut after = all.clone();
    after.push((b"config/late.toml", FILE, b""));
    corrupt(build(1, 0, &after), "comes after MANIFEST.json");
    // A second zstd frame after the data frame, even under a matching checksum trailer.
    let mut bytes = build(1, 0, &all);
    bytes.truncate(bytes.len() - TRAILER_BYTES);
    let frame_end = bytes.len();
    bytes.extend_from_slice(&zstd::encode_all(&b"more"[..], 3).expect("zstd"));
    let trailer = checksum_trailer(&bytes);
    bytes.extend_from_slice(&trailer);
    let e = refused(bytes, Limits::default());
    assert!(matches!(e.fault, ReadFault::Checksum(_)), "{e}");
    assert!(
        e.to_string().contains(&format!(
            "bytes {frame_end}..{} are not the checksum trailer",
            frame_end + TRAILER_BYTES
        )),
        "{e}"
    );
    // A chunk whose bytes changed while keeping valid record frames: the table checksum.
    let mut tampered: Vec<(String, Vec<u8>)> = good.clone();
    let users = tampered
        .iter_mut()
        .find(|(n, _)| n == "tables/users/000000.rec")
        .expect("users chunk");
    let mut recs = users.1.clone();
    // Drop the last record frame (bob): every remaining frame is intact.
    let first_len = 12
        + u32::from_le_bytes(recs[0..4].try_into().expect("4")) as usize
        + u32::from_le_bytes(recs[4..8].try_into().expect("4")) as usize;
    recs.truncate(first_len);
    users.1 = recs;
    let entries: Vec<(&[u8], EntryType, &[u8])> = tampered
        .iter()
        .map(|(n, d)| (n.as_bytes(), FILE, d.as_slice()))
        .collect();
    corrupt(build(1, 0, &entries), "tables/users: holds 1 records");
}

#[test]
fn newer_versions_and_unknown_features_are_refused_by_name() {
    let e = refused(build(2, 0, &[]), Limits::default());
    let msg = e.to_string();
    assert!(
        matches!(
            e.fault,
            ReadFault::TooNew {
                found: 2,
                supported: 1
            }
        ) && msg.contains("format version 2")
            && msg.contains("up to version 1"),
        "{msg}"
    );
    let e = refused(build(0, 0, &[]), Limits::default());
    assert!(
        matches!(e.fault, ReadFault::NoConverter { found: 0, .. }),
        "{e}"
    );
    let e = refused(build(1, 1, &[]), Limits::default());
    assert!(matches!(e.fault, ReadFault::UnknownFlags(1)), "{e}");

    let json = br#"{"format": "holdfast-archive", "format_version": 7, "anything": []}"#;
    let e = refused(json.to_vec(), Limits::default());
    assert!(matches!(e.fault, ReadFault::TooNew { found: 7, .. }), "{e}");
}

#[test]
fn hostile_json_config_names_are_refused_and_nothing_is_imported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    commit(&store, sample_commands());
    let path = dir.path().join("a.json");
    let opts = ExportOptions {
        format: Format::Json,
        config_files: vec![holdfast_backup::ConfigFile {
            name: "holdfast.toml".into(),
            bytes: b"[node]\n".to_vec(),
        }],
        ..ExportOptions::default()
    };
    export(&store, opts, &path).expect("export");
    let text = std::fs::read_to_string(&path).expect("read");
    let evil = text.replace(
        "{\"name\": \"holdfast.toml\"",
        "{\"name\": \"../holdfast.toml\"",
    );
    assert_ne!(evil, text);
    let before = dump(&store, &Set::ALL);
    let e = refused(evil.into_bytes(), Limits::default());
    assert!(matches!(e.fault, ReadFault::Hostile { .. }), "{e}");
    assert_eq!(dump(&store, &Set::ALL), before);
}

#[test]
fn a_data_frame_without_its_content_checksum_is_refused() {
    let good = good_entries();
    let entries: Vec<(&[u8], EntryType, &[u8])> = good
        .iter()
        .map(|(n, d)| (n.as_bytes(), FILE, d.as_slice()))
        .collect();
    let with = build(1, 0, &entries);
    Archive::from_bytes("with.hfx", with.clone())
        .expect("binary")
        .verify()
        .expect("the same tar in a frame with its checksum verifies");

    // The same tar in a frame without the checksum flag, under a matching trailer: every
    // other check passes, so only the frame header can refuse it.
    let body = &with[20..with.len() - TRAILER_BYTES];
    let tar_bytes = zstd::decode_all(body).expect("unzstd");
    let without = with_header(1, 0, &compress(&tar_bytes, false));
    assert_eq!(
        without[24] & 0b100,
        0,
        "bit 2 of the frame header descriptor"
    );
    let e = refused(without, Limits::default());
    assert!(matches!(e.fault, ReadFault::Corrupt { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("(compressed body)"), "{msg}");
    assert!(msg.contains("carries no content checksum"), "{msg}");
    assert!(msg.contains("Content_Checksum_flag"), "{msg}");

    // A body that is not a zstd frame at all (here a skippable frame before the data).
    let mut skippable = 0x184D_2A50u32.to_le_bytes().to_vec();
    skippable.extend_from_slice(&4u32.to_le_bytes());
    skippable.extend_from_slice(b"junk");
    skippable.extend_from_slice(body);
    let e = refused(with_header(1, 0, &skippable), Limits::default());
    assert!(
        e.to_string().contains("does not begin with a zstd frame"),
        "{e}"
    );
}
