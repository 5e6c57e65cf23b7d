//! [`Key`]: a record's key in the archive, independent of the store engine's own key encoding.
//!
//! A key is the store's key tuple (`docs/formats/store.md`), encoded exactly as postcard
//! encodes that tuple: each `&str` part as a LEB128 varint byte length then its UTF-8 bytes,
//! `u8` as one byte, `u16`/`u64` as LEB128 varints. Decoding accepts only the canonical
//! encoding (no over-long varints, nothing left over), so one key has one byte form and the
//! checksums of the binary and JSON archive forms agree.
//!
//! `Key`'s ordering (parts compared in turn, strings bytewise) is the store's ordering of the
//! same tuples, so rows read from a table come in increasing `Key` order.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use holdfast_store::{KeyKind, KeyPart, Table};

/// A record's key: the parts of the store's key tuple, in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Vec<KeyPart>);

impl Key {
    pub(crate) fn new(parts: Vec<KeyPart>) -> Key {
        Key(parts)
    }

    /// The parts, in tuple order.
    pub fn parts(&self) -> &[KeyPart] {
        &self.0
    }

    /// The `i`th part as a string (key shapes are fixed per table, so callers know it is one).
    pub(crate) fn str(&self, i: usize) -> Result<&str, String> {
        match self.0.get(i) {
            Some(KeyPart::Str(s)) => Ok(s),
            _ => Err(format!("key part {i} is not a string")),
        }
    }

    pub(crate) fn u8(&self, i: usize) -> Result<u8, String> {
        match self.0.get(i) {
            Some(KeyPart::U8(v)) => Ok(*v),
            _ => Err(format!("key part {i} is not a u8")),
        }
    }

    pub(crate) fn u16(&self, i: usize) -> Result<u16, String> {
        match self.0.get(i) {
            Some(KeyPart::U16(v)) => Ok(*v),
            _ => Err(format!("key part {i} is not a u16")),
        }
    }

    pub(crate) fn u64(&self, i: usize) -> Result<u64, String> {
        match self.0.get(i) {
            Some(KeyPart::U64(v)) => Ok(*v),
            _ => Err(format!("key part {i} is not a u64")),
        }
    }

    /// Append the archive encoding of the key to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        for part in &self.0 {
            match part {
                KeyPart::Str(s) => {
                    write_varint(s.len() as u64, out);
                    out.extend_from_slice(s.as_bytes());
                }
                KeyPart::U8(v) => out.push(*v),
                KeyPart::U16(v) => write_varint(u64::from(*v), out),
                KeyPart::U64(v) => write_varint(*v, out),
            }
        }
    }

    /// The archive encoding of the key.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Decode a key of `table` from its archive encoding.
    pub(crate) fn decode(table: Table, bytes: &[u8]) -> Result<Key, String> {
        let mut rest = bytes;
        let mut parts = Vec::with_capacity(table.key_parts().len());
        for (name, kind) in table.key_parts() {
            let part = match kind {
                KeyKind::Str => {
                    let len = read_varint(&mut rest, u64::MAX)
                        .map_err(|e| format!("key part {name}: {e}"))?;
                    let len = usize::try_from(len)
                        .ok()
                        .filter(|l| *l <= rest.len())
                        .ok_or_else(|| format!("key part {name}: length runs past the key"))?;
                    let (s, tail) = rest.split_at(len);
                    rest = tail;
                    let s = std::str::from_utf8(s)
                        .map_err(|_| format!("key part {name} is not UTF-8"))?;
                    KeyPart::Str(s.to_string())
                }
                KeyKind::U8 => {
                    let (&b, tail) = rest
                        .split_first()
                        .ok_or_else(|| format!("key part {name}: key ends early"))?;
                    rest = tail;
                    KeyPart::U8(b)
                }
                KeyKind::U16 => {
                    let v = read_varint(&mut rest, u64::from(u16::MAX))
                        .map_err(|e| format!("key part {name}: {e}"))?;
                    // read_varint bounded the value by u16::MAX.
                    KeyPart::U16(v as u16)
                }
                KeyKind::U64 => KeyPart::U64(
                    read_varint(&mut rest, u64::MAX)
                        .map_err(|e| format!("key part {name}: {e}"))?,
                ),
            };
            parts.push(part);
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes left after the key", rest.len()));
        }
        Ok(Key(parts))
    }

    /// The JSON form: an object naming each part (`{"client": "c1", "seq": 7}`).
    pub(crate) fn to_json(&self, table: Table) -> Value {
        let mut map = Map::new();
        for ((name, _), part) in table.key_parts().iter().zip(&self.0) {
            map.insert((*name).to_string(), part_json(part));
        }
        Value::Object(map)
    }

    /// Read the JSON form of a key of `table` (tests; the reader streams through
    /// [`KeySeed`]).
    #[cfg(test)]
    pub(crate) fn from_json(table: Table, value: &Value) -> Result<Key, String> {
        use serde::de::DeserializeSeed;
        KeySeed(table).deserialize(value).map_err(|e| e.to_string())
    }
}

