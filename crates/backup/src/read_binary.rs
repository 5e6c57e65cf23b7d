//! Reader of the binary form: header, zstd, tar (`docs/formats/archive-v1.md`).
//!
//! The tar is never unpacked. Its entries are read in order, as raw headers (no GNU long
//! names, no PAX extensions are interpreted), and each must be a regular file with one of the
//! names holdfast writes, in the order it writes them. Every size is checked against
//! [`Limits`] before it is read, and everything read is checked: record CRCs, keys, values,
//! table checksums against the manifest, the zstd frame checksum (which the frame header must
//! announce), and the checksum trailer over the file's own bytes (`trailer`), which must end
//! the file.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};

use holdfast_store::Table;
use holdfast_store::courtesy::Courtesy;
use tar::EntryType;

use crate::contents::{Contents, Row, Tally};
use crate::convert;
use crate::error::ReadFault;
use crate::frame::{self, FrameError};
use crate::header::{self, HEADER_BYTES};
use crate::key::Key;
use crate::limits::Limits;
use crate::manifest::{ConfigFile, Manifest};
use crate::reader_thread::ReaderThread;
use crate::trailer::{self, HashingReader};
use crate::value;

mod entry_name;
use entry_name::{EntryName, parse_name};

/// Largest zstd window a reader accepts (2^27 = 128 MiB, zstd's own default limit); the
/// writer's level-3 frames use far less.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// The magic number that opens a zstd frame, as it lies in the file (0xFD2FB528
/// little-endian, RFC 8878 §3.1.1).
const ZSTD_FRAME_MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();

/// Bit 2 of a zstd frame's Frame_Header_Descriptor (the byte after the magic):
/// Content_Checksum_flag.
const ZSTD_CONTENT_CHECKSUM_FLAG: u8 = 1 << 2;

/// Name of the manifest entry.
pub(crate) const MANIFEST_ENTRY: &str = "MANIFEST.json";

/// Read and check a whole binary archive. With `keep`, the rows are kept in the result.
/// Every byte read is hashed for the checksum trailer, which is checked last: the result
/// exists only once the whole file, trailer included, has been read and checked.
pub(crate) fn read_binary<R: Read + Send>(
    input: R,
    limits: &Limits,
    keep: bool,
) -> Result<Contents, ReadFault> {
    let mut input = HashingReader::new(input);
    let mut h = [0u8; HEADER_BYTES];
    let got = read_full(&mut input, &mut h).map_err(ReadFault::Io)?;
    if got < HEADER_BYTES {
        crate::contents::detect(&h[..got])?;
        return Err(ReadFault::CorruptHeader(format!(
            "the file is {got} bytes, shorter than the {HEADER_BYTES}-byte header: it is truncated"
        )));
    }
    let (version, flags) = header::decode(&h)?;
    let converter = convert::converter_for(version)?;
    if flags != 0 {
        return Err(ReadFault::UnknownFlags(flags));
    }

    check_data_frame_header(
        input
            .peek(ZSTD_FRAME_MAGIC.len() + 1)
            .map_err(ReadFault::Io)?,
    )?;
    let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| body_fault("(compressed body)", e))?
        .single_frame();
    decoder
        .window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(|e| body_fault("(compressed body)", e))?;
    let body = Bounded::new(decoder, limits.archive_total_bytes_max);
    // Decompression runs ahead on a thread of its own while this one parses and checks
    // (`reader_thread`).
    std::thread::scope(|s| {
        let staged = ReaderThread::new(s, "verify-zstd", body)
            .map_err(|e| body_fault("(compressed body)", e))?;
        let mut tar = tar::Archive::new(staged);
        let mut reader = EntryReader::new(limits, keep);
        {
            let entries = tar.entries().map_err(|e| body_fault("(tar)", e))?.raw(true);
            for entry in entries {
                let mut entry = entry.map_err(|e| body_fault(&reader.after(), e))?;
                reader.entry(&mut entry)?;
            }
        }
        let contents = reader.finish(version)?;

        // After the tar's first end-of-archive block: only zero padding, then the zstd
        // frame's end (which checks the frame checksum), then the checksum trailer over
        // every byte before it, then the end of the file.
        let mut staged = tar.into_inner();
        drain_zeros(&mut staged)?;
        let body = staged
            .finish()
            .map_err(|e| body_fault("(compressed body)", e))?;
        let mut rest = body.into_inner().finish();
        trailer::read_and_check(&mut rest)?;
        converter.convert(contents)
    })
}

