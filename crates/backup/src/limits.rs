//! [`Limits`]: every bound a reader puts on an archive, with its unit in its name. A writer
//! checks its own output against the same limits, so an export never produces an archive that
//! import would refuse.

use serde::{Deserialize, Serialize};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Bounds on what an archive may hold. The defaults fit any store a broker can hold; lower
/// them to read untrusted files in a small budget (the fuzz target does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest decompressed size of one entry of a binary archive (a table chunk, a config
    /// file, the manifest). Writers cut tables into chunks of about 4 MiB, so only a single
    /// huge record makes an entry larger.
    pub archive_entry_bytes_max: u64,
    /// Largest decompressed size of a whole binary archive body: guards against
    /// decompression bombs.
    pub archive_total_bytes_max: u64,
    /// Largest JSON archive document. A JSON archive is read as a stream, one record at a
    /// time; this bounds the work one document can cause, not its memory.
    pub json_archive_bytes_max: u64,
    /// Most records in one archive, all tables together.
    pub archive_records_max: u64,
    /// Most entries in one binary archive.
    pub archive_entries_max: u64,
    /// Largest key plus value of one record. An MQTT packet is at most 256 MiB, and a record
    /// holds at most one message. It also bounds the JSON text of one record, see
    /// [`Limits::json_record_bytes_max`].
    pub record_bytes_max: u64,
    /// Largest node config file carried in an archive.
    pub config_file_bytes_max: u64,
    /// Most node config files in one archive.
    pub config_files_max: u64,
    /// Largest manifest.
    pub manifest_bytes_max: u64,
}

/// Slack for member names, punctuation and whitespace around the JSON text of one record,
/// config file or manifest.
const JSON_SLACK_BYTES: u64 = 64 << 10;

/// The most bytes of JSON text a writer can write for one byte of a value: `\u001f`, the
/// longest escape, stands for one byte.
const JSON_ESCAPE_FACTOR: u64 = 6;

impl Limits {
    /// Largest JSON text of one record of a JSON archive, with its member names:
    /// `2 × record_bytes_max + 64 KiB` (544 MiB by default). A record at `record_bytes_max`
    /// fits it in base64 (4/3) or as text with the common escapes. A reader stops reading a
    /// record at this many bytes, so no record takes more memory than about this much while
    /// it is read; a writer refuses to write a longer record (export that one in the binary
    /// form). Derived rather than a field of its own: raise `record_bytes_max` to raise it.
    pub fn json_record_bytes_max(&self) -> u64 {
        self.record_bytes_max
            .saturating_mul(2)
            .saturating_add(JSON_SLACK_BYTES)
    }

    /// Largest JSON text of something of at most `bytes_max` bytes (the manifest, a config
    /// file) that a writer checks only in bytes: `6 × bytes_max + 64 KiB`, which holds any
    /// such text a writer writes.
    pub(crate) fn json_text_bytes_max(bytes_max: u64) -> u64 {
        bytes_max
            .saturating_mul(JSON_ESCAPE_FACTOR)
            .saturating_add(JSON_SLACK_BYTES)
    }

    /// Largest JSON text of a short member: a name, `format`, `format_version`,
    /// `manifest_blake3`.
    pub(crate) const JSON_SHORT_BYTES_MAX: u64 = JSON_SLACK_BYTES;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            archive_entry_bytes_max: GIB,
            archive_total_bytes_max: 64 * GIB,
            json_archive_bytes_max: 2 * GIB,
            archive_records_max: 100_000_000,
            archive_entries_max: 1_000_000,
            record_bytes_max: 272 * MIB,
            config_file_bytes_max: 16 * MIB,
            config_files_max: 16,
            manifest_bytes_max: 16 * MIB,
        }
    }
}
