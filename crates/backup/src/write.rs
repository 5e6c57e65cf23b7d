//! Writing an archive from one store read snapshot: [`write_archive`].
//!
//! Every table is read from the same [`Snapshot`], so the archive is one consistent cut
//! while the broker keeps writing. Each record is decoded and checked before it is written (an
//! export never carries a record that import would refuse), framed, counted and hashed.
//! The binary form streams: tables go out in chunks of about [`CHUNK_BYTES_TARGET`], the
//! manifest comes last, and the checksum trailer over every byte before it, hashed on the
//! way out, ends the file. The JSON form opens with its manifest, so it reads the snapshot
//! twice: once for the counts and checksums, once to write.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use holdfast_store::Snapshot;
use holdfast_store::courtesy::Courtesy;
use holdfast_store::{Set, Table};

use crate::contents::{Format, Tally};
use crate::convert::FORMAT_VERSION;
use crate::error::ExportError;
use crate::frame::encode_frame;
use crate::header;
use crate::json_value::{BytesJson, value_to_json};
use crate::key::Key;
use crate::limits::Limits;
use crate::manifest::{ConfigFile, Cut, FileSummary, Manifest, NodeId, check_config_name, hex};
use crate::read_binary::{MANIFEST_ENTRY, check_config_file};
use crate::read_json::{JSON_FORMAT_NAME, manifest_hash};
use crate::source;
use crate::timestamp::{now_ms, rfc3339_utc};
use crate::trailer::HashingWriter;
use crate::value;
use crate::writer_thread::WriterThread;

mod json;
use json::write_json;

/// Tables are cut into tar entries of about this many bytes (a single larger record makes a
/// larger entry), so neither writer nor reader holds a whole table in memory.
pub const CHUNK_BYTES_TARGET: usize = 4 << 20;
/// zstd level: 1, the fastest of the standard levels (as `zstd -1`): an export runs on a serving
/// node, where CPU time taken from clients matters more than the last few percent of size.
const ZSTD_LEVEL: i32 = 1;
/// Progress is reported at least this often, in records.
const PROGRESS_EVERY_RECORDS: u64 = 4096;
/// tar's block size.
const TAR_BLOCK_BYTES: u64 = 512;

/// How far an export has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Records written so far.
    pub records: u64,
    /// Records the snapshot holds in the selected tables.
    pub records_total: u64,
    /// Bytes of the archive written so far (compressed, for the binary form).
    pub archive_bytes: u64,
}

/// What to export and how.
pub struct ExportOptions<'a> {
    /// Sets to include (default: all four).
    pub sets: Vec<Set>,
    pub format: Format,
    /// The node's config files (such as `holdfast.toml`), as the caller read them.
    pub config_files: Vec<ConfigFile>,
    /// Ids of the nodes whose state this is.
    pub source_nodes: Vec<NodeId>,
    pub cluster_id: Option<String>,
    /// Creation time to record (default: now). Fixed only for reproducible fixtures.
    pub created_at_ms: Option<u64>,
    /// The limits the archive must respect (those of the importing side).
    pub limits: Limits,
    /// Called as the export proceeds (a progress bar).
    pub progress: Option<&'a mut dyn FnMut(Progress)>,
    /// Replace an existing file at the destination path (`export` only).
    pub overwrite: bool,
}

