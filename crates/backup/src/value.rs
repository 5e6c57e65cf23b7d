//! Record values per table: decode and check them, and turn archive rows into the store
//! [`Command`]s that write them.
//!
//! Values are carried in the store's own record encoding (`docs/formats/store.md`: a version
//! byte, then postcard), except `cluster_config` (UTF-8 TOML text of one value) and the
//! client→broker rows of `inflight` (empty). A value is accepted only when it decodes, its
//! fields are in range, it agrees with its key, and re-encoding it gives the same bytes.

use holdfast_core::topic::{parse_filter, validate_name};
use holdfast_store::Command;
use holdfast_store::Table;
use holdfast_store::records::{
    AclRecord, ApiKeyRecord, BannedRecord, DeliveryRecord, InflightRecord, MessageRecord,
    RECORD_VERSION, RetainedRecord, SessionRecord, SubscriptionRecord, UserRecord,
};
use holdfast_store::schema::{DIR_IN, DIR_OUT};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::key::Key;

/// How much of a value to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Everything, including that re-encoding the record gives the same bytes.
    Full,
    /// A value of an archive that has passed verification (every value checked in full):
    /// decode and range checks only, without the re-encoding.
    Verified,
}

/// Decode a record value: known version byte, postcard body, canonical bytes (checked under
/// [`Check::Full`]).
pub(crate) fn decode_record<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    check: Check,
) -> Result<T, String> {
    let (&version, body) = bytes.split_first().ok_or("empty record value")?;
    if version != RECORD_VERSION {
        return Err(format!(
            "record version {version} is unknown (this holdfast reads version {RECORD_VERSION})"
        ));
    }
    let rec: T = postcard::from_bytes(body).map_err(|e| format!("undecodable record: {e}"))?;
    if check == Check::Verified {
        return Ok(rec);
    }
    // Re-encode into a buffer kept per thread: this runs once per record of every export,
    // verify and import.
    let canonical = REENCODED.with_borrow_mut(|buf| {
        buf.clear();
        let out = postcard::to_extend(&rec, std::mem::take(buf));
        match out {
            Ok(v) => {
                let same = v.as_slice() == body;
                *buf = v;
                same
            }
            Err(_) => false,
        }
    });
    if !canonical {
        return Err("record is not in canonical encoding (over-long or trailing bytes)".into());
    }
    Ok(rec)
}