/// Reads the JSON form of a key of a table straight from the document: an object naming
/// each part exactly once, in any order.
pub(crate) struct KeySeed(pub Table);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a key: a JSON object naming the parts of a {} key",
            self.0
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let spec = self.0.key_parts();
        let mut parts: Vec<Option<KeyPart>> = vec![None; spec.len()];
        while let Some(name) = map.next_key::<String>()? {
            let Some(i) = spec.iter().position(|(n, _)| *n == name) else {
                return Err(de::Error::custom(format!(
                    "key has an unknown part {name:?}"
                )));
            };
            if parts[i].is_some() {
                return Err(de::Error::custom(format!(
                    "key part {name:?} appears twice"
                )));
            }
            let (name, kind) = spec[i];
            let bad = |_| de::Error::custom(format!("key part {name:?} is not a valid {kind:?}"));
            parts[i] = Some(match kind {
                KeyKind::Str => KeyPart::Str(map.next_value().map_err(bad)?),
                KeyKind::U8 => KeyPart::U8(map.next_value().map_err(bad)?),
                KeyKind::U16 => KeyPart::U16(map.next_value().map_err(bad)?),
                KeyKind::U64 => KeyPart::U64(map.next_value().map_err(bad)?),
            });
        }
        let parts = parts
            .into_iter()
            .zip(spec)
            .map(|(part, (name, _))| {
                part.ok_or_else(|| de::Error::custom(format!("key lacks its part {name:?}")))
            })
            .collect::<Result<Vec<_>, A::Error>>()?;
        Ok(Key(parts))
    }
}

fn part_json(part: &KeyPart) -> Value {
    match part {
        KeyPart::Str(s) => Value::String(s.clone()),
        KeyPart::U8(v) => Value::from(*v),
        KeyPart::U16(v) => Value::from(*v),
        KeyPart::U64(v) => Value::from(*v),
    }
}

/// A JSON array of the parts: `["c1", 7]`.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<Value> = self.0.iter().map(part_json).collect();
        write!(f, "{}", Value::Array(parts))
    }
}

/// Serialized as a JSON array of the parts, as [`Key`]'s `Display`.
impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for part in &self.0 {
            match part {
                KeyPart::Str(v) => seq.serialize_element(v)?,
                KeyPart::U8(v) => seq.serialize_element(v)?,
                KeyPart::U16(v) => seq.serialize_element(v)?,
                KeyPart::U64(v) => seq.serialize_element(v)?,
            }
        }
        seq.end()
    }
}

/// LEB128: 7 bits per byte, low bits first, high bit set on every byte but the last.
pub(crate) fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Read a canonical LEB128 varint no greater than `max`.
pub(crate) fn read_varint(input: &mut &[u8], max: u64) -> Result<u64, String> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = input
            .split_first()
            .ok_or("varint runs past the end of the key")?;
        *input = rest;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return Err("varint overflows 64 bits".into());
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && bits == 0 {
                return Err("over-long varint".into());
            }
            if value > max {
                return Err(format!("varint {value} is over its maximum {max}"));
            }
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_postcard_tuple_encoding() {
        let key = Key(vec![
            KeyPart::Str("client/ü".into()),
            KeyPart::U8(1),
            KeyPart::U16(300),
        ]);
        let expected = postcard::to_stdvec(&("client/ü", 1u8, 300u16)).expect("encodes");
        assert_eq!(key.encode(), expected);
        assert_eq!(Key::decode(Table::Inflight, &expected), Ok(key.clone()));
        let acl = Key(vec![KeyPart::U64(u64::MAX)]);
        assert_eq!(
            acl.encode(),
            postcard::to_stdvec(&u64::MAX).expect("encodes")
        );
        assert_eq!(key.to_string(), r#"["client/ü",1,300]"#);
    }

    #[test]
    fn non_canonical_and_short_keys_are_refused() {
        // "a" with an over-long length varint.
        assert!(Key::decode(Table::Users, &[0x81, 0x00, b'a']).is_err());
        assert!(Key::decode(Table::Users, &[2, b'a']).is_err());
        assert!(Key::decode(Table::Users, &[1, b'a', 0]).is_err());
        assert!(Key::decode(Table::Users, &[1, 0xff]).is_err());
        // u16 part over 65535.
        let mut bytes = vec![1, b'c', 0];
        write_varint(70_000, &mut bytes);
        assert!(Key::decode(Table::Inflight, &bytes).is_err());
        assert!(Key::decode(Table::Acl, &[0xff; 11]).is_err());
    }

    proptest! {
        #[test]
        fn keys_round_trip_in_bytes_and_json(
            client in "\\PC{0,12}", seq: u64, dir: u8, pid: u16,
        ) {
            let key = Key(vec![KeyPart::Str(client.clone()), KeyPart::U64(seq)]);
            prop_assert_eq!(Key::decode(Table::Queued, &key.encode()), Ok(key.clone()));
            prop_assert_eq!(Key::from_json(Table::Queued, &key.to_json(Table::Queued)), Ok(key));
            let key = Key(vec![KeyPart::Str(client), KeyPart::U8(dir), KeyPart::U16(pid)]);
            prop_assert_eq!(Key::decode(Table::Inflight, &key.encode()), Ok(key.clone()));
            prop_assert_eq!(Key::from_json(Table::Inflight, &key.to_json(Table::Inflight)), Ok(key));
        }

        #[test]
        fn varints_round_trip(v: u64) {
            let mut out = vec![];
            write_varint(v, &mut out);
            let mut input = out.as_slice();
            prop_assert_eq!(read_varint(&mut input, u64::MAX), Ok(v));
            prop_assert!(input.is_empty());
        }
    }
}