impl Default for ExportOptions<'_> {
    fn default() -> Self {
        ExportOptions {
            sets: Set::ALL.to_vec(),
            format: Format::Binary,
            config_files: Vec::new(),
            source_nodes: Vec::new(),
            cluster_id: None,
            created_at_ms: None,
            limits: Limits::default(),
            progress: None,
            overwrite: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub manifest: Manifest,
    /// Bytes written to the output.
    pub archive_bytes: u64,
}

/// Write an archive of `snapshot` (one read snapshot of the store) to `out`.
pub fn write_archive<W: Write + Send>(
    snapshot: &Snapshot,
    opts: &mut ExportOptions<'_>,
    out: W,
) -> Result<Written, ExportError> {
    let plan = Prepared::new(snapshot, opts)?;
    let mut out = Counting::new(out);
    let manifest = match opts.format {
        Format::Binary => write_binary(snapshot, &plan, opts, &mut out)?,
        Format::Json => write_json(snapshot, &plan, opts, &mut out)?,
    };
    out.flush().map_err(ExportError::Write)?;
    Ok(Written {
        manifest,
        archive_bytes: out.count,
    })
}

/// Everything fixed before the first byte is written.
struct Prepared {
    sets: Vec<Set>,
    tables: Vec<Table>,
    created_at_ms: u64,
    batch_seq: u64,
    records_total: u64,
    config_files: Vec<ConfigFile>,
}

impl Prepared {
    fn new(snapshot: &Snapshot, opts: &ExportOptions<'_>) -> Result<Prepared, ExportError> {
        let sets = Set::normalize(&opts.sets);
        if sets.is_empty() {
            return Err(ExportError::Option(
                "choose at least one set to export".into(),
            ));
        }
        let limits = &opts.limits;
        let mut config_files = opts.config_files.clone();
        config_files.sort_by(|a, b| a.name.cmp(&b.name));
        if config_files.len() as u64 > limits.config_files_max {
            return Err(ExportError::Limit {
                limit: "config_files_max",
                found: config_files.len() as u64,
                max: limits.config_files_max,
            });
        }
        for pair in config_files.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(ExportError::Option(format!(
                    "config file {} is given twice",
                    pair[0].name
                )));
            }
        }
        for f in &config_files {
            check_config_name(&f.name).map_err(ExportError::Option)?;
            check_config_file(&f.name, &f.bytes)
                .map_err(|r| ExportError::Option(format!("config file {}: {r}", f.name)))?;
            if f.bytes.len() as u64 > limits.config_file_bytes_max {
                return Err(ExportError::Limit {
                    limit: "config_file_bytes_max",
                    found: f.bytes.len() as u64,
                    max: limits.config_file_bytes_max,
                });
            }
        }
        let tables = Table::of_sets(&sets);
        let mut records_total = 0;
        for t in &tables {
            records_total += snapshot.len(*t)?;
        }
        Ok(Prepared {
            sets,
            tables,
            created_at_ms: opts.created_at_ms.unwrap_or_else(now_ms),
            batch_seq: snapshot.batch_seq()?,
            records_total,
            config_files,
        })
    }

    fn manifest(&self, opts: &ExportOptions<'_>, tally: &Tally) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            broker_version: crate::BROKER_VERSION.to_string(),
            store_schema_version: holdfast_store::schema::SCHEMA_VERSION,
            record_version: holdfast_store::records::RECORD_VERSION,
            cluster_id: opts.cluster_id.clone(),
            source_nodes: opts.source_nodes.clone(),
            cut: Cut {
                batch_seq: self.batch_seq,
            },
            created_at_ms: self.created_at_ms,
            created_at: rfc3339_utc(self.created_at_ms),
            sets: self.sets.clone(),
            tables: self.tables.iter().map(|t| tally.summary(*t)).collect(),
            config_files: self
                .config_files
                .iter()
                .map(|f| FileSummary {
                    name: f.name.clone(),
                    bytes: f.bytes.len() as u64,
                    blake3: hex(&blake3::hash(&f.bytes)),
                })
                .collect(),
        }
    }
}

/// Where the records of a scan go.
trait Body {
    fn begin_table(&mut self, table: Table) -> Result<(), ExportError>;
    /// One checked record: its key, value, and whole frame.
    fn record(
        &mut self,
        table: Table,
        key: &Key,
        value: &[u8],
        frame: &[u8],
    ) -> Result<(), ExportError>;
    fn end_table(&mut self, table: Table) -> Result<(), ExportError>;
    /// Bytes written so far, for progress.
    fn archive_bytes(&self) -> u64;
}

/// Read every selected table from the snapshot, check and frame each record, hand it to
/// `body`, and tally it.
fn scan(
    snapshot: &Snapshot,
    plan: &Prepared,
    opts: &mut ExportOptions<'_>,
    body: &mut dyn Body,
) -> Result<Tally, ExportError> {
    let limits = opts.limits.clone();
    let mut tally = Tally::default();
    for f in &plan.config_files {
        tally.config_file(&f.name, &f.bytes);
    }
    let mut key_bytes = Vec::new();
    let mut frame = Vec::new();
    let mut courtesy = Courtesy::default();
    let mut report = |records: u64, body: &dyn Body| {
        if let Some(p) = opts.progress.as_mut() {
            p(Progress {
                records,
                records_total: plan.records_total,
                archive_bytes: body.archive_bytes(),
            });
        }
    };
    for &table in &plan.tables {
        body.begin_table(table)?;
        source::for_each_row(snapshot, table, &mut |key, value| {
            value::check_value(table, &key, value).map_err(|reason| {
                ExportError::BadStoreRecord {
                    table,
                    key: key.to_string(),
                    reason,
                }
            })?;
            key_bytes.clear();
            key.encode_into(&mut key_bytes);
            let size = (key_bytes.len() + value.len()) as u64;
            if size > limits.record_bytes_max {
                return Err(ExportError::Limit {
                    limit: "record_bytes_max",
                    found: size,
                    max: limits.record_bytes_max,
                });
            }
            if tally.records >= limits.archive_records_max {
                return Err(ExportError::Limit {
                    limit: "archive_records_max",
                    found: tally.records + 1,
                    max: limits.archive_records_max,
                });
            }
            frame.clear();
            encode_frame(&key_bytes, value, &mut frame);
            tally
                .record(table, &key, &frame)
                .map_err(|reason| ExportError::BadStoreRecord {
                    table,
                    key: key.to_string(),
                    reason,
                })?;
            body.record(table, &key, value, &frame)?;
            courtesy.record(frame.len());
            if tally.records % PROGRESS_EVERY_RECORDS == 0 {
                report(tally.records, &*body);
            }
            Ok(())
        })?;
        body.end_table(table)?;
        report(tally.records, &*body);
    }
    Ok(tally)
}

