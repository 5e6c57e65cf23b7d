//! EMQX exports, told apart by their content: a 4.x `emqx_ctl data export` JSON object is
//! read by [`v4`]; a 5.x `emqx ctl data export` archive (gzip) is recognised and refused with
//! a message, as its reader (Erlang `disk_log` and term format, `cluster.hocon`) is not
//! written yet.

use std::path::Path;

use crate::mosquitto::file_name;
use crate::{ConvertError, ForeignSource};

pub mod v4;

/// The reader for the export in `bytes` (read from `path`).
pub fn open(path: &Path, bytes: &[u8]) -> Result<Box<dyn ForeignSource>, ConvertError> {
    let file = file_name(path);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(ConvertError::Unsupported(format!(
            "{file}: an EMQX 5.x export archive (gzip). This version of holdfast reads EMQX \
             4.x JSON exports only; 5.x archives are not converted yet"
        )));
    }
    if v4::looks_like(bytes) {
        return Ok(Box::new(v4::parse(&file, bytes)?));
    }
    Err(ConvertError::Unsupported(format!(
        "{file}: neither an EMQX 4.x JSON export nor a 5.x archive"
    )))
}
