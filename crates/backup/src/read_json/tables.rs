//! The `tables` member of a JSON archive, read as it streams: [`TablesSeed`] takes each table
//! name (once only), [`TableSeed`] each table's array, [`RecordSeed`] each record, which is
//! checked, framed and tallied at once, and kept only when the caller keeps rows.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::DocumentReader;
use super::budget::Place;
use holdfast_store::Table;

use crate::error::ReadFault;
use crate::frame::{FRAME_OVERHEAD_BYTES, encode_frame};
use crate::json_value::{ValueJson, ValueSeed};
use crate::key::{Key, KeySeed};
use crate::value;

/// The `tables` object: table name to array of records.
pub(super) struct TablesSeed<'r, 'a>(pub(super) &'r mut DocumentReader<'a>);

impl<'de> DeserializeSeed<'de> for TablesSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TablesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of tables")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let doc = self.0;
        loop {
            doc.budget.short(Place::Tables);
            let Some(name) = map.next_key::<String>()? else {
                return Ok(());
            };
            let table = doc
                .table_named(&name)
                .map_err(|f| doc.fail::<A::Error>(f))?;
            map.next_value_seed(TableSeed {
                doc: &mut *doc,
                table,
            })?;
        }
    }
}

/// One table's array of records.
struct TableSeed<'r, 'a> {
    doc: &'r mut DocumentReader<'a>,
    table: Table,
}

impl<'de> DeserializeSeed<'de> for TableSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TableSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {} records", self.table)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let TableSeed { doc, table } = self;
        // An empty table is still tallied, so that "present" can be told from "missing".
        doc.tally.tables.entry(table).or_default();
        let record_max = doc.limits.json_record_bytes_max();
        let mut rows = Vec::new();
        for index in 0.. {
            doc.budget.window(
                Place::Record(table, index),
                "json_record_bytes_max",
                record_max,
            );
            let seed = RecordSeed { table };
            let Some((key, value)) = seq.next_element_seed(seed)? else {
                break;
            };
            let row = doc
                .record(table, index, key, value)
                .map_err(|f| doc.fail::<A::Error>(f))?;
            if let Some(row) = row {
                rows.push(row);
            }
        }
        if doc.keep {
            doc.tables.insert(table, rows);
        }
        Ok(())
    }
}

/// The members of a record.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum RecordMember {
    Key,
    Value,
}

/// One record, `{"key": ..., "value": ...}` (in either order), in its typed form.
struct RecordSeed {
    table: Table,
}

impl<'de> DeserializeSeed<'de> for RecordSeed {
    type Value = (Key, ValueJson);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed {
    type Value = (Key, ValueJson);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"a {} record: {{"key": ..., "value": ...}}"#,
            self.table
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut key = None;
        let mut value = None;
        while let Some(member) = map.next_key::<RecordMember>()? {
            match member {
                RecordMember::Key if key.is_some() => {
                    return Err(de::Error::duplicate_field("key"));
                }
                RecordMember::Key => key = Some(map.next_value_seed(KeySeed(self.table))?),
                RecordMember::Value if value.is_some() => {
                    return Err(de::Error::duplicate_field("value"));
                }
                RecordMember::Value => value = Some(map.next_value_seed(ValueSeed(self.table))?),
            }
        }
        let key = key.ok_or_else(|| de::Error::missing_field("key"))?;
        let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
        Ok((key, value))
    }
}

impl DocumentReader<'_> {
    /// Check, frame and tally one record as it is read; the row, if rows are kept.
    fn record(
        &mut self,
        table: Table,
        index: u64,
        key: Key,
        value: ValueJson,
    ) -> Result<Option<(Key, Vec<u8>)>, ReadFault> {
        let limits = self.limits;
        if self.tally.records >= limits.archive_records_max {
            return Err(ReadFault::limit(
                format!("tables.{table}"),
                "archive_records_max",
                self.tally.records + 1,
                limits.archive_records_max,
            ));
        }
        let at = |reason: String| {
            ReadFault::corrupt(format!("tables.{table}[{index}] (key {key})"), reason)
        };
        let value = value.into_store_bytes(&key).map_err(at)?;
        let key_bytes = key.encode();
        let size = (key_bytes.len() + value.len()) as u64;
        if size > limits.record_bytes_max {
            return Err(ReadFault::limit(
                format!("tables.{table}[{index}]"),
                "record_bytes_max",
                size,
                limits.record_bytes_max,
            ));
        }
        value::check_value(table, &key, &value).map_err(at)?;
        self.frame.clear();
        encode_frame(&key_bytes, &value, &mut self.frame);
        debug_assert_eq!(self.frame.len() as u64, size + FRAME_OVERHEAD_BYTES);
        self.tally.record(table, &key, &self.frame).map_err(at)?;
        self.courtesy.record(self.frame.len());
        Ok(self.keep.then_some((key, value)))
    }
}
