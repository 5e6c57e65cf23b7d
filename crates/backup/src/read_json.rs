//! Reader of the JSON form (`docs/formats/archive-v1.md` §JSON form). Each record is turned
//! back into its store encoding and framed exactly as in the binary form, so the manifest's
//! counts and BLAKE3 checksums are checked the same way; the manifest itself is covered by
//! `manifest_blake3`.

use std::collections::BTreeMap;
use std::io::Read;

use holdfast_store::courtesy::Courtesy;
use serde::Deserialize;
use serde_json::Value;

use crate::contents::{Contents, Row, Tally};
use crate::convert;
use crate::error::ReadFault;
use crate::frame::{FRAME_OVERHEAD_BYTES, encode_frame};
use crate::json_value::{BytesJson, value_from_json};
use crate::key::Key;
use crate::limits::Limits;
use crate::manifest::{ConfigFile, Manifest, check_config_name, hex};
use crate::read_binary::check_config_file;
use crate::table::Table;
use crate::value;

/// The `format` member of every JSON archive.
pub(crate) const JSON_FORMAT_NAME: &str = "holdfast-archive";
const DOCUMENT: &str = "(JSON document)";

/// Enough of a document to learn its version before parsing the rest.
#[derive(Deserialize)]
struct Probe {
    format: String,
    format_version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: String,
    format_version: u32,
    manifest: Manifest,
    manifest_blake3: String,
    config_files: Vec<ConfigFileJson>,
    tables: BTreeMap<String, Vec<RecordJson>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFileJson {
    name: String,
    content: BytesJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordJson {
    key: Value,
    value: Value,
}

/// BLAKE3 of the manifest's compact JSON serialization, which the document carries.
pub(crate) fn manifest_hash(manifest: &Manifest) -> String {
    let bytes = serde_json::to_vec(manifest).expect("a manifest serializes to JSON");
    hex(&blake3::hash(&bytes))
}

/// Read and check a whole JSON archive. With `keep`, the rows are kept in the result.
pub(crate) fn read_json<R: Read>(
    input: R,
    limits: &Limits,
    keep: bool,
) -> Result<Contents, ReadFault> {
    let max = limits.json_archive_bytes_max;
    let mut bytes = Vec::new();
    input
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadFault::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadFault::limit(
            DOCUMENT,
            "json_archive_bytes_max",
            bytes.len() as u64,
            max,
        ));
    }
    let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| {
        ReadFault::corrupt(
            DOCUMENT,
            format!("not a complete holdfast JSON archive: {e}"),
        )
    })?;
    if probe.format != JSON_FORMAT_NAME {
        return Err(ReadFault::NotAnArchive);
    }
    let converter = convert::converter_for(probe.format_version)?;
    let doc: Document = serde_json::from_slice(&bytes)
        .map_err(|e| ReadFault::corrupt(DOCUMENT, format!("does not parse: {e}")))?;
    drop(bytes);
    if doc.format != JSON_FORMAT_NAME || doc.format_version != probe.format_version {
        return Err(ReadFault::corrupt(DOCUMENT, "format members disagree"));
    }
    if manifest_hash(&doc.manifest) != doc.manifest_blake3 {
        return Err(ReadFault::corrupt(
            "manifest",
            "its BLAKE3 differs from manifest_blake3: the manifest was altered",
        ));
    }
    doc.manifest
        .check_shape(doc.format_version)
        .map_err(|reason| ReadFault::corrupt("manifest", reason))?;

    let mut tally = Tally::default();
    let config_files = read_config_files(doc.config_files, limits, &mut tally)?;
    let mut tables = BTreeMap::new();
    for (name, records) in doc.tables {
        let table = Table::from_name(&name)
            .filter(|t| doc.manifest.table(*t).is_some())
            .ok_or_else(|| {
                ReadFault::corrupt(format!("tables.{name}"), "not a table the manifest lists")
            })?;
        let rows = read_table(table, records, limits, &mut tally, keep)?;
        if keep {
            tables.insert(table, rows);
        }
    }
    if let Some(missing) = doc
        .manifest
        .tables
        .iter()
        .find(|t| !tally.tables.contains_key(&t.name) && t.records > 0)
    {
        return Err(ReadFault::corrupt(
            format!("tables.{}", missing.name),
            "missing, though the manifest lists records for it",
        ));
    }
    tally.check_against(&doc.manifest)?;
    converter.convert(Contents {
        manifest: doc.manifest,
        config_files,
        tables,
    })
}

fn read_config_files(
    files: Vec<ConfigFileJson>,
    limits: &Limits,
    tally: &mut Tally,
) -> Result<Vec<ConfigFile>, ReadFault> {
    if files.len() as u64 > limits.config_files_max {
        return Err(ReadFault::limit(
            "config_files",
            "config_files_max",
            files.len() as u64,
            limits.config_files_max,
        ));
    }
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let at = format!("config_files.{}", f.name);
        check_config_name(&f.name).map_err(|r| ReadFault::hostile(&at, r))?;
        let bytes = f
            .content
            .into_bytes()
            .map_err(|r| ReadFault::corrupt(&at, r))?;
        if bytes.len() as u64 > limits.config_file_bytes_max {
            return Err(ReadFault::limit(
                &at,
                "config_file_bytes_max",
                bytes.len() as u64,
                limits.config_file_bytes_max,
            ));
        }
        check_config_file(&f.name, &bytes).map_err(|r| ReadFault::corrupt(&at, r))?;
        tally.config_file(&f.name, &bytes);
        out.push(ConfigFile {
            name: f.name,
            bytes,
        });
    }
    Ok(out)
}

fn read_table(
    table: Table,
    records: Vec<RecordJson>,
    limits: &Limits,
    tally: &mut Tally,
    keep: bool,
) -> Result<Vec<Row>, ReadFault> {
    // An empty table is still tallied, so that "present" can be told from "missing".
    tally.tables.entry(table).or_default();
    let mut rows = Vec::new();
    let mut frame = Vec::new();
    // Checking records is CPU work beside traffic (an import's verify): a yield every few.
    let mut courtesy = Courtesy::default();
    for (index, rec) in records.into_iter().enumerate() {
        let at = |reason: String| ReadFault::corrupt(format!("tables.{table}[{index}]"), reason);
        if tally.records >= limits.archive_records_max {
            return Err(ReadFault::limit(
                format!("tables.{table}"),
                "archive_records_max",
                tally.records + 1,
                limits.archive_records_max,
            ));
        }
        let key = Key::from_json(table, &rec.key).map_err(at)?;
        let at = |reason: String| {
            ReadFault::corrupt(format!("tables.{table}[{index}] (key {key})"), reason)
        };
        let value = value_from_json(table, &key, rec.value).map_err(at)?;
        let key_bytes = key.encode();
        let size = (key_bytes.len() + value.len()) as u64;
        if size > limits.record_bytes_max {
            return Err(ReadFault::limit(
                format!("tables.{table}[{index}]"),
                "record_bytes_max",
                size,
                limits.record_bytes_max,
            ));
        }
        value::check_value(table, &key, &value).map_err(at)?;
        frame.clear();
        encode_frame(&key_bytes, &value, &mut frame);
        debug_assert_eq!(frame.len() as u64, size + FRAME_OVERHEAD_BYTES);
        tally.record(table, &key, &frame).map_err(at)?;
        courtesy.record(frame.len());
        if keep {
            rows.push((key, value));
        }
    }
    Ok(rows)
}
