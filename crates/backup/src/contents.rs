//! What a read archive holds ([`Contents`]), and the running [`Tally`] of counts and checksums
//! that readers and writers keep and compare with the manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use holdfast_store::Table;

use crate::error::ReadFault;
use crate::header::MAGIC;
use crate::key::Key;
use crate::manifest::{ConfigFile, FileSummary, Manifest, TableSummary, hex};

/// One record as an archive carries it: its key and its value in the store encoding.
pub type Row = (Key, Vec<u8>);

/// The two forms of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Header, then a zstd-compressed tar (`.hfx`).
    Binary,
    /// One readable JSON document (`.json`).
    Json,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Binary => "hfx",
            Format::Json => "json",
        }
    }
}

/// Leading whitespace a JSON archive may have before its `{`, as far as [`sniff`] looks.
pub const SNIFF_BYTES_MAX: usize = 4096;

/// Whether the first bytes of a file that is still arriving (an upload) can be an archive:
/// `None` while they cannot tell yet, else what [`detect`] says of them. Lets a receiver
/// refuse what is not an archive after its first bytes, not after the whole body.
pub fn sniff(prefix: &[u8]) -> Option<Result<Format, ReadFault>> {
    let undecided = (prefix.len() < MAGIC.len() && MAGIC.starts_with(prefix))
        || (prefix.len() < SNIFF_BYTES_MAX && prefix.iter().all(u8::is_ascii_whitespace));
    if undecided {
        None
    } else {
        Some(detect(prefix))
    }
}

/// Which form an archive is in, from its first bytes.
pub(crate) fn detect(prefix: &[u8]) -> Result<Format, ReadFault> {
    if prefix.starts_with(&MAGIC) {
        return Ok(Format::Binary);
    }
    if prefix.is_empty() {
        return Err(ReadFault::CorruptHeader("the file is empty".into()));
    }
    if prefix.len() < MAGIC.len() && MAGIC.starts_with(prefix) {
        return Err(ReadFault::CorruptHeader(format!(
            "the file is {} bytes, shorter than the header: it is truncated",
            prefix.len()
        )));
    }
    match prefix.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(Format::Json),
        _ => Err(ReadFault::NotAnArchive),
    }
}

/// Everything an archive holds, checked.
#[derive(Debug)]
pub struct Contents {
    pub(crate) manifest: Manifest,
    pub(crate) config_files: Vec<ConfigFile>,
    /// Rows per table in key order; empty when the reader was asked not to keep them.
    pub(crate) tables: BTreeMap<Table, Vec<Row>>,
}

impl Contents {
    pub(crate) fn rows(&self, table: Table) -> &[Row] {
        self.tables.get(&table).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Frames are gathered into runs of about this many bytes before they are hashed: BLAKE3
/// hashes a long input several 1 KiB chunks at a time (SIMD), but a frame of a few hundred
/// bytes one 64-byte block at a time. The export of the reference set spent 0.9 s of its
/// 5.9 s hashing frame by frame (`docs/benchmarks.md`).
const HASH_RUN_BYTES: usize = 64 << 10;

/// Counts and checksum of one table, as read or written so far.
#[derive(Debug, Default)]
pub(crate) struct TableTally {
    pub records: u64,
    pub bytes: u64,
    hasher: blake3::Hasher,
    /// Frames not hashed yet (less than [`HASH_RUN_BYTES`]).
    unhashed: Vec<u8>,
    last: Option<Key>,
}

impl TableTally {
    fn hash(&mut self, frame: &[u8]) {
        if self.unhashed.len() + frame.len() > HASH_RUN_BYTES {
            self.hasher.update(&self.unhashed);
            self.unhashed.clear();
            if frame.len() >= HASH_RUN_BYTES {
                self.hasher.update(frame);
                return;
            }
        }
        if self.unhashed.capacity() == 0 {
            self.unhashed.reserve_exact(HASH_RUN_BYTES);
        }
        self.unhashed.extend_from_slice(frame);
    }

    /// The BLAKE3 of every frame so far.
    fn checksum(&self) -> blake3::Hash {
        let mut h = self.hasher.clone();
        h.update(&self.unhashed);
        h.finalize()
    }
}

/// Counts and checksums of everything read or written so far.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub tables: BTreeMap<Table, TableTally>,
    pub config_files: Vec<FileSummary>,
    pub records: u64,
}

impl Tally {
    /// Account one record: `frame` is its whole record frame. Keys must strictly increase
    /// within a table (which also rules out duplicates).
    pub fn record(&mut self, table: Table, key: &Key, frame: &[u8]) -> Result<(), String> {
        let t = self.tables.entry(table).or_default();
        if let Some(last) = &t.last
            && key <= last
        {
            return Err(format!(
                "key {key} does not follow key {last}: records must be in strictly increasing \
                 key order, without duplicates"
            ));
        }
        match &mut t.last {
            // Reuse the last key's allocations where the shapes allow.
            Some(last) => last.clone_from(key),
            None => t.last = Some(key.clone()),
        }
        t.records += 1;
        t.bytes += frame.len() as u64;
        t.hash(frame);
        self.records += 1;
        Ok(())
    }

