//! Record types kept in the tables. Each record is stored as one version byte followed by
//! the record's postcard encoding (little-endian varints, length-prefixed strings and bytes;
//! see `docs/formats/store.md`). Nothing machine-dependent (`usize`, node names) is stored.

use std::sync::Arc;

use bytes::Bytes;
use holdfast_codec::QoS;
use holdfast_core::{Delivery, Inflight, InflightState, Message, MessageProps, SubOptions};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::StoreError;

/// Current version byte of every record type.
pub const RECORD_VERSION: u8 = 1;

/// Encode a record with its version byte.
pub fn encode<T: Serialize>(rec: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(rec, &mut out);
    out
}

/// [`encode`] into `buf` (cleared first), reusing its allocation; returns the bytes.
pub fn encode_into<'b, T: Serialize>(rec: &T, buf: &'b mut Vec<u8>) -> &'b [u8] {
    buf.clear();
    buf.push(RECORD_VERSION);
    // Serializing plain data to a Vec cannot fail.
    *buf =
        postcard::to_extend(rec, std::mem::take(buf)).expect("postcard serializes plain records");
    buf.as_slice()
}

/// Decode a record, checking its version byte.
pub fn decode<T: DeserializeOwned>(
    table: &'static str,
    key: &dyn std::fmt::Display,
    bytes: &[u8],
) -> Result<T, StoreError> {
    let corrupted = |reason: String| StoreError::Corrupted {
        table,
        key: key.to_string(),
        reason,
    };
    match bytes.split_first() {
        Some((&RECORD_VERSION, body)) => {
            postcard::from_bytes(body).map_err(|e| corrupted(format!("undecodable record: {e}")))
        }
        Some((v, _)) => Err(corrupted(format!("unknown record version {v}"))),
        None => Err(corrupted("empty record".into())),
    }
}

/// An application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub topic: String,
    // Bytes, not a sequence of u8: the same postcard encoding, without a call per byte.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub payload_utf8: bool,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    #[serde(with = "serde_bytes")]
    pub correlation_data: Option<Vec<u8>>,
    pub user_properties: Vec<(String, String)>,
    /// Absolute expiry, Unix milliseconds.
    pub expires_at_ms: Option<u64>,
}

impl From<&Message> for MessageRecord {
    fn from(m: &Message) -> Self {
        MessageRecord {
            topic: m.topic.to_string(),
            payload: m.payload.to_vec(),
            qos: m.qos.value(),
            retain: m.retain,
            payload_utf8: m.props.payload_utf8,
            content_type: m.props.content_type.as_ref().map(|s| s.to_string()),
            response_topic: m.props.response_topic.as_ref().map(|s| s.to_string()),
            correlation_data: m.props.correlation_data.as_ref().map(|b| b.to_vec()),
            user_properties: m
                .props
                .user_properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            expires_at_ms: m.expires_at_ms,
        }
    }
}

/// QoS from its wire value.
pub fn qos_from(v: u8) -> Result<QoS, String> {
    match v {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        2 => Ok(QoS::ExactlyOnce),
        other => Err(format!("invalid QoS {other}")),
    }
}

impl MessageRecord {
    /// The message this record describes.
    pub fn to_message(&self) -> Result<Message, String> {
        self.clone().into_message()
    }

    /// The message this record describes, moving the payload rather than copying it.
    pub fn into_message(self) -> Result<Message, String> {
        Ok(Message {
            topic: self.topic.as_str().into(),
            payload: Bytes::from(self.payload),
            qos: qos_from(self.qos)?,
            retain: self.retain,
            props: MessageProps {
                payload_utf8: self.payload_utf8,
                content_type: self.content_type.as_deref().map(Into::into),
                response_topic: self.response_topic.as_deref().map(Into::into),
                correlation_data: self.correlation_data.map(Bytes::from),
                user_properties: self
                    .user_properties
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                    .collect(),
            },
            expires_at_ms: self.expires_at_ms,
        })
    }
}

/// A retained message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainedRecord {
    pub msg: MessageRecord,
    /// When it was retained, Unix milliseconds.
    pub stored_at_ms: u64,
}

/// A delivery to one session (queued or in flight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub msg: MessageRecord,
    /// Delivery QoS (min of published and granted).
    pub qos: u8,
    pub retain: bool,
    pub sub_ids: Vec<u32>,
}

impl From<&Delivery> for DeliveryRecord {
    fn from(d: &Delivery) -> Self {
        DeliveryRecord {
            msg: MessageRecord::from(&*d.msg),
            qos: d.qos.value(),
            retain: d.retain,
            sub_ids: d.sub_ids.clone(),
        }
    }
}

impl DeliveryRecord {
    /// The delivery this record describes.
    pub fn to_delivery(&self) -> Result<Delivery, String> {
        self.clone().into_delivery()
    }

    /// The delivery this record describes, moving the payload rather than copying it.
    pub fn into_delivery(self) -> Result<Delivery, String> {
        Ok(Delivery {
            msg: Arc::new(self.msg.into_message()?),
            qos: qos_from(self.qos)?,
            retain: self.retain,
            sub_ids: self.sub_ids,
        })
    }
}

