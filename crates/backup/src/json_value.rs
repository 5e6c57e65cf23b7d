//! The JSON form of record values (`docs/formats/archive-v1.md` §JSON form).
//!
//! Records that carry bytes (message payloads, correlation data) have JSON mirrors here, so a
//! payload reads as text when it is UTF-8 (`"payload": "21.5"`) and as
//! `{"base64": "..."}` when it is not. Records without bytes use the store's own field names.
//! Reading JSON produces the store encoding again; the manifest checksums are over that
//! encoding, so both archive forms of one cut carry the same checksums.
//!
//! A value is read straight from the document into its typed form ([`ValueSeed`]), never
//! through a generic JSON tree, so reading takes memory in proportion to the record. It must
//! be exactly what a writer writes: every member named once (`deny_unknown_fields` and
//! [`present`] on the mirrors here, [`exact`] for the store's own record types), bytes as text
//! whenever they are UTF-8. So one value has one JSON form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use holdfast_store::Table;
use holdfast_store::records::{
    self, AclRecord, ApiKeyRecord, BannedRecord, DeliveryRecord, InflightRecord, MessageRecord,
    RetainedRecord, SessionRecord, SubscriptionRecord, UserRecord, WillRecord,
};
use holdfast_store::schema::DIR_IN;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::key::Key;
use crate::strict::exact;
use crate::value::{Check, config_value, decode_record};

/// Bytes: a string when they are UTF-8, else `{"base64": "..."}`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum BytesJson {
    Text(String),
    Base64(Base64Json),
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Base64Json {
    base64: String,
}