/// The body is one zstd frame, and it carries its content checksum (`docs/formats/
/// archive-v1.md` §Body): zstd only checks a checksum the frame header announces, so a frame
/// without one would decode unchecked. A body shorter than a frame header is left to the
/// decoder, which reports where it ends.
fn check_data_frame_header(head: &[u8]) -> Result<(), ReadFault> {
    let (Some(magic), Some(&descriptor)) = (head.get(..ZSTD_FRAME_MAGIC.len()), head.get(4)) else {
        return Ok(());
    };
    if magic != ZSTD_FRAME_MAGIC {
        return Err(ReadFault::corrupt(
            "(compressed body)",
            format!(
                "the body does not begin with a zstd frame (its first bytes are {magic:02X?}, \
                 not the zstd magic {ZSTD_FRAME_MAGIC:02X?})"
            ),
        ));
    }
    if descriptor & ZSTD_CONTENT_CHECKSUM_FLAG == 0 {
        return Err(ReadFault::corrupt(
            "(compressed body)",
            "the zstd frame carries no content checksum (Content_Checksum_flag, bit 2 of its \
             frame header descriptor, is not set); holdfast writes it on every data frame and \
             reads no frame without it: the archive was not written by holdfast or was altered",
        ));
    }
    Ok(())
}

/// The state of reading the entries of one archive, in order.
struct EntryReader<'l> {
    limits: &'l Limits,
    keep: bool,
    entries: u64,
    seen: HashSet<String>,
    /// The last entry accepted, for ordering and for naming the place of body errors.
    last: Option<EntryName>,
    last_name: String,
    tally: Tally,
    config_files: Vec<ConfigFile>,
    tables: BTreeMap<Table, Vec<Row>>,
    manifest: Option<Manifest>,
    frame: Vec<u8>,
    /// Yields the CPU every few records: an import's verify runs beside traffic.
    courtesy: Courtesy,
}

impl<'l> EntryReader<'l> {
    fn new(limits: &'l Limits, keep: bool) -> Self {
        EntryReader {
            limits,
            keep,
            entries: 0,
            seen: HashSet::new(),
            last: None,
            last_name: String::new(),
            tally: Tally::default(),
            config_files: Vec::new(),
            tables: BTreeMap::new(),
            manifest: None,
            frame: Vec::new(),
            courtesy: Courtesy::default(),
        }
    }

