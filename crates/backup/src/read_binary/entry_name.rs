//! The names of a binary archive's tar entries: the only ones holdfast writes
//! (`MANIFEST.json`, `config/<file>`, `tables/<table>/<NNNNNN>.rec`), in their sections. Any
//! other name, an absolute path or one that climbs out with `..`, is refused as hostile.

use holdfast_store::Table;

use super::MANIFEST_ENTRY;
use crate::error::ReadFault;
use crate::manifest::check_config_name;

/// Where an entry belongs, from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EntryName {
    Config(String),
    Chunk(Table, u32),
    Manifest,
}

impl EntryName {
    /// Sections in the order they must appear.
    pub(super) fn section(&self) -> u8 {
        match self {
            EntryName::Config(_) => 0,
            EntryName::Chunk(..) => 1,
            EntryName::Manifest => 2,
        }
    }
}

/// Parse an entry name; anything holdfast does not write is refused as hostile.
pub(super) fn parse_name(raw: &[u8]) -> Result<EntryName, ReadFault> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    let name = std::str::from_utf8(raw)
        .map_err(|_| ReadFault::hostile(&shown, "the name is not UTF-8"))?;
    if name.starts_with('/') {
        return Err(ReadFault::hostile(name, "absolute path"));
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return Err(ReadFault::hostile(
            name,
            "path climbs out of the archive (..)",
        ));
    }
    if name == MANIFEST_ENTRY {
        return Ok(EntryName::Manifest);
    }
    if let Some(file) = name.strip_prefix("config/")
        && check_config_name(file).is_ok()
    {
        return Ok(EntryName::Config(file.to_string()));
    }
    if let Some(rest) = name.strip_prefix("tables/")
        && let Some((table, chunk)) = rest.split_once('/')
        && let Some(table) = Table::from_name(table)
        && let Some(digits) = chunk.strip_suffix(".rec")
        && digits.len() == 6
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(index) = digits.parse::<u32>()
    {
        return Ok(EntryName::Chunk(table, index));
    }
    Err(ReadFault::hostile(
        name,
        "not an entry holdfast writes (MANIFEST.json, config/<file>, tables/<table>/<NNNNNN>.rec)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_strictly() {
        assert_eq!(parse_name(b"MANIFEST.json").ok(), Some(EntryName::Manifest));
        assert_eq!(
            parse_name(b"tables/queued/000012.rec").ok(),
            Some(EntryName::Chunk(Table::Queued, 12))
        );
        assert_eq!(
            parse_name(b"config/holdfast.toml").ok(),
            Some(EntryName::Config("holdfast.toml".into()))
        );
        for bad in [
            &b"/etc/passwd"[..],
            b"../MANIFEST.json",
            b"tables/../../x",
            b"tables/users/0.rec",
            b"tables/meta/000000.rec",
            b"config/.hidden",
            b"config/a/b",
            b"manifest.json",
            b"\xff",
        ] {
            let err = parse_name(bad).expect_err("must be refused");
            assert!(matches!(err, ReadFault::Hostile { .. }), "{err}");
        }
    }
}
