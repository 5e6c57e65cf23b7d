//! Record values per table: decode and check them, and turn archive rows into the store
//! [`Command`]s that write them.
//!
//! Values are carried in the store's own record encoding (`docs/formats/store.md`: a version
//! byte, then postcard), except `cluster_config` (UTF-8 TOML text of one value) and the
//! client→broker rows of `inflight` (empty). A value is accepted only when it decodes, its
//! fields are in range, it agrees with its key, and re-encoding it gives the same bytes.

use holdfast_core::topic::{parse_filter, validate_name};
use holdfast_store::Command;
use holdfast_store::records::{
    self, AclRecord, ApiKeyRecord, BannedRecord, DeliveryRecord, InflightRecord, MessageRecord,
    RECORD_VERSION, RetainedRecord, SessionRecord, SubscriptionRecord, UserRecord,
};
use holdfast_store::schema::{DIR_IN, DIR_OUT};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::key::Key;
use crate::table::Table;

/// Decode a record value: known version byte, postcard body, canonical bytes.
pub(crate) fn decode_record<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (&version, body) = bytes.split_first().ok_or("empty record value")?;
    if version != RECORD_VERSION {
        return Err(format!(
            "record version {version} is unknown (this holdfast reads version {RECORD_VERSION})"
        ));
    }
    let rec: T = postcard::from_bytes(body).map_err(|e| format!("undecodable record: {e}"))?;
    if records::encode(&rec) != bytes {
        return Err("record is not in canonical encoding (over-long or trailing bytes)".into());
    }
    Ok(rec)
}

/// The command that writes this row, after checking the value against its key.
pub(crate) fn put_command(table: Table, key: &Key, value: &[u8]) -> Result<Command, String> {
    Ok(match table {
        Table::ClusterConfig => Command::PutConfig {
            key: key.str(0)?.to_string(),
            value: config_value(value)?,
        },
        Table::Users => Command::PutUser {
            username: key.str(0)?.to_string(),
            rec: decode_record::<UserRecord>(value)?,
        },
        Table::Acl => {
            let rec: AclRecord = decode_record(value)?;
            in_range("acl who_kind", rec.who_kind, 2)?;
            in_range("acl permission", rec.permission, 1)?;
            in_range("acl action", rec.action, 2)?;
            Command::PutAcl {
                id: key.u64(0)?,
                rec,
            }
        }
        Table::Banned => {
            let kind = key.u8(0)?;
            in_range("ban kind", kind, 2)?;
            Command::PutBanned {
                kind,
                value: key.str(1)?.to_string(),
                rec: decode_record::<BannedRecord>(value)?,
            }
        }
        Table::ApiKeys => {
            let rec: ApiKeyRecord = decode_record(value)?;
            in_range("api key role", rec.role, 1)?;
            Command::PutApiKey {
                key_id: key.str(0)?.to_string(),
                rec,
            }
        }
        Table::Retained => {
            let topic = key.str(0)?;
            let rec: RetainedRecord = decode_record(value)?;
            check_message(&rec.msg)?;
            if rec.msg.topic != topic {
                return Err(format!(
                    "retained message topic {:?} differs from its key",
                    rec.msg.topic
                ));
            }
            Command::PutRetained {
                topic: topic.to_string(),
                rec,
            }
        }
        Table::Sessions => {
            let rec: SessionRecord = decode_record(value)?;
            if !(3..=5).contains(&rec.protocol) {
                return Err(format!(
                    "session protocol level {} is unknown",
                    rec.protocol
                ));
            }
            if let Some(will) = &rec.will {
                check_message(&will.msg)?;
            }
            Command::PutSession {
                client: key.str(0)?.to_string(),
                rec,
            }
        }
        Table::Subscriptions => {
            let filter = key.str(1)?;
            parse_filter(filter).map_err(|e| format!("subscription filter {filter:?}: {e}"))?;
            let rec: SubscriptionRecord = decode_record(value)?;
            rec.to_options()?;
            in_range("retain handling", rec.retain_handling, 2)?;
            Command::PutSubscription {
                client: key.str(0)?.to_string(),
                filter: filter.to_string(),
                rec,
            }
        }
        Table::Queued => {
            let rec: DeliveryRecord = decode_record(value)?;
            check_delivery(&rec)?;
            Command::Enqueue {
                client: key.str(0)?.to_string(),
                seq: key.u64(1)?,
                rec,
            }
        }
        Table::Inflight => {
            let client = key.str(0)?.to_string();
            let packet_id = key.u16(2)?;
            if packet_id == 0 {
                return Err("in-flight packet id 0 is not a valid MQTT packet id".into());
            }
            match key.u8(1)? {
                DIR_OUT => {
                    let rec: InflightRecord = decode_record(value)?;
                    rec.to_inflight()?;
                    check_delivery(&rec.delivery)?;
                    Command::PutInflightOut {
                        client,
                        packet_id,
                        rec,
                    }
                }
                DIR_IN if value.is_empty() => Command::PutInflightIn { client, packet_id },
                DIR_IN => return Err("client→broker in-flight rows have an empty value".into()),
                d => return Err(format!("in-flight direction {d} is neither 0 nor 1")),
            }
        }
    })
}

