//! [`Manifest`]: what an archive holds, and the checksums that prove it
//! (`docs/formats/archive-v1.md` §Manifest). The same manifest, byte for byte, describes both
//! forms of an archive (binary and JSON) of one cut.

use std::fmt;

use serde::{Deserialize, Serialize};

use holdfast_store::{Set, Table};

use crate::timestamp::rfc3339_utc;

/// A node's identity (the random id kept in its data dir, never its name or address).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

/// A node id that is empty, too long, or has characters outside `[A-Za-z0-9._:@-]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node id {0:?}: use 1 to 128 characters among A-Z a-z 0-9 . _ : @ -")]
pub struct InvalidNodeId(pub String);

impl NodeId {
    /// Check and wrap a node id.
    pub fn new(id: impl Into<String>) -> Result<NodeId, InvalidNodeId> {
        let id = id.into();
        let ok = (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b));
        if ok {
            Ok(NodeId(id))
        } else {
            Err(InvalidNodeId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeId {
    type Error = InvalidNodeId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NodeId::new(s)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> String {
        id.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The consistent cut the archive was taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cut {
    /// Batches the source store had committed when its read snapshot was taken
    /// (`meta/last_batch_seq`): every table shows exactly those batches and none after.
    pub batch_seq: u64,
}

/// One table in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSummary {
    pub name: Table,
    pub set: Set,
    /// Records in the table at the cut.
    pub records: u64,
    /// Bytes of the table's record frames, all chunks together.
    pub bytes: u64,
    /// BLAKE3 of the table's record frames in key order, lowercase hex.
    pub blake3: String,
}

/// One node config file in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSummary {
    pub name: String,
    pub bytes: u64,
    /// BLAKE3 of the file's bytes, lowercase hex.
    pub blake3: String,
}

/// What an archive holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Archive format version; equals the version in the file header.
    pub format_version: u32,
    /// Version of the holdfast that wrote the archive.
    pub broker_version: String,
    /// Store schema version the record values are encoded in.
    pub store_schema_version: u32,
    /// Record version byte of every record value.
    pub record_version: u8,
    /// The cluster the archive came from; `null` until clustering exists.
    pub cluster_id: Option<String>,
    /// Ids of the nodes whose state the archive holds (given by the exporter).
    pub source_nodes: Vec<NodeId>,
    pub cut: Cut,
    /// When the export started, Unix milliseconds.
    pub created_at_ms: u64,
    /// `created_at_ms` in RFC 3339 (UTC), for people.
    pub created_at: String,
    /// Sets included, in archive order.
    pub sets: Vec<Set>,
    /// Every table of those sets, in archive order, empty ones included.
    pub tables: Vec<TableSummary>,
    /// Node config files, by name.
    pub config_files: Vec<FileSummary>,
}

impl Manifest {
    /// Records in all tables.
    pub fn records_total(&self) -> u64 {
        self.tables.iter().map(|t| t.records).sum()
    }

    /// The summary of `table`, if the archive holds it.
    pub fn table(&self, table: Table) -> Option<&TableSummary> {
        self.tables.iter().find(|t| t.name == table)
    }

    /// Check that the manifest is self-consistent; the reason if not.
    pub(crate) fn check_shape(&self, format_version: u32) -> Result<(), String> {
        if self.format_version != format_version {
            return Err(format!(
                "manifest says format version {}, the header says {format_version}",
                self.format_version
            ));
        }
        if self.store_schema_version > holdfast_store::schema::SCHEMA_VERSION {
            return Err(format!(
                "records use store schema version {}, newer than this holdfast's {}",
                self.store_schema_version,
                holdfast_store::schema::SCHEMA_VERSION
            ));
        }
        if self.record_version != holdfast_store::records::RECORD_VERSION {
            return Err(format!(
                "records use record version {}, this holdfast reads {}",
                self.record_version,
                holdfast_store::records::RECORD_VERSION
            ));
        }
        if self.created_at != rfc3339_utc(self.created_at_ms) {
            return Err("created_at disagrees with created_at_ms".into());
        }
        if Set::normalize(&self.sets) != self.sets {
            return Err("sets are not distinct and in archive order".into());
        }
        let expected = Table::of_sets(&self.sets);
        let listed: Vec<Table> = self.tables.iter().map(|t| t.name).collect();
        if listed != expected {
            return Err(format!(
                "tables {listed:?} are not exactly the tables of sets {:?}",
                self.sets
            ));
        }
        for t in &self.tables {
            if t.set != t.name.set() {
                return Err(format!("table {} is listed under set {}", t.name, t.set));
            }
            check_hex(&t.blake3).map_err(|e| format!("table {}: {e}", t.name))?;
        }
        for pair in self.config_files.windows(2) {
            if pair[0].name >= pair[1].name {
                return Err("config files are not distinct and sorted by name".into());
            }
        }
        for f in &self.config_files {
            check_config_name(&f.name)?;
            check_hex(&f.blake3).map_err(|e| format!("config file {}: {e}", f.name))?;
        }
        Ok(())
    }
}

fn check_hex(h: &str) -> Result<(), String> {
    if h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err("checksum is not 64 lowercase hex digits".into())
    }
}

/// Lowercase hex of a BLAKE3 hash.
pub(crate) fn hex(hash: &blake3::Hash) -> String {
    hash.to_hex().to_string()
}

/// A config file name: 1 to 64 characters among `A-Z a-z 0-9 . _ -`, not starting with `.`.
pub(crate) fn check_config_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "config file name {name:?} is not 1 to 64 characters among A-Z a-z 0-9 . _ - \
             (not starting with '.')"
        ))
    }
}

/// A node config file to carry in an archive, or carried in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// File name only, such as `holdfast.toml`: never a path.
    pub name: String,
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_and_config_names_are_checked() {
        assert!(NodeId::new("0123abcd").is_ok());
        assert!(NodeId::new("").is_err());
        assert!(NodeId::new("a b").is_err());
        assert!(serde_json::from_str::<NodeId>("\"../x\"").is_err());
        assert!(check_config_name("holdfast.toml").is_ok());
        for bad in ["", ".hidden", "../x", "a/b", "/etc", &"x".repeat(65)] {
            assert!(check_config_name(bad).is_err(), "{bad}");
        }
    }
}
