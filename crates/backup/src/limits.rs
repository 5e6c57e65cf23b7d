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
    /// Largest JSON archive document. A JSON archive is parsed in memory, so this is lower.
    pub json_archive_bytes_max: u64,
    /// Most records in one archive, all tables together.
    pub archive_records_max: u64,
    /// Most entries in one binary archive.
    pub archive_entries_max: u64,
    /// Largest key plus value of one record. An MQTT packet is at most 256 MiB, and a record
    /// holds at most one message.
    pub record_bytes_max: u64,
    /// Largest node config file carried in an archive.
    pub config_file_bytes_max: u64,
    /// Most node config files in one archive.
    pub config_files_max: u64,
    /// Largest manifest.
    pub manifest_bytes_max: u64,
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
