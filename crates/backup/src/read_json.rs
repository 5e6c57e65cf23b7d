//! Reader of the JSON form (`docs/formats/archive-v1.md` §JSON form). Each record is turned
//! back into its store encoding and framed exactly as in the binary form, so the manifest's
//! counts and BLAKE3 checksums are checked the same way; the manifest itself is covered by
//! `manifest_blake3`.
//!
//! The document is read as a stream, never as a whole: `serde_json` parses it through a
//! metered reader (`budget`) straight into typed members, and `tables` record by record
//! (`tables`), each checked, framed and tallied as it is read and dropped at once unless the
//! caller keeps rows. So memory stays within a small multiple of the largest record, which
//! [`Limits::json_record_bytes_max`] bounds while it is read, whatever the file's size.
//!
//! `format` and `format_version` must be the document's first two members, so a newer
//! version is refused by name before anything of its layout is read. The other members may
//! come in any order: when records come before the manifest, their tallies are compared with
//! it at the end.

mod budget;
mod tables;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;

use holdfast_store::Table;
use holdfast_store::courtesy::Courtesy;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use self::budget::{Budget, Metered, Place};
use self::tables::TablesSeed;
use crate::contents::{Contents, Row, Tally};
use crate::convert::{self, Converter};
use crate::error::ReadFault;
use crate::json_value::BytesJson;
use crate::limits::Limits;
use crate::manifest::{ConfigFile, Manifest, check_config_name, hex};
use crate::read_binary::check_config_file;

/// The `format` member of every JSON archive.
pub(crate) const JSON_FORMAT_NAME: &str = "holdfast-archive";
const DOCUMENT: &str = "(JSON document)";

/// The members of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Member {
    Format,
    FormatVersion,
    Manifest,
    ManifestBlake3,
    ConfigFiles,
    Tables,
}

impl Member {
    const ALL: [Member; 6] = [
        Member::Format,
        Member::FormatVersion,
        Member::Manifest,
        Member::ManifestBlake3,
        Member::ConfigFiles,
        Member::Tables,
    ];

    fn name(self) -> &'static str {
        match self {
            Member::Format => "format",
            Member::FormatVersion => "format_version",
            Member::Manifest => "manifest",
            Member::ManifestBlake3 => "manifest_blake3",
            Member::ConfigFiles => "config_files",
            Member::Tables => "tables",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFileJson {
    name: String,
    content: BytesJson,
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
    let budget = Budget::new(limits.json_archive_bytes_max);
    let mut de = serde_json::Deserializer::from_reader(Metered {
        inner: input,
        budget: &budget,
    });
    let mut doc = DocumentReader::new(limits, keep, &budget);
    let parsed = (&mut doc).deserialize(&mut de).and_then(|()| {
        budget.window(Place::Document, "json_archive_bytes_max", u64::MAX);
        de.end()
    });
    match parsed {
        Ok(()) => doc.finish(),
        Err(e) => Err(doc.fault_for(&e)),
    }
}

/// What has been read of a document so far.
pub(super) struct DocumentReader<'a> {
    limits: &'a Limits,
    keep: bool,
    budget: &'a Budget,
    /// The fault behind the last error a visitor returned, which `serde_json` can only
    /// carry as text.
    fault: Option<ReadFault>,
    seen: BTreeSet<Member>,
    format_version: Option<u32>,
    converter: Option<Converter>,
    manifest: Option<Manifest>,
    manifest_blake3: Option<String>,
    config_files: Vec<ConfigFile>,
    /// Tables read so far, each at most once.
    tables_seen: BTreeSet<Table>,
    tally: Tally,
    tables: BTreeMap<Table, Vec<Row>>,
    /// The current record's frame, reused.
    frame: Vec<u8>,
    /// Checking records is CPU work beside traffic (an import's verify): a yield every few.
    courtesy: Courtesy,
}

impl<'a> DocumentReader<'a> {
    fn new(limits: &'a Limits, keep: bool, budget: &'a Budget) -> Self {
        DocumentReader {
            limits,
            keep,
            budget,
            fault: None,
            seen: BTreeSet::new(),
            format_version: None,
            converter: None,
            manifest: None,
            manifest_blake3: None,
            config_files: Vec::new(),
            tables_seen: BTreeSet::new(),
            tally: Tally::default(),
            tables: BTreeMap::new(),
            frame: Vec::new(),
            courtesy: Courtesy::default(),
        }
    }

    /// Keep `fault` for the caller and stop the parser.
    fn fail<E: de::Error>(&mut self, fault: ReadFault) -> E {
        let text = fault.to_string();
        self.fault = Some(fault);
        E::custom(text)
    }

    /// The fault behind a parser error: a visitor's, a bound's, or the parser's own, named by
    /// where it happened.
    fn fault_for(&mut self, e: &serde_json::Error) -> ReadFault {
        if let Some(fault) = self.fault.take() {
            return fault;
        }
        if let Some(fault) = self.budget.fault() {
            return fault;
        }
        let place = self.budget.place();
        let reason = if e.is_eof() {
            format!("not a complete holdfast JSON archive (it is truncated): {e}")
        } else if place == Place::Document {
            format!("does not parse: {e}")
        } else {
            format!("invalid: {e}")
        };
        ReadFault::corrupt(place.entry(), reason)
    }