    /// How to name the place of an error between entries.
    fn after(&self) -> String {
        if self.last_name.is_empty() {
            "(first tar header)".into()
        } else {
            format!("(tar header after {})", self.last_name)
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ReadFault> {
        let raw_name = entry.header().path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        self.entries += 1;
        if self.entries > self.limits.archive_entries_max {
            return Err(ReadFault::limit(
                &shown,
                "archive_entries_max",
                self.entries,
                self.limits.archive_entries_max,
            ));
        }
        let kind = entry.header().entry_type();
        if kind != EntryType::Regular {
            return Err(ReadFault::hostile(
                &shown,
                format!(
                    "entry type {:?} (archives hold regular files only)",
                    kind.as_byte() as char
                ),
            ));
        }
        let name = parse_name(&raw_name)?;
        if !self.seen.insert(shown.clone()) {
            return Err(ReadFault::hostile(&shown, "duplicate entry"));
        }
        self.check_order(&name, &shown)?;
        let size = entry.size();
        let (limit, max) = match name {
            EntryName::Config(_) => ("config_file_bytes_max", self.limits.config_file_bytes_max),
            EntryName::Chunk(..) => (
                "archive_entry_bytes_max",
                self.limits.archive_entry_bytes_max,
            ),
            EntryName::Manifest => ("manifest_bytes_max", self.limits.manifest_bytes_max),
        };
        if size > max {
            return Err(ReadFault::limit(&shown, limit, size, max));
        }
        match &name {
            EntryName::Config(file) => self.config(entry, file, &shown, size)?,
            EntryName::Chunk(table, _) => self.chunk(entry, *table, &shown, size)?,
            EntryName::Manifest => self.manifest(entry, &shown, size)?,
        }
        self.last = Some(name);
        self.last_name = shown;
        Ok(())
    }

    /// Entries come as: config files by name, table chunks in table order and numbered from
    /// 000000 per table, then the manifest, last.
    fn check_order(&self, name: &EntryName, shown: &str) -> Result<(), ReadFault> {
        let out_of_order = |why: &str| Err(ReadFault::corrupt(shown, why.to_string()));
        let Some(last) = &self.last else {
            return match name {
                EntryName::Chunk(_, i) if *i != 0 => {
                    out_of_order("the first chunk of a table is 000000")
                }
                _ => Ok(()),
            };
        };
        if last.section() > name.section() || *last == EntryName::Manifest {
            return out_of_order(&format!("entry comes after {}", self.last_name));
        }
        match (last, name) {
            (EntryName::Config(a), EntryName::Config(b)) if a >= b => {
                out_of_order("config files must be in name order")
            }
            (EntryName::Chunk(t0, i0), EntryName::Chunk(t1, i1)) => {
                if t1 < t0 {
                    out_of_order("tables must be in archive order")
                } else if t1 == t0 && *i1 != i0 + 1 {
                    out_of_order(&format!("chunk should be number {}", i0 + 1))
                } else if t1 > t0 && *i1 != 0 {
                    out_of_order("the first chunk of a table is 000000")
                } else {
                    Ok(())
                }
            }
            (_, EntryName::Chunk(_, i)) if *i != 0 => {
                out_of_order("the first chunk of a table is 000000")
            }
            _ => Ok(()),
        }
    }

    fn config<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        file: &str,
        shown: &str,
        size: u64,
    ) -> Result<(), ReadFault> {
        if self.config_files.len() as u64 >= self.limits.config_files_max {
            return Err(ReadFault::limit(
                shown,
                "config_files_max",
                self.config_files.len() as u64 + 1,
                self.limits.config_files_max,
            ));
        }
        let bytes = read_exact_entry(entry, shown, size)?;
        check_config_file(file, &bytes).map_err(|reason| ReadFault::corrupt(shown, reason))?;
        self.tally.config_file(file, &bytes);
        self.config_files.push(ConfigFile {
            name: file.to_string(),
            bytes,
        });
        Ok(())
    }

    fn chunk<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        table: Table,
        shown: &str,
        size: u64,
    ) -> Result<(), ReadFault> {
        let mut consumed = 0u64;
        let mut index = 0u64;
        loop {
            let layout = match frame::read_frame(
                entry,
                self.limits.record_bytes_max,
                size.saturating_sub(consumed),
                &mut self.frame,
            ) {
                Ok(Some(layout)) => layout,
                Ok(None) => break,
                Err(FrameError::Io(e)) => return Err(body_fault(shown, e)),
                Err(FrameError::TooLarge { bytes, max }) => {
                    return Err(ReadFault::limit(
                        format!("{shown}, record {index}"),
                        "record_bytes_max",
                        bytes,
                        max,
                    ));
                }
                Err(e) => {
                    return Err(ReadFault::corrupt(
                        format!("{shown}, record {index}"),
                        e.to_string(),
                    ));
                }
            };
            consumed += self.frame.len() as u64;
            self.courtesy.record(self.frame.len());
            let at =
                |reason: String| ReadFault::corrupt(format!("{shown}, record {index}"), reason);
            if self.tally.records >= self.limits.archive_records_max {
                return Err(ReadFault::limit(
                    shown,
                    "archive_records_max",
                    self.tally.records + 1,
                    self.limits.archive_records_max,
                ));
            }
            let key = Key::decode(table, layout.key(&self.frame)).map_err(at)?;
            let at = |reason: String| {
                ReadFault::corrupt(format!("{shown}, record {index} (key {key})"), reason)
            };
            let value = layout.value(&self.frame);
            value::check_value(table, &key, value).map_err(at)?;
            self.tally.record(table, &key, &self.frame).map_err(at)?;
            if self.keep {
                let value = value.to_vec();
                self.tables.entry(table).or_default().push((key, value));
            }
            index += 1;
        }
        if index == 0 {
            return Err(ReadFault::corrupt(
                shown,
                "a chunk holds at least one record",
            ));
        }
        if consumed != size {
            return Err(ReadFault::corrupt(
                shown,
                format!("the chunk is {size} bytes but its records end at byte {consumed}"),
            ));
        }
        Ok(())
    }

