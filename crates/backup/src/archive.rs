//! [`Archive`]: an archive file on its way to import. `Archive<Unverified>` only knows where
//! the bytes are; [`Archive::verify`] reads and checks everything and yields
//! `Archive<Verified>`, the only state an import plan accepts. [`verify`] and [`inspect`]
//! check a file without keeping its records.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use holdfast_store::Table;

use crate::contents::{Contents, Format, Row, detect};
use crate::error::{ReadError, ReadFault};
use crate::limits::Limits;
use crate::manifest::{ConfigFile, Manifest};
use crate::read_binary::read_binary;
use crate::read_json::read_json;

/// Bytes read to tell the two forms apart.
const PREFIX_BYTES: usize = 64;

/// Not checked yet: nothing may be imported from it.
#[derive(Debug)]
pub struct Unverified {
    input: Input,
}

/// Every checksum matched and every record decoded; the records are held in memory.
#[derive(Debug, Clone)]
pub struct Verified {
    contents: Arc<Contents>,
}

#[derive(Debug)]
enum Input {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// An archive, in state `S`.
#[derive(Debug)]
pub struct Archive<S> {
    origin: String,
    limits: Limits,
    format: Format,
    state: S,
}

/// What `verify` and `inspect` report.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveSummary {
    /// The file read.
    pub origin: String,
    pub format: Format,
    pub file_bytes: u64,
    pub records_total: u64,
    pub manifest: Manifest,
}

impl Archive<Unverified> {
    /// Open an archive file and tell its form. Nothing is checked yet but the first bytes.
    pub fn open(path: &Path) -> Result<Archive<Unverified>, ReadError> {
        let origin = path.display().to_string();
        let fail = |fault| ReadError {
            origin: origin.clone(),
            fault,
        };
        let (format, _, _) = open_file(path).map_err(fail)?;
        Ok(Archive {
            origin: origin.clone(),
            limits: Limits::default(),
            format,
            state: Unverified {
                input: Input::File(path.to_path_buf()),
            },
        })
    }

    /// An archive held in memory (an upload, a test, the fuzzer).
    pub fn from_bytes(origin: &str, bytes: Vec<u8>) -> Result<Archive<Unverified>, ReadError> {
        let format =
            detect(&bytes[..bytes.len().min(PREFIX_BYTES)]).map_err(|fault| ReadError {
                origin: origin.to_string(),
                fault,
            })?;
        Ok(Archive {
            origin: origin.to_string(),
            limits: Limits::default(),
            format,
            state: Unverified {
                input: Input::Bytes(bytes),
            },
        })
    }

    /// Read under other limits than the defaults.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Read and check everything: header and version (older versions through their
    /// converter), every checksum, every record. The records are kept for the import.
    pub fn verify(self) -> Result<Archive<Verified>, ReadError> {
        let fail = |fault| ReadError {
            origin: self.origin.clone(),
            fault,
        };
        let contents = match &self.state.input {
            Input::File(path) => {
                let (_, reader, _) = open_file(path).map_err(fail)?;
                read_any(self.format, reader, &self.limits, true)
            }
            Input::Bytes(bytes) => read_any(self.format, Cursor::new(bytes), &self.limits, true),
        }
        .map_err(fail)?;
        Ok(Archive {
            origin: self.origin,
            limits: self.limits,
            format: self.format,
            state: Verified {
                contents: Arc::new(contents),
            },
        })
    }
}

impl<S> Archive<S> {
    /// The form of the archive.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Where the archive was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl Archive<Verified> {
    pub fn manifest(&self) -> &Manifest {
        &self.state.contents.manifest
    }

    /// The node config files the archive carries.
    pub fn config_files(&self) -> &[ConfigFile] {
        &self.state.contents.config_files
    }

    /// The rows of `table`, in key order (empty when the archive does not hold the table).
    pub fn rows(&self, table: Table) -> &[Row] {
        self.state.contents.rows(table)
    }

    pub(crate) fn contents(&self) -> Arc<Contents> {
        self.state.contents.clone()
    }
}

/// Check an archive file completely, offline, without keeping its records: header, version,
/// every checksum, every record. The error names the first bad entry.
pub fn verify(path: &Path) -> Result<ArchiveSummary, ReadError> {
    verify_with_limits(path, &Limits::default())
}

/// [`verify`] under other limits.
pub fn verify_with_limits(path: &Path, limits: &Limits) -> Result<ArchiveSummary, ReadError> {
    let origin = path.display().to_string();
    let fail = |fault| ReadError {
        origin: origin.clone(),
        fault,
    };
    let (format, reader, file_bytes) = open_file(path).map_err(fail)?;
    let contents = read_any(format, reader, limits, false).map_err(fail)?;
    Ok(ArchiveSummary {
        origin: origin.clone(),
        format,
        file_bytes,
        records_total: contents.manifest.records_total(),
        manifest: contents.manifest,
    })
}

/// The manifest and per-table counts of an archive file. The manifest is only trusted once
/// everything it describes checks out, so this reads the whole file as [`verify`] does.
pub fn inspect(path: &Path) -> Result<ArchiveSummary, ReadError> {
    verify(path)
}

fn read_any<R: BufRead + Send>(
    format: Format,
    reader: R,
    limits: &Limits,
    keep: bool,
) -> Result<Contents, ReadFault> {
    match format {
        Format::Binary => read_binary(reader, limits, keep),
        Format::Json => read_json(reader, limits, keep),
    }
}

type Prefixed = BufReader<std::io::Chain<Cursor<Vec<u8>>, File>>;

/// Open an archive file: refuse export temporaries, tell the form from the first bytes.
fn open_file(path: &Path) -> Result<(Format, Prefixed, u64), ReadFault> {
    if path.extension().is_some_and(|e| e == "tmp") {
        return Err(ReadFault::TemporaryFile);
    }
    let mut file = File::open(path).map_err(ReadFault::Io)?;
    let file_bytes = file.metadata().map_err(ReadFault::Io)?.len();
    let mut prefix = Vec::with_capacity(PREFIX_BYTES);
    (&mut file)
        .take(PREFIX_BYTES as u64)
        .read_to_end(&mut prefix)
        .map_err(ReadFault::Io)?;
    let format = detect(&prefix)?;
    let reader = BufReader::with_capacity(1 << 20, Cursor::new(prefix).chain(file));
    Ok((format, reader, file_bytes))
}