    /// Read the value of `member`.
    fn member<'de, A: MapAccess<'de>>(
        &mut self,
        member: Member,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let short = |doc: &Self| doc.budget.short(Place::Member(member.name()));
        match member {
            Member::Format => {
                short(self);
                if map.next_value::<String>()? != JSON_FORMAT_NAME {
                    return Err(self.fail(ReadFault::NotAnArchive));
                }
            }
            Member::FormatVersion => {
                short(self);
                let version = map.next_value::<u32>()?;
                let converter = convert::converter_for(version).map_err(|f| self.fail(f))?;
                self.format_version = Some(version);
                self.converter = Some(converter);
            }
            Member::Manifest => {
                self.budget.window(
                    Place::Member("manifest"),
                    "manifest_bytes_max",
                    Limits::json_text_bytes_max(self.limits.manifest_bytes_max),
                );
                self.manifest = Some(map.next_value::<Manifest>()?);
                self.check_manifest().map_err(|f| self.fail(f))?;
            }
            Member::ManifestBlake3 => {
                short(self);
                self.manifest_blake3 = Some(map.next_value::<String>()?);
                self.check_manifest().map_err(|f| self.fail(f))?;
            }
            Member::ConfigFiles => map.next_value_seed(ConfigFilesSeed(self))?,
            Member::Tables => map.next_value_seed(TablesSeed(self))?,
        }
        Ok(())
    }

    /// Once both the manifest and its hash are read: the hash, then the manifest's shape.
    fn check_manifest(&self) -> Result<(), ReadFault> {
        let (Some(manifest), Some(hash), Some(version)) =
            (&self.manifest, &self.manifest_blake3, self.format_version)
        else {
            return Ok(());
        };
        if manifest_hash(manifest) != *hash {
            return Err(ReadFault::corrupt(
                "manifest",
                "its BLAKE3 differs from manifest_blake3: the manifest was altered",
            ));
        }
        manifest
            .check_shape(version)
            .map_err(|reason| ReadFault::corrupt("manifest", reason))
    }

    /// The table a `tables` member names: a table the manifest lists (checked at the end if
    /// the manifest comes later), named once only.
    fn table_named(&mut self, name: &str) -> Result<Table, ReadFault> {
        let not_listed =
            || ReadFault::corrupt(format!("tables.{name}"), "not a table the manifest lists");
        let table = Table::from_name(name).ok_or_else(not_listed)?;
        if let Some(m) = &self.manifest
            && m.table(table).is_none()
        {
            return Err(not_listed());
        }
        if !self.tables_seen.insert(table) {
            return Err(ReadFault::corrupt(
                format!("tables.{name}"),
                "appears twice",
            ));
        }
        Ok(table)
    }

    /// One entry of `config_files`, checked.
    fn config_file(&mut self, index: u64, f: ConfigFileJson) -> Result<(), ReadFault> {
        let limits = self.limits;
        if index >= limits.config_files_max {
            return Err(ReadFault::limit(
                "config_files",
                "config_files_max",
                index + 1,
                limits.config_files_max,
            ));
        }
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
        self.tally.config_file(&f.name, &bytes);
        self.config_files.push(ConfigFile {
            name: f.name,
            bytes,
        });
        Ok(())
    }

    /// After the whole document: what needs the manifest and every table together.
    fn finish(self) -> Result<Contents, ReadFault> {
        // The document visitor returns only once every member was read.
        let (Some(manifest), Some(converter)) = (self.manifest, self.converter) else {
            return Err(ReadFault::corrupt(DOCUMENT, "it lacks its manifest"));
        };
        if let Some(t) = self
            .tables_seen
            .iter()
            .find(|t| manifest.table(**t).is_none())
        {
            return Err(ReadFault::corrupt(
                format!("tables.{t}"),
                "not a table the manifest lists",
            ));
        }
        if let Some(missing) = manifest
            .tables
            .iter()
            .find(|t| !self.tally.tables.contains_key(&t.name) && t.records > 0)
        {
            return Err(ReadFault::corrupt(
                format!("tables.{}", missing.name),
                "missing, though the manifest lists records for it",
            ));
        }
        self.tally.check_against(&manifest)?;
        converter.convert(Contents {
            manifest,
            config_files: self.config_files,
            tables: self.tables,
        })
    }
}

impl<'de> DeserializeSeed<'de> for &mut DocumentReader<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut DocumentReader<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a holdfast JSON archive (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        loop {
            self.budget.short(Place::Document);
            let Some(name) = map.next_key::<String>()? else {
                break;
            };
            let Some(member) = Member::ALL.into_iter().find(|m| m.name() == name) else {
                let fault = ReadFault::corrupt(DOCUMENT, format!("unknown member {name:?}"));
                return Err(self.fail(fault));
            };
            if !self.seen.insert(member) {
                let fault = ReadFault::corrupt(name, "appears twice");
                return Err(self.fail(fault));
            }
            let opening = [Member::Format, Member::FormatVersion];
            if !opening.contains(&member) && !opening.iter().all(|m| self.seen.contains(m)) {
                let fault = ReadFault::corrupt(
                    DOCUMENT,
                    format!(
                        "member {name:?} comes before format and format_version, which a \
                         holdfast JSON archive opens with"
                    ),
                );
                return Err(self.fail(fault));
            }
            self.member(member, &mut map)?;
        }
        if let Some(missing) = Member::ALL.into_iter().find(|m| !self.seen.contains(m)) {
            let fault = ReadFault::corrupt(
                DOCUMENT,
                format!("it lacks its {:?} member", missing.name()),
            );
            return Err(self.fail(fault));
        }
        Ok(())
    }
}