thread_local! {
    static REENCODED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A checked value, typed.
pub(crate) enum Decoded {
    Config(String),
    User(UserRecord),
    Acl(AclRecord),
    Banned(BannedRecord),
    ApiKey(ApiKeyRecord),
    Retained(RetainedRecord),
    Session(SessionRecord),
    Subscription(SubscriptionRecord),
    Queued(DeliveryRecord),
    InflightOut(InflightRecord),
    InflightIn,
}

/// Decode a value of `table` and check it, and its agreement with its key.
pub(crate) fn decode_value(
    table: Table,
    key: &Key,
    value: &[u8],
    check: Check,
) -> Result<Decoded, String> {
    Ok(match table {
        Table::ClusterConfig => Decoded::Config(config_value(value)?),
        Table::Users => Decoded::User(decode_record(value, check)?),
        Table::Acl => {
            let rec: AclRecord = decode_record(value, check)?;
            in_range("acl who_kind", rec.who_kind, 2)?;
            in_range("acl permission", rec.permission, 1)?;
            in_range("acl action", rec.action, 2)?;
            Decoded::Acl(rec)
        }
        Table::Banned => {
            in_range("ban kind", key.u8(0)?, 2)?;
            Decoded::Banned(decode_record(value, check)?)
        }
        Table::ApiKeys => {
            let rec: ApiKeyRecord = decode_record(value, check)?;
            in_range("api key role", rec.role, 1)?;
            Decoded::ApiKey(rec)
        }
        Table::Retained => {
            let rec: RetainedRecord = decode_record(value, check)?;
            check_message(&rec.msg)?;
            if rec.msg.topic != key.str(0)? {
                return Err(format!(
                    "retained message topic {:?} differs from its key",
                    rec.msg.topic
                ));
            }
            Decoded::Retained(rec)
        }
        Table::Sessions => {
            let rec: SessionRecord = decode_record(value, check)?;
            if !(3..=5).contains(&rec.protocol) {
                return Err(format!(
                    "session protocol level {} is unknown",
                    rec.protocol
                ));
            }
            if let Some(will) = &rec.will {
                check_message(&will.msg)?;
            }
            Decoded::Session(rec)
        }
        Table::Subscriptions => {
            let filter = key.str(1)?;
            parse_filter(filter).map_err(|e| format!("subscription filter {filter:?}: {e}"))?;
            let rec: SubscriptionRecord = decode_record(value, check)?;
            in_range("subscription QoS", rec.qos, 2)?;
            in_range("retain handling", rec.retain_handling, 2)?;
            Decoded::Subscription(rec)
        }
        Table::Queued => {
            let rec: DeliveryRecord = decode_record(value, check)?;
            check_delivery(&rec)?;
            Decoded::Queued(rec)
        }
        Table::Inflight => {
            if key.u16(2)? == 0 {
                return Err("in-flight packet id 0 is not a valid MQTT packet id".into());
            }
            match key.u8(1)? {
                DIR_OUT => {
                    let rec: InflightRecord = decode_record(value, check)?;
                    in_range("in-flight state", rec.state, 1)?;
                    check_delivery(&rec.delivery)?;
                    Decoded::InflightOut(rec)
                }
                DIR_IN if value.is_empty() => Decoded::InflightIn,
                DIR_IN => return Err("client→broker in-flight rows have an empty value".into()),
                d => return Err(format!("in-flight direction {d} is neither 0 nor 1")),
            }
        }
    })
}

/// The command that writes this row, after checking the value against its key.
#[cfg(test)]
pub(crate) fn put_command(table: Table, key: &Key, value: &[u8]) -> Result<Command, String> {
    command_of(table, key, value, Check::Full)
}

/// [`put_command`] for a row of a verified archive (its encoding already checked in full).
pub(crate) fn put_command_verified(
    table: Table,
    key: &Key,
    value: &[u8],
) -> Result<Command, String> {
    command_of(table, key, value, Check::Verified)
}

fn command_of(table: Table, key: &Key, value: &[u8], check: Check) -> Result<Command, String> {
    let s = |i| key.str(i).map(str::to_string);
    Ok(match decode_value(table, key, value, check)? {
        Decoded::Config(value) => Command::PutConfig { key: s(0)?, value },
        Decoded::User(rec) => Command::PutUser {
            username: s(0)?,
            rec,
        },
        Decoded::Acl(rec) => Command::PutAcl {
            id: key.u64(0)?,
            rec,
        },
        Decoded::Banned(rec) => Command::PutBanned {
            kind: key.u8(0)?,
            value: s(1)?,
            rec,
        },
        Decoded::ApiKey(rec) => Command::PutApiKey { key_id: s(0)?, rec },
        Decoded::Retained(rec) => Command::PutRetained { topic: s(0)?, rec },
        Decoded::Session(rec) => Command::PutSession { client: s(0)?, rec },
        Decoded::Subscription(rec) => Command::PutSubscription {
            client: s(0)?,
            filter: s(1)?,
            rec,
        },
        Decoded::Queued(rec) => Command::Enqueue {
            client: s(0)?,
            seq: key.u64(1)?,
            rec,
        },
        Decoded::InflightOut(rec) => Command::PutInflightOut {
            client: s(0)?,
            packet_id: key.u16(2)?,
            rec,
        },
        Decoded::InflightIn => Command::PutInflightIn {
            client: s(0)?,
            packet_id: key.u16(2)?,
        },
    })
}

/// Check a value of `table` against its key (what `put_command` checks, without building
/// the command).
pub(crate) fn check_value(table: Table, key: &Key, value: &[u8]) -> Result<(), String> {
    decode_value(table, key, value, Check::Full).map(|_| ())
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

/// What `MessageRecord::to_message` would refuse, and an invalid topic name.
fn check_message(m: &MessageRecord) -> Result<(), String> {
    validate_name(&m.topic).map_err(|e| format!("message topic {:?}: {e}", m.topic))?;
    if m.qos > 2 {
        return Err(format!("invalid QoS {}", m.qos));
    }
    Ok(())
}

/// What `DeliveryRecord::to_delivery` would refuse.
fn check_delivery(d: &DeliveryRecord) -> Result<(), String> {
    check_message(&d.msg)?;
    if d.qos > 2 {
        return Err(format!("invalid QoS {}", d.qos));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_store::KeyPart;
    use holdfast_store::records;

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