/// An outgoing in-flight message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InflightRecord {
    pub seq: u64,
    /// 0: PUBLISH sent, awaiting PUBACK/PUBREC; 1: PUBREL sent, awaiting PUBCOMP.
    pub state: u8,
    pub delivery: DeliveryRecord,
}

impl From<&Inflight> for InflightRecord {
    fn from(i: &Inflight) -> Self {
        InflightRecord {
            seq: i.seq,
            state: match i.state {
                InflightState::AwaitAck => 0,
                InflightState::AwaitComp => 1,
            },
            delivery: DeliveryRecord::from(&i.delivery),
        }
    }
}

impl InflightRecord {
    /// The in-flight state this record describes.
    pub fn to_inflight(&self) -> Result<Inflight, String> {
        self.clone().into_inflight()
    }

    /// The in-flight state this record describes, moving the payload rather than copying it.
    pub fn into_inflight(self) -> Result<Inflight, String> {
        Ok(Inflight {
            seq: self.seq,
            delivery: self.delivery.into_delivery()?,
            state: match self.state {
                0 => InflightState::AwaitAck,
                1 => InflightState::AwaitComp,
                s => return Err(format!("invalid in-flight state {s}")),
            },
        })
    }
}

/// A will message kept with its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WillRecord {
    pub msg: MessageRecord,
    pub delay_secs: u32,
}

/// A persistent session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session Expiry Interval, seconds (`u32::MAX`: never).
    pub expiry_secs: u32,
    /// Protocol level of the last connection (4: 3.1.1, 5: 5.0).
    pub protocol: u8,
    pub created_at_ms: u64,
    /// When the client disconnected; `None` while connected.
    pub disconnected_at_ms: Option<u64>,
    pub will: Option<WillRecord>,
}

/// A subscription's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    pub sub_id: Option<u32>,
}

impl From<&SubOptions> for SubscriptionRecord {
    fn from(o: &SubOptions) -> Self {
        SubscriptionRecord {
            qos: o.qos.value(),
            no_local: o.no_local,
            retain_as_published: o.retain_as_published,
            retain_handling: o.retain_handling,
            sub_id: o.sub_id,
        }
    }
}

impl SubscriptionRecord {
    /// The options this record describes.
    pub fn to_options(&self) -> Result<SubOptions, String> {
        Ok(SubOptions {
            qos: qos_from(self.qos)?,
            no_local: self.no_local,
            retain_as_published: self.retain_as_published,
            retain_handling: self.retain_handling,
            sub_id: self.sub_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn message_record_round_trips(
            topic in "[a-z/]{1,20}", payload in prop::collection::vec(any::<u8>(), 0..64),
            qos in 0u8..3, retain: bool, utf8: bool, exp in prop::option::of(any::<u64>()),
            ups in prop::collection::vec(("[a-z]{0,5}", "[a-z]{0,5}"), 0..3),
        ) {
            let rec = MessageRecord {
                topic, payload, qos, retain, payload_utf8: utf8, content_type: Some("t".into()),
                response_topic: None, correlation_data: Some(vec![1, 2]), user_properties: ups,
                expires_at_ms: exp,
            };
            let back: MessageRecord = decode("t", &"k", &encode(&rec)).expect("decodes");
            prop_assert_eq!(&back, &rec);
            let again = MessageRecord::from(&back.to_message().expect("valid"));
            prop_assert_eq!(again, rec);
        }
    }

    #[test]
    fn unknown_version_is_reported_as_corruption() {
        let err =
            decode::<SubscriptionRecord>("subscriptions", &"c/f", &[9, 0]).expect_err("refused");
        assert!(
            err.to_string().contains("unknown record version 9"),
            "{err}"
        );
    }
}

/// A user allowed to connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// PHC string (`$argon2id$...`, `$pbkdf2-sha256$...`), bcrypt (`$2b$...`), Mosquitto
    /// (`$6$`, `$7$`) or salted SHA-256 (`$sha256-prefix$`, `$sha256-suffix$`).
    pub password_hash: String,
    /// Superusers bypass ACL rules.
    pub superuser: bool,
    pub created_at_ms: u64,
}

/// One ACL rule. Rules are evaluated in key (id) order; the first match decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclRecord {
    /// 0: every client; 1: the user named `who`; 2: the client id `who`.
    pub who_kind: u8,
    pub who: String,
    /// 0: deny, 1: allow.
    pub permission: u8,
    /// 0: publish, 1: subscribe, 2: both.
    pub action: u8,
    /// Topic filter; `${username}` and `${clientid}` are replaced before matching.
    pub topic: String,
}

/// A ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BannedRecord {
    pub reason: Option<String>,
    /// Unix ms after which the ban no longer applies.
    pub expires_at_ms: Option<u64>,
    pub created_at_ms: u64,
}

/// An admin API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub name: String,
    /// Hash of the secret (argon2id PHC string).
    pub secret_hash: String,
    /// 0: admin (read and write), 1: viewer (read only).
    pub role: u8,
    pub expires_at_ms: Option<u64>,
    pub created_at_ms: u64,
}
