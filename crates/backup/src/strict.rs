//! [`exact`]: deserialize a struct whose JSON object must name every field exactly once, no
//! more. The store's record types (`holdfast_store::records`) do not deny unknown fields, and
//! serde reads a missing `Option` field as `None`; a JSON archive's value must be exactly what
//! a writer writes (`docs/formats/archive-v1.md` §JSON form), so `json_value` reads the plain
//! record types through this, member by member, as the document streams past.
//!
//! The field names come from the type's own `Deserialize` (what `#[derive(Deserialize)]`
//! passes to `deserialize_struct`), so they are written down only once, in the store.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

/// Read a `T` (a struct with named fields) from a map that names each of its fields exactly
/// once: unknown, repeated and missing members are refused, `Option`s included.
pub(crate) fn exact<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let fields = struct_fields::<T>();
    d.deserialize_map(ExactVisitor::<T> {
        fields,
        marker: PhantomData,
    })
}

/// The field names `T`'s `Deserialize` asks for (empty when `T` is not a struct).
fn struct_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The probe always fails: it only records what was asked of it.
    let _ = T::deserialize(FieldsProbe(&mut fields));
    fields
}

struct FieldsProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldsProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("probed"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

struct ExactVisitor<T> {
    fields: &'static [&'static str],
    marker: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ExactVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with exactly the members {:?}", self.fields)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(ExactMap {
            inner: map,
            fields: self.fields,
            seen: vec![false; self.fields.len()],
        }))
    }
}

/// The members of the JSON object, checked against the fields as they pass.
struct ExactMap<A> {
    inner: A,
    fields: &'static [&'static str],
    seen: Vec<bool>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for ExactMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(name) = self.inner.next_key::<String>()? else {
            if let Some(i) = self.seen.iter().position(|seen| !seen) {
                return Err(de::Error::missing_field(self.fields[i]));
            }
            return Ok(None);
        };
        let Some(i) = self.fields.iter().position(|f| *f == name) else {
            return Err(de::Error::unknown_field(&name, self.fields));
        };
        if self.seen[i] {
            return Err(de::Error::duplicate_field(self.fields[i]));
        }
        self.seen[i] = true;
        let name: de::value::StringDeserializer<A::Error> = name.into_deserializer();
        seed.deserialize(name).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use holdfast_store::records::BannedRecord;

    use super::*;

    fn banned(json: &str) -> Result<BannedRecord, String> {
        let mut de = serde_json::Deserializer::from_str(json);
        exact::<BannedRecord, _>(&mut de).map_err(|e| e.to_string())
    }

    #[test]
    fn every_field_exactly_once() {
        assert_eq!(
            struct_fields::<BannedRecord>(),
            ["reason", "expires_at_ms", "created_at_ms"]
        );
        let ok = banned(r#"{"created_at_ms": 1, "reason": null, "expires_at_ms": 2}"#);
        assert_eq!(
            ok,
            Ok(BannedRecord {
                reason: None,
                expires_at_ms: Some(2),
                created_at_ms: 1
            })
        );
        let missing = banned(r#"{"created_at_ms": 1, "expires_at_ms": null}"#);
        assert!(
            missing
                .as_ref()
                .is_err_and(|e| e.contains("missing field `reason`")),
            "{missing:?}"
        );
        let extra = banned(r#"{"created_at_ms": 1, "reason": null, "expires_at_ms": 2, "x": 0}"#);
        assert!(
            extra
                .as_ref()
                .is_err_and(|e| e.contains("unknown field `x`")),
            "{extra:?}"
        );
        let twice =
            banned(r#"{"created_at_ms": 1, "reason": null, "reason": "r", "expires_at_ms": 2}"#);
        assert!(
            twice
                .as_ref()
                .is_err_and(|e| e.contains("duplicate field `reason`")),
            "{twice:?}"
        );
        assert!(banned("[1, null, 2]").is_err());
    }
}