/// The command that removes this row.
pub(crate) fn delete_command(table: Table, key: &Key) -> Result<Command, String> {
    Ok(match table {
        Table::ClusterConfig => Command::DeleteConfig {
            key: key.str(0)?.to_string(),
        },
        Table::Users => Command::DeleteUser {
            username: key.str(0)?.to_string(),
        },
        Table::Acl => Command::DeleteAcl { id: key.u64(0)? },
        Table::Banned => Command::DeleteBanned {
            kind: key.u8(0)?,
            value: key.str(1)?.to_string(),
        },
        Table::ApiKeys => Command::DeleteApiKey {
            key_id: key.str(0)?.to_string(),
        },
        Table::Retained => Command::DeleteRetained {
            topic: key.str(0)?.to_string(),
        },
        // Also removes the client's subscriptions, queued and in-flight rows; the import
        // plan puts back those the archive holds.
        Table::Sessions => Command::DeleteSession {
            client: key.str(0)?.to_string(),
        },
        Table::Subscriptions => Command::DeleteSubscription {
            client: key.str(0)?.to_string(),
            filter: key.str(1)?.to_string(),
        },
        Table::Queued => Command::Dequeue {
            client: key.str(0)?.to_string(),
            seq: key.u64(1)?,
        },
        Table::Inflight => {
            let client = key.str(0)?.to_string();
            let packet_id = key.u16(2)?;
            match key.u8(1)? {
                DIR_IN => Command::DeleteInflightIn { client, packet_id },
                _ => Command::DeleteInflightOut { client, packet_id },
            }
        }
    })
}

/// A `cluster_config` value: UTF-8 text of exactly one TOML value.
pub(crate) fn config_value(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "config value is not UTF-8".to_string())?;
    let doc: toml::Table = toml::from_str(&format!("v = {text}"))
        .map_err(|e| format!("config value {text:?} is not one TOML value: {e}"))?;
    if doc.len() != 1 {
        return Err(format!("config value {text:?} is not one TOML value"));
    }
    Ok(text.to_string())
}

fn in_range(what: &str, v: u8, max: u8) -> Result<(), String> {
    if v > max {
        return Err(format!("{what} {v} is out of range 0..={max}"));
    }
    Ok(())
}

fn check_message(m: &MessageRecord) -> Result<(), String> {
    validate_name(&m.topic).map_err(|e| format!("message topic {:?}: {e}", m.topic))?;
    m.to_message().map(|_| ())
}

fn check_delivery(d: &DeliveryRecord) -> Result<(), String> {
    check_message(&d.msg)?;
    d.to_delivery().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyPart;

    fn key(parts: Vec<KeyPart>) -> Key {
        Key::new(parts)
    }

    #[test]
    fn values_are_checked_against_their_keys() {
        let rec = RetainedRecord {
            msg: MessageRecord {
                topic: "a/b".into(),
                payload: b"x".to_vec(),
                qos: 1,
                retain: true,
                payload_utf8: false,
                content_type: None,
                response_topic: None,
                correlation_data: None,
                user_properties: vec![],
                expires_at_ms: None,
            },
            stored_at_ms: 5,
        };
        let bytes = records::encode(&rec);
        let k = key(vec![KeyPart::Str("a/b".into())]);
        assert!(put_command(Table::Retained, &k, &bytes).is_ok());
        let other = key(vec![KeyPart::Str("a/c".into())]);
        let err = put_command(Table::Retained, &other, &bytes).expect_err("must be refused");
        assert!(err.contains("differs from its key"), "{err}");

        let mut long = bytes.clone();
        long.push(0);
        let err = put_command(Table::Retained, &k, &long).expect_err("must be refused");
        assert!(err.contains("canonical"), "{err}");
        let mut v2 = bytes.clone();
        v2[0] = 2;
        let err = put_command(Table::Retained, &k, &v2).expect_err("must be refused");
        assert!(err.contains("record version 2 is unknown"), "{err}");

        let bad_qos = RetainedRecord {
            msg: MessageRecord {
                qos: 3,
                ..rec.msg.clone()
            },
            ..rec
        };
        let err = put_command(Table::Retained, &k, &records::encode(&bad_qos))
            .expect_err("must be refused");
        assert!(err.contains("QoS 3"), "{err}");
    }

    #[test]
    fn config_values_must_be_one_toml_value() {
        assert_eq!(config_value(b"true"), Ok("true".into()));
        assert_eq!(config_value(br#""allow""#), Ok(r#""allow""#.into()));
        assert!(config_value(b"true\nx = 1").is_err());
        assert!(config_value(b"allow").is_err());
        assert!(config_value(&[0xff]).is_err());
    }

    #[test]
    fn inflight_rows_by_direction() {
        let k = key(vec![
            KeyPart::Str("c".into()),
            KeyPart::U8(DIR_IN),
            KeyPart::U16(7),
        ]);
        assert_eq!(
            put_command(Table::Inflight, &k, &[]),
            Ok(Command::PutInflightIn {
                client: "c".into(),
                packet_id: 7
            })
        );
        assert!(put_command(Table::Inflight, &k, &[1]).is_err());
        let k = key(vec![
            KeyPart::Str("c".into()),
            KeyPart::U8(2),
            KeyPart::U16(7),
        ]);
        assert!(put_command(Table::Inflight, &k, &[]).is_err());
    }
}