fn write_binary<W: Write + Send>(
    snapshot: &Snapshot,
    plan: &Prepared,
    opts: &mut ExportOptions<'_>,
    out: &mut Counting<W>,
) -> Result<Manifest, ExportError> {
    let compressed = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        // Every byte of the header and the data frame is hashed on its way out, for the
        // trailer.
        let mut hashed = HashingWriter::new(Shared {
            inner: &mut *out,
            count: compressed.clone(),
        });
        hashed
            .write_all(&header::encode(FORMAT_VERSION, 0))
            .map_err(ExportError::Write)?;
        let mut enc =
            zstd::stream::write::Encoder::new(hashed, ZSTD_LEVEL).map_err(ExportError::Write)?;
        enc.include_checksum(true).map_err(ExportError::Write)?;
        // Compression runs on a thread of its own while this one reads, checks and frames
        // records (`writer_thread`).
        let stage = WriterThread::new(s, "export-zstd", enc).map_err(ExportError::Write)?;
        let mut body = TarBody {
            tar: tar::Builder::new(stage),
            compressed: compressed.clone(),
            limits: opts.limits.clone(),
            mtime: plan.created_at_ms / 1000,
            chunk: Vec::new(),
            index: 0,
            entries: 0,
            body_bytes: 2 * TAR_BLOCK_BYTES,
        };
        for f in &plan.config_files {
            body.append(&format!("config/{}", f.name), &f.bytes)?;
        }
        let tally = scan(snapshot, plan, opts, &mut body)?;
        let manifest = plan.manifest(opts, &tally);
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes to JSON");
        if json.len() as u64 > opts.limits.manifest_bytes_max {
            return Err(ExportError::Limit {
                limit: "manifest_bytes_max",
                found: json.len() as u64,
                max: opts.limits.manifest_bytes_max,
            });
        }
        body.append(MANIFEST_ENTRY, &json)?;
        let stage = body.tar.into_inner().map_err(ExportError::Write)?;
        let enc = stage.finish().map_err(ExportError::Write)?;
        let hashed = enc.finish().map_err(ExportError::Write)?;
        hashed.finish().map_err(ExportError::Write)?;
        Ok(manifest)
    })
}

/// The binary body: a tar of config files, table chunks and the manifest, written to `T`
/// (the compressing stage).
struct TarBody<T: Write> {
    tar: tar::Builder<T>,
    /// Compressed bytes written so far, counted by the compressing thread.
    compressed: Arc<AtomicU64>,
    limits: Limits,
    mtime: u64,
    chunk: Vec<u8>,
    index: u32,
    entries: u64,
    /// Decompressed bytes so far (headers, padded data, the end-of-archive blocks).
    body_bytes: u64,
}

impl<T: Write> TarBody<T> {
    fn append(&mut self, name: &str, data: &[u8]) -> Result<(), ExportError> {
        let size = data.len() as u64;
        self.entries += 1;
        self.body_bytes += TAR_BLOCK_BYTES + size.div_ceil(TAR_BLOCK_BYTES) * TAR_BLOCK_BYTES;
        for (limit, found, max) in [
            (
                "archive_entries_max",
                self.entries,
                self.limits.archive_entries_max,
            ),
            (
                "archive_entry_bytes_max",
                size,
                self.limits.archive_entry_bytes_max,
            ),
            (
                "archive_total_bytes_max",
                self.body_bytes,
                self.limits.archive_total_bytes_max,
            ),
        ] {
            if found > max {
                return Err(ExportError::Limit { limit, found, max });
            }
        }
        let mut h = tar::Header::new_ustar();
        h.set_path(name).map_err(ExportError::Write)?;
        h.set_size(size);
        h.set_mode(0o600);
        h.set_mtime(self.mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        self.tar.append(&h, data).map_err(ExportError::Write)
    }

    fn flush_chunk(&mut self, table: Table) -> Result<(), ExportError> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.append(&format!("tables/{table}/{:06}.rec", self.index), &chunk)?;
        self.chunk = chunk;
        self.chunk.clear();
        self.index += 1;
        Ok(())
    }
}

impl<T: Write> Body for TarBody<T> {
    fn begin_table(&mut self, _table: Table) -> Result<(), ExportError> {
        self.index = 0;
        self.chunk.clear();
        Ok(())
    }

    fn record(
        &mut self,
        table: Table,
        _key: &Key,
        _value: &[u8],
        frame: &[u8],
    ) -> Result<(), ExportError> {
        self.chunk.extend_from_slice(frame);
        if self.chunk.len() >= CHUNK_BYTES_TARGET {
            self.flush_chunk(table)?;
        }
        Ok(())
    }

    fn end_table(&mut self, table: Table) -> Result<(), ExportError> {
        self.flush_chunk(table)
    }

    fn archive_bytes(&self) -> u64 {
        self.compressed.load(Ordering::Relaxed)
    }
}

/// A writer that counts what passes through it where another thread can read it.
struct Shared<W> {
    inner: W,
    count: Arc<AtomicU64>,
}

impl<W: Write> Write for Shared<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts the bytes written through it.
pub(crate) struct Counting<W> {
    inner: W,
    pub count: u64,
}

impl<W> Counting<W> {
    fn new(inner: W) -> Self {
        Counting { inner, count: 0 }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
