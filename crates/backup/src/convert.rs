//! Converters from older archive format versions to the current one (BACKUP.md §3,
//! "Versions"). Every released format version gets an explicit converter and a golden fixture
//! under `tests/fixtures/`; a newer version is refused, never guessed at.
//!
//! Format v1 is the first and current version, so its converter is the identity. When v2
//! comes, the v1 reader stays, and `Converter::V1` turns what it reads into v2 contents.

use crate::contents::Contents;
use crate::error::ReadFault;

/// The archive format version this holdfast writes.
pub const FORMAT_VERSION: u32 = 1;

/// Format versions this holdfast reads.
pub const READABLE_VERSIONS: &[u32] = &[1];

/// How to bring an archive of one format version to the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converter {
    /// Format v1: already current.
    V1,
}

/// The converter for `version`, or the reason it cannot be read.
pub fn converter_for(version: u32) -> Result<Converter, ReadFault> {
    match version {
        1 => Ok(Converter::V1),
        v if v > FORMAT_VERSION => Err(ReadFault::TooNew {
            found: v,
            supported: FORMAT_VERSION,
        }),
        v => Err(ReadFault::NoConverter {
            found: v,
            known: READABLE_VERSIONS
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

impl Converter {
    /// Contents read by this version's reader, as the current version's contents.
    pub(crate) fn convert(self, contents: Contents) -> Result<Contents, ReadFault> {
        match self {
            Converter::V1 => Ok(contents),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_and_unknown_versions_are_refused_by_name() {
        assert_eq!(converter_for(1).ok(), Some(Converter::V1));
        let err = converter_for(2).expect_err("must be refused").to_string();
        assert!(
            err.contains("format version 2") && err.contains("up to version 1"),
            "{err}"
        );
        let err = converter_for(0).expect_err("must be refused").to_string();
        assert!(
            err.contains("format version 0") && err.contains("cannot convert"),
            "{err}"
        );
    }
}
