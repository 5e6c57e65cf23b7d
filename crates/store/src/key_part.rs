//! [`KeyPart`]: one part of a table's key tuple, as a [`crate::Snapshot`] hands it out, so
//! that readers above the store (the backup archive) never see the engine's key types. The
//! shape of each table's key is [`crate::Table::key_parts`].

/// The kind of one key part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Str,
    U8,
    U16,
    U64,
}

/// One part of a key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyPart {
    Str(String),
    U8(u8),
    U16(u16),
    U64(u64),
}