    /// Account one config file.
    pub fn config_file(&mut self, name: &str, bytes: &[u8]) {
        self.config_files.push(FileSummary {
            name: name.to_string(),
            bytes: bytes.len() as u64,
            blake3: hex(&blake3::hash(bytes)),
        });
    }

    /// The summary of `table` as tallied (an untouched table is empty).
    pub fn summary(&self, table: Table) -> TableSummary {
        let (records, bytes, blake3) = match self.tables.get(&table) {
            Some(t) => (t.records, t.bytes, hex(&t.checksum())),
            None => (0, 0, hex(&blake3::hash(&[]))),
        };
        TableSummary {
            name: table,
            set: table.set(),
            records,
            bytes,
            blake3,
        }
    }

    /// Compare what was read with what the manifest promises.
    pub fn check_against(&self, manifest: &Manifest) -> Result<(), ReadFault> {
        for promised in &manifest.tables {
            let found = self.summary(promised.name);
            if found != *promised {
                return Err(ReadFault::corrupt(
                    format!("tables/{}", promised.name),
                    format!(
                        "holds {} records, {} bytes, BLAKE3 {}; the manifest says {} records, \
                         {} bytes, BLAKE3 {}",
                        found.records,
                        found.bytes,
                        found.blake3,
                        promised.records,
                        promised.bytes,
                        promised.blake3
                    ),
                ));
            }
        }
        if let Some(extra) = self.tables.keys().find(|t| manifest.table(**t).is_none()) {
            return Err(ReadFault::corrupt(
                format!("tables/{extra}"),
                "the table is not listed in the manifest",
            ));
        }
        if self.config_files != manifest.config_files {
            let name = self
                .config_files
                .iter()
                .zip(&manifest.config_files)
                .find(|(a, b)| a != b)
                .map(|(a, _)| a.name.clone())
                .unwrap_or_else(|| "config/".into());
            return Err(ReadFault::corrupt(
                format!("config/{name}"),
                "the config files differ from those the manifest lists (name, size or BLAKE3)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_checksum_is_the_blake3_of_its_frames_in_order() {
        // Small frames, frames that cross a hash run, and frames longer than one run.
        let sizes = [
            1usize, 300, 70_000, 5, 65_536, 65_535, 200_000, 17, 40_000, 40_000,
        ];
        let mut tally = Tally::default();
        let mut all = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let frame: Vec<u8> = (0..*size).map(|j| (i * 31 + j * 7) as u8).collect();
            let key = Key::new(vec![holdfast_store::KeyPart::U64(i as u64)]);
            tally
                .record(Table::Acl, &key, &frame)
                .expect("keys increase");
            all.extend_from_slice(&frame);
        }
        let summary = tally.summary(Table::Acl);
        assert_eq!(summary.records, sizes.len() as u64);
        assert_eq!(summary.bytes, all.len() as u64);
        assert_eq!(summary.blake3, hex(&blake3::hash(&all)));
        // The summary does not consume what is still unhashed.
        assert_eq!(tally.summary(Table::Acl).blake3, summary.blake3);
    }

    #[test]
    fn formats_are_told_apart_by_their_first_bytes() {
        assert_eq!(detect(&MAGIC).ok(), Some(Format::Binary));
        assert!(sniff(&MAGIC[..3]).is_none());
        assert!(sniff(b"  \n").is_none());
        assert!(matches!(sniff(b" {"), Some(Ok(Format::Json))));
        assert!(matches!(
            sniff(b"PK\x03\x04"),
            Some(Err(ReadFault::NotAnArchive))
        ));
        assert!(matches!(
            sniff(&[b' '; SNIFF_BYTES_MAX]),
            Some(Err(ReadFault::NotAnArchive))
        ));
        assert_eq!(detect(b"  \n{\"format\"").ok(), Some(Format::Json));
        assert!(matches!(detect(b""), Err(ReadFault::CorruptHeader(_))));
        assert!(matches!(
            detect(&MAGIC[..3]),
            Err(ReadFault::CorruptHeader(_))
        ));
        assert!(matches!(
            detect(b"PK\x03\x04"),
            Err(ReadFault::NotAnArchive)
        ));
    }
}