    fn manifest<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        shown: &str,
        size: u64,
    ) -> Result<(), ReadFault> {
        let bytes = read_exact_entry(entry, shown, size)?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ReadFault::corrupt(shown, format!("the manifest does not parse: {e}")))?;
        self.manifest = Some(manifest);
        Ok(())
    }

    /// Every entry is read: check the manifest against what was read.
    fn finish(self, version: u32) -> Result<Contents, ReadFault> {
        let manifest = self.manifest.ok_or_else(|| {
            ReadFault::corrupt(
                MANIFEST_ENTRY,
                format!(
                    "missing: the archive ends after {} without its manifest (truncated, or its \
                     export was interrupted)",
                    if self.last_name.is_empty() {
                        "no entries"
                    } else {
                        &self.last_name
                    }
                ),
            )
        })?;
        manifest
            .check_shape(version)
            .map_err(|reason| ReadFault::corrupt(MANIFEST_ENTRY, reason))?;
        self.tally.check_against(&manifest)?;
        Ok(Contents {
            manifest,
            config_files: self.config_files,
            tables: self.tables,
        })
    }
}

/// A config file must be valid TOML when its name says it is TOML.
pub(crate) fn check_config_file(name: &str, bytes: &[u8]) -> Result<(), String> {
    if name.ends_with(".toml") {
        let text =
            std::str::from_utf8(bytes).map_err(|_| "a .toml file that is not UTF-8".to_string())?;
        toml::from_str::<toml::Table>(text).map_err(|e| format!("not valid TOML: {e}"))?;
    }
    Ok(())
}

fn read_exact_entry<R: Read>(r: &mut R, shown: &str, size: u64) -> Result<Vec<u8>, ReadFault> {
    let mut bytes = Vec::new();
    r.take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| body_fault(shown, e))?;
    if bytes.len() as u64 != size {
        return Err(ReadFault::corrupt(shown, "the entry is cut short"));
    }
    Ok(bytes)
}

/// Read the rest of the decompressed body: zero blocks only.
fn drain_zeros<R: Read>(r: &mut R) -> Result<(), ReadFault> {
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(body_fault("(end of the tar)", e)),
        };
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(ReadFault::corrupt(
                "(end of the tar)",
                "data follows the tar's end-of-archive marker",
            ));
        }
    }
}

/// An I/O error inside the body: a limit, or damage (zstd and tar report both as errors).
fn body_fault(at: &str, e: io::Error) -> ReadFault {
    if let Some(b) = e.get_ref().and_then(|i| i.downcast_ref::<BoundExceeded>()) {
        return ReadFault::limit(at, "archive_total_bytes_max", b.max + 1, b.max);
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => ReadFault::corrupt(at, "the archive ends early"),
        _ => ReadFault::corrupt(at, e.to_string()),
    }
}

/// Read until `buf` is full or the input ends.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The decompressed body grew past `archive_total_bytes_max`.
#[derive(Debug)]
struct BoundExceeded {
    max: u64,
}

impl std::fmt::Display for BoundExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "decompressed body exceeds {} bytes", self.max)
    }
}

impl std::error::Error for BoundExceeded {}

/// A reader that fails once more than `max` bytes have come through it.
struct Bounded<R> {
    inner: R,
    read: u64,
    max: u64,
}

impl<R> Bounded<R> {
    fn new(inner: R, max: u64) -> Self {
        Bounded {
            inner,
            read: 0,
            max,
        }
    }

    fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.max {
            return Err(io::Error::other(BoundExceeded { max: self.max }));
        }
        Ok(n)
    }
}