/// Read by hand rather than as an untagged enum, which would buffer the whole value (a
/// payload of up to `record_bytes_max`) once more to try each variant.
impl<'de> Deserialize<'de> for BytesJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BytesJson, D::Error> {
        d.deserialize_any(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = BytesJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(r#"bytes: a string, or {"base64": "..."}"#)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<BytesJson, E> {
        Ok(BytesJson::Text(s.to_string()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<BytesJson, E> {
        Ok(BytesJson::Text(s))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BytesJson, A::Error> {
        const FIELDS: &[&str] = &["base64"];
        let mut base64 = None;
        while let Some(name) = map.next_key::<String>()? {
            if name != "base64" {
                return Err(de::Error::unknown_field(&name, FIELDS));
            }
            if base64.is_some() {
                return Err(de::Error::duplicate_field("base64"));
            }
            base64 = Some(map.next_value::<String>()?);
        }
        let base64 = base64.ok_or_else(|| de::Error::missing_field("base64"))?;
        Ok(BytesJson::Base64(Base64Json { base64 }))
    }
}

/// For `Option` members that must be present (`null` when absent): with `deserialize_with`,
/// serde refuses a missing member instead of reading it as `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

impl BytesJson {
    pub(crate) fn from_bytes(bytes: &[u8]) -> BytesJson {
        match std::str::from_utf8(bytes) {
            Ok(s) => BytesJson::Text(s.to_string()),
            Err(_) => BytesJson::Base64(Base64Json {
                base64: BASE64.encode(bytes),
            }),
        }
    }

    pub(crate) fn into_bytes(self) -> Result<Vec<u8>, String> {
        match self {
            BytesJson::Text(s) => Ok(s.into_bytes()),
            BytesJson::Base64(b) => BASE64
                .decode(b.base64.as_bytes())
                .map_err(|e| format!("invalid base64: {e}")),
        }
    }

    /// The bytes of a record member, which must be in the writer's form: base64 only for
    /// bytes that are not UTF-8.
    fn into_record_bytes(self) -> Result<Vec<u8>, String> {
        let base64 = matches!(self, BytesJson::Base64(_));
        let bytes = self.into_bytes()?;
        if base64 && std::str::from_utf8(&bytes).is_ok() {
            return Err(
                "bytes that are UTF-8 given as base64 (a writer gives them as a JSON string)"
                    .into(),
            );
        }
        Ok(bytes)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageJson {
    topic: String,
    payload: BytesJson,
    qos: u8,
    retain: bool,
    payload_utf8: bool,
    #[serde(deserialize_with = "present")]
    content_type: Option<String>,
    #[serde(deserialize_with = "present")]
    response_topic: Option<String>,
    #[serde(deserialize_with = "present")]
    correlation_data: Option<BytesJson>,
    user_properties: Vec<(String, String)>,
    #[serde(deserialize_with = "present")]
    expires_at_ms: Option<u64>,
}

impl From<&MessageRecord> for MessageJson {
    fn from(m: &MessageRecord) -> Self {
        MessageJson {
            topic: m.topic.clone(),
            payload: BytesJson::from_bytes(&m.payload),
            qos: m.qos,
            retain: m.retain,
            payload_utf8: m.payload_utf8,
            content_type: m.content_type.clone(),
            response_topic: m.response_topic.clone(),
            correlation_data: m.correlation_data.as_deref().map(BytesJson::from_bytes),
            user_properties: m.user_properties.clone(),
            expires_at_ms: m.expires_at_ms,
        }
    }
}

impl MessageJson {
    fn into_record(self) -> Result<MessageRecord, String> {
        Ok(MessageRecord {
            topic: self.topic,
            payload: self.payload.into_record_bytes()?,
            qos: self.qos,
            retain: self.retain,
            payload_utf8: self.payload_utf8,
            content_type: self.content_type,
            response_topic: self.response_topic,
            correlation_data: self
                .correlation_data
                .map(BytesJson::into_record_bytes)
                .transpose()?,
            user_properties: self.user_properties,
            expires_at_ms: self.expires_at_ms,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetainedJson {
    msg: MessageJson,
    stored_at_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveryJson {
    msg: MessageJson,
    qos: u8,
    retain: bool,
    sub_ids: Vec<u32>,
}

impl From<&DeliveryRecord> for DeliveryJson {
    fn from(d: &DeliveryRecord) -> Self {
        DeliveryJson {
            msg: MessageJson::from(&d.msg),
            qos: d.qos,
            retain: d.retain,
            sub_ids: d.sub_ids.clone(),
        }
    }
}

impl DeliveryJson {
    fn into_record(self) -> Result<DeliveryRecord, String> {
        Ok(DeliveryRecord {
            msg: self.msg.into_record()?,
            qos: self.qos,
            retain: self.retain,
            sub_ids: self.sub_ids,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InflightJson {
    seq: u64,
    state: u8,
    delivery: DeliveryJson,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WillJson {
    msg: MessageJson,
    delay_secs: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionJson {
    expiry_secs: u32,
    protocol: u8,
    created_at_ms: u64,
    #[serde(deserialize_with = "present")]
    disconnected_at_ms: Option<u64>,
    #[serde(deserialize_with = "present")]
    will: Option<WillJson>,
}

/// The JSON form of one value of `table`.
pub(crate) fn value_to_json(table: Table, key: &Key, value: &[u8]) -> Result<Value, String> {
    let json = match table {
        Table::ClusterConfig => Value::String(config_value(value)?),
        Table::Users => plain::<UserRecord>(value)?,
        Table::Acl => plain::<AclRecord>(value)?,
        Table::Banned => plain::<BannedRecord>(value)?,
        Table::ApiKeys => plain::<ApiKeyRecord>(value)?,
        Table::Subscriptions => plain::<SubscriptionRecord>(value)?,
        Table::Retained => {
            let r: RetainedRecord = decode_record(value, Check::Full)?;
            to_value(&RetainedJson {
                msg: MessageJson::from(&r.msg),
                stored_at_ms: r.stored_at_ms,
            })?
        }
        Table::Sessions => {
            let s: SessionRecord = decode_record(value, Check::Full)?;
            to_value(&SessionJson {
                expiry_secs: s.expiry_secs,
                protocol: s.protocol,
                created_at_ms: s.created_at_ms,
                disconnected_at_ms: s.disconnected_at_ms,
                will: s.will.as_ref().map(|w| WillJson {
                    msg: MessageJson::from(&w.msg),
                    delay_secs: w.delay_secs,
                }),
            })?
        }
        Table::Queued => {
            let d: DeliveryRecord = decode_record(value, Check::Full)?;
            to_value(&DeliveryJson::from(&d))?
        }
        Table::Inflight if key.u8(1)? == DIR_IN => Value::Null,
        Table::Inflight => {
            let i: InflightRecord = decode_record(value, Check::Full)?;
            to_value(&InflightJson {
                seq: i.seq,
                state: i.state,
                delivery: DeliveryJson::from(&i.delivery),
            })?
        }
    };
    Ok(json)
}

/// One value of a table, read from JSON into its typed form ([`ValueSeed`]).
pub(crate) enum ValueJson {
    Config(String),
    Users(UserRecord),
    Acl(AclRecord),
    Banned(BannedRecord),
    ApiKeys(ApiKeyRecord),
    Subscriptions(SubscriptionRecord),
    Retained(RetainedJson),
    Sessions(SessionJson),
    Queued(DeliveryJson),
    /// `null` for a client→broker entry; which one it must be depends on the key, which may
    /// come after the value in the document.
    Inflight(Option<InflightJson>),
}

/// Reads a value of a table in its JSON form, as exactly the members a writer writes for it.
pub(crate) struct ValueSeed(pub Table);

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = ValueJson;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ValueJson, D::Error> {
        Ok(match self.0 {
            Table::ClusterConfig => ValueJson::Config(String::deserialize(d)?),
            Table::Users => ValueJson::Users(exact(d)?),
            Table::Acl => ValueJson::Acl(exact(d)?),
            Table::Banned => ValueJson::Banned(exact(d)?),
            Table::ApiKeys => ValueJson::ApiKeys(exact(d)?),
            Table::Subscriptions => ValueJson::Subscriptions(exact(d)?),
            Table::Retained => ValueJson::Retained(RetainedJson::deserialize(d)?),
            Table::Sessions => ValueJson::Sessions(SessionJson::deserialize(d)?),
            Table::Queued => ValueJson::Queued(DeliveryJson::deserialize(d)?),
            Table::Inflight => ValueJson::Inflight(Option::<InflightJson>::deserialize(d)?),
        })
    }
}

impl ValueJson {
    /// The store encoding of the value of `key`.
    pub(crate) fn into_store_bytes(self, key: &Key) -> Result<Vec<u8>, String> {
        Ok(match self {
            ValueJson::Config(s) => s.into_bytes(),
            ValueJson::Users(r) => records::encode(&r),
            ValueJson::Acl(r) => records::encode(&r),
            ValueJson::Banned(r) => records::encode(&r),
            ValueJson::ApiKeys(r) => records::encode(&r),
            ValueJson::Subscriptions(r) => records::encode(&r),
            ValueJson::Retained(r) => records::encode(&RetainedRecord {
                msg: r.msg.into_record()?,
                stored_at_ms: r.stored_at_ms,
            }),
            ValueJson::Sessions(s) => {
                let will = match s.will {
                    Some(w) => Some(WillRecord {
                        msg: w.msg.into_record()?,
                        delay_secs: w.delay_secs,
                    }),
                    None => None,
                };
                records::encode(&SessionRecord {
                    expiry_secs: s.expiry_secs,
                    protocol: s.protocol,
                    created_at_ms: s.created_at_ms,
                    disconnected_at_ms: s.disconnected_at_ms,
                    will,
                })
            }
            ValueJson::Queued(d) => records::encode(&d.into_record()?),
            ValueJson::Inflight(i) => match (key.u8(1)? == DIR_IN, i) {
                (true, None) => Vec::new(),
                (true, Some(_)) => return Err("a client→broker in-flight value is null".into()),
                (false, None) => {
                    return Err("a broker→client in-flight value is an object, not null".into());
                }
                (false, Some(i)) => records::encode(&InflightRecord {
                    seq: i.seq,
                    state: i.state,
                    delivery: i.delivery.into_record()?,
                }),
            },
        })
    }
}

/// The store encoding of a value of `table` given as a JSON tree (tests; the reader streams
/// through [`ValueSeed`]).
#[cfg(test)]
pub(crate) fn value_from_json(table: Table, key: &Key, json: Value) -> Result<Vec<u8>, String> {
    ValueSeed(table)
        .deserialize(json)
        .map_err(|e| format!("invalid record: {e}"))?
        .into_store_bytes(key)
}

fn plain<T: Serialize + DeserializeOwned>(value: &[u8]) -> Result<Value, String> {
    to_value(&decode_record::<T>(value, Check::Full)?)
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| format!("cannot express the record in JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_as_text_or_base64() {
        let text = serde_json::to_string(&BytesJson::from_bytes(b"21.5")).expect("json");
        assert_eq!(text, r#""21.5""#);
        let bin = serde_json::to_string(&BytesJson::from_bytes(&[0xff, 0])).expect("json");
        assert_eq!(bin, r#"{"base64":"/wA="}"#);
        let back: BytesJson = serde_json::from_str(&bin).expect("parses");
        assert_eq!(back.into_bytes(), Ok(vec![0xff, 0]));
        let extra: Result<BytesJson, _> = serde_json::from_str(r#"{"base64":"","x":1}"#);
        assert!(extra.is_err());
    }

    #[test]
    fn plain_records_must_name_exactly_their_fields() {
        let key = Key::new(vec![holdfast_store::KeyPart::Str("bob".into())]);
        let ok = serde_json::json!({"password_hash": "h", "superuser": false, "created_at_ms": 1});
        assert!(value_from_json(Table::Users, &key, ok.clone()).is_ok());
        let mut extra = ok.clone();
        extra["admin"] = Value::Bool(true);
        assert!(value_from_json(Table::Users, &key, extra).is_err());
        let banned = serde_json::json!({"created_at_ms": 1, "expires_at_ms": null});
        let err = value_from_json(Table::Banned, &key, banned).expect_err("reason is missing");
        assert!(err.contains("missing"), "{err}");
        // Base64 for bytes that are text is not the writer's form.
        let key = Key::new(vec![holdfast_store::KeyPart::Str("t".into())]);
        let mut retained = serde_json::json!({"msg": {"topic": "t", "payload": "hi", "qos": 0,
            "retain": true, "payload_utf8": false, "content_type": null, "response_topic": null,
            "correlation_data": null, "user_properties": [], "expires_at_ms": null},
            "stored_at_ms": 1});
        assert!(value_from_json(Table::Retained, &key, retained.clone()).is_ok());
        retained["msg"]["payload"] = serde_json::json!({"base64": "aGk="});
        assert!(value_from_json(Table::Retained, &key, retained).is_err());
    }
}
