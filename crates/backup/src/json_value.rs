//! The JSON form of record values (`docs/formats/archive-v1.md` §JSON form).
//!
//! Records that carry bytes (message payloads, correlation data) have JSON mirrors here, so a
//! payload reads as text when it is UTF-8 (`"payload": "21.5"`) and as
//! `{"base64": "..."}` when it is not. Records without bytes use the store's own field names.
//! Reading JSON produces the store encoding again; the manifest checksums are over that
//! encoding, so both archive forms of one cut carry the same checksums.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use holdfast_store::records::{
    self, AclRecord, ApiKeyRecord, BannedRecord, DeliveryRecord, InflightRecord, MessageRecord,
    RetainedRecord, SessionRecord, SubscriptionRecord, UserRecord, WillRecord,
};
use holdfast_store::schema::DIR_IN;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::key::Key;
use crate::table::Table;
use crate::value::{Check, config_value, decode_record};

/// Bytes: a string when they are UTF-8, else `{"base64": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum BytesJson {
    Text(String),
    Base64(Base64Json),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Base64Json {
    base64: String,
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
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageJson {
    topic: String,
    payload: BytesJson,
    qos: u8,
    retain: bool,
    payload_utf8: bool,
    content_type: Option<String>,
    response_topic: Option<String>,
    correlation_data: Option<BytesJson>,
    user_properties: Vec<(String, String)>,
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
            payload: self.payload.into_bytes()?,
            qos: self.qos,
            retain: self.retain,
            payload_utf8: self.payload_utf8,
            content_type: self.content_type,
            response_topic: self.response_topic,
            correlation_data: self
                .correlation_data
                .map(BytesJson::into_bytes)
                .transpose()?,
            user_properties: self.user_properties,
            expires_at_ms: self.expires_at_ms,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetainedJson {
    msg: MessageJson,
    stored_at_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryJson {
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
struct InflightJson {
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
struct SessionJson {
    expiry_secs: u32,
    protocol: u8,
    created_at_ms: u64,
    disconnected_at_ms: Option<u64>,
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

/// The store encoding of a value of `table` given in JSON form. The JSON must be exactly
/// what a writer writes for that value (up to whitespace and member order): no unknown or
/// missing members, bytes as text when they are UTF-8. So one value has one JSON form.
pub(crate) fn value_from_json(table: Table, key: &Key, json: Value) -> Result<Vec<u8>, String> {
    let bytes = value_bytes_from_json(table, key, json.clone())?;
    if value_to_json(table, key, &bytes)? != json {
        return Err(
            "the value is not in the form a writer gives it (unknown or missing members, or \
             base64 for UTF-8 bytes)"
                .into(),
        );
    }
    Ok(bytes)
}

fn value_bytes_from_json(table: Table, key: &Key, json: Value) -> Result<Vec<u8>, String> {
    Ok(match table {
        Table::ClusterConfig => match json {
            Value::String(s) => s.into_bytes(),
            _ => return Err("a cluster_config value is a string of TOML text".into()),
        },
        Table::Users => plain_back::<UserRecord>(json)?,
        Table::Acl => plain_back::<AclRecord>(json)?,
        Table::Banned => plain_back::<BannedRecord>(json)?,
        Table::ApiKeys => plain_back::<ApiKeyRecord>(json)?,
        Table::Subscriptions => plain_back::<SubscriptionRecord>(json)?,
        Table::Retained => {
            let r: RetainedJson = from_value(json)?;
            records::encode(&RetainedRecord {
                msg: r.msg.into_record()?,
                stored_at_ms: r.stored_at_ms,
            })
        }
        Table::Sessions => {
            let s: SessionJson = from_value(json)?;
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
        Table::Queued => {
            let d: DeliveryJson = from_value(json)?;
            records::encode(&d.into_record()?)
        }
        Table::Inflight if key.u8(1)? == DIR_IN => match json {
            Value::Null => Vec::new(),
            _ => return Err("a client→broker in-flight value is null".into()),
        },
        Table::Inflight => {
            let i: InflightJson = from_value(json)?;
            records::encode(&InflightRecord {
                seq: i.seq,
                state: i.state,
                delivery: i.delivery.into_record()?,
            })
        }
    })
}

fn plain<T: Serialize + DeserializeOwned>(value: &[u8]) -> Result<Value, String> {
    to_value(&decode_record::<T>(value, Check::Full)?)
}

fn plain_back<T: Serialize + DeserializeOwned>(json: Value) -> Result<Vec<u8>, String> {
    Ok(records::encode(&from_value::<T>(json)?))
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| format!("cannot express the record in JSON: {e}"))
}

fn from_value<T: DeserializeOwned>(json: Value) -> Result<T, String> {
    serde_json::from_value(json).map_err(|e| format!("invalid record: {e}"))
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
        let key = Key::new(vec![crate::key::KeyPart::Str("bob".into())]);
        let ok = serde_json::json!({"password_hash": "h", "superuser": false, "created_at_ms": 1});
        assert!(value_from_json(Table::Users, &key, ok.clone()).is_ok());
        let mut extra = ok.clone();
        extra["admin"] = Value::Bool(true);
        assert!(value_from_json(Table::Users, &key, extra).is_err());
        let banned = serde_json::json!({"created_at_ms": 1, "expires_at_ms": null});
        let err = value_from_json(Table::Banned, &key, banned).expect_err("reason is missing");
        assert!(err.contains("missing"), "{err}");
        // Base64 for bytes that are text is not the writer's form.
        let key = Key::new(vec![crate::key::KeyPart::Str("t".into())]);
        let mut retained = serde_json::json!({"msg": {"topic": "t", "payload": "hi", "qos": 0,
            "retain": true, "payload_utf8": false, "content_type": null, "response_topic": null,
            "correlation_data": null, "user_properties": [], "expires_at_ms": null},
            "stored_at_ms": 1});
        assert!(value_from_json(Table::Retained, &key, retained.clone()).is_ok());
        retained["msg"]["payload"] = serde_json::json!({"base64": "aGk="});
        assert!(value_from_json(Table::Retained, &key, retained).is_err());
    }
}