/// The `config_files` array, entry by entry.
struct ConfigFilesSeed<'r, 'a>(&'r mut DocumentReader<'a>);

impl<'de> DeserializeSeed<'de> for ConfigFilesSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ConfigFilesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of config files")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let doc = self.0;
        let text_max = Limits::json_text_bytes_max(doc.limits.config_file_bytes_max);
        for index in 0.. {
            doc.budget
                .window(Place::ConfigFile(index), "config_file_bytes_max", text_max);
            let Some(f) = seq.next_element::<ConfigFileJson>()? else {
                break;
            };
            doc.config_file(index, f)
                .map_err(|f| doc.fail::<A::Error>(f))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// `prefix`, then `fill` for ever: a reader that does not stop must be stopped.
    struct Endless {
        prefix: io::Cursor<Vec<u8>>,
        fill: u8,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.prefix.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            buf.fill(self.fill);
            Ok(buf.len())
        }
    }

    fn endless(prefix: &str, fill: u8) -> Endless {
        Endless {
            prefix: io::Cursor::new(prefix.as_bytes().to_vec()),
            fill,
        }
    }

    fn limit_of(fault: ReadFault) -> (String, &'static str, u64) {
        match fault {
            ReadFault::Limit {
                entry, limit, max, ..
            } => (entry, limit, max),
            other => panic!("not refused by a limit: {other}"),
        }
    }

    const HEAD: &str = r#"{"format": "holdfast-archive", "format_version": 1, "#;

    #[test]
    fn a_record_is_never_read_past_its_bound() {
        let limits = Limits {
            record_bytes_max: 1000,
            ..Limits::default()
        };
        let input = endless(
            &format!(r#"{HEAD}"tables": {{"users": [{{"key": {{"username": ""#),
            b'a',
        );
        let fault = read_json(input, &limits, false).expect_err("endless record");
        assert_eq!(
            limit_of(fault),
            (
                "tables.users[0]".to_string(),
                "json_record_bytes_max",
                limits.json_record_bytes_max()
            )
        );
        // Whitespace between records is counted too.
        let input = endless(&format!(r#"{HEAD}"tables": {{"users": ["#), b' ');
        let fault = read_json(input, &limits, false).expect_err("endless whitespace");
        assert_eq!(limit_of(fault).1, "json_record_bytes_max");
    }

    #[test]
    fn names_manifests_config_files_and_documents_have_bounds() {
        let limits = Limits {
            manifest_bytes_max: 100,
            config_file_bytes_max: 100,
            ..Limits::default()
        };
        let fault = read_json(endless(r#"{""#, b'a'), &limits, false).expect_err("name");
        let text = fault.to_string();
        assert!(matches!(fault, ReadFault::Corrupt { .. }), "{text}");
        assert!(
            text.contains("where a name or a short value belongs"),
            "{text}"
        );

        let input = endless(&format!(r#"{HEAD}"manifest": {{"broker_version": ""#), b'a');
        let (entry, limit, _) = limit_of(read_json(input, &limits, false).expect_err("manifest"));
        assert_eq!((entry.as_str(), limit), ("manifest", "manifest_bytes_max"));

        let input = endless(
            &format!(r#"{HEAD}"config_files": [{{"name": "a.toml", "content": ""#),
            b'a',
        );
        let (entry, limit, _) = limit_of(read_json(input, &limits, false).expect_err("config"));
        assert_eq!(
            (entry.as_str(), limit),
            ("config_files[0]", "config_file_bytes_max")
        );

        // The whole document, however it is cut into members.
        let limits = Limits {
            json_archive_bytes_max: 1 << 20,
            ..Limits::default()
        };
        let records: String = (0..20_000)
            .map(|i| {
                format!(
                    r#"{{"key": {{"username": "u{i:06}"}}, "value": {{"password_hash": "h", "superuser": false, "created_at_ms": 1}}}}, "#
                )
            })
            .collect();
        let many = format!(r#"{HEAD}"tables": {{"users": [{records}"#);
        let (entry, limit, max) =
            limit_of(read_json(endless(&many, b' '), &limits, false).expect_err("doc"));
        assert_eq!(
            (entry.as_str(), limit, max),
            (DOCUMENT, "json_archive_bytes_max", 1 << 20)
        );
    }
}
