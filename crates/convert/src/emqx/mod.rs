//! EMQX exports. Only the 4.x JSON export is read so far ([`v4`]).

pub mod v4;
