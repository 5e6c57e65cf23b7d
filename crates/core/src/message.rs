//! The application message as it travels through the broker.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use holdfast_codec::{PublishProperties, QoS};

/// The MQTT 5.0 properties a message carries end to end (aliases and subscription
/// identifiers are per-connection and live elsewhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProps {
    /// Payload Format Indicator: the payload is UTF-8.
    pub payload_utf8: bool,
    pub content_type: Option<ByteString>,
    pub response_topic: Option<ByteString>,
    pub correlation_data: Option<Bytes>,
    pub user_properties: Vec<(ByteString, ByteString)>,
}

/// One published message. Shared (`Arc`) between every subscriber it fans out to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: ByteString,
    pub payload: Bytes,
    /// The QoS it was published with.
    pub qos: QoS,
    /// The RETAIN flag as published.
    pub retain: bool,
    pub props: MessageProps,
    /// Absolute expiry (Unix milliseconds) from Message Expiry Interval, if any.
    pub expires_at_ms: Option<u64>,
}

impl Message {
    /// Seconds left before expiry at `now_ms`, `None` if it never expires, `Some(0)` if expired.
    pub fn remaining_secs(&self, now_ms: u64) -> Option<u32> {
        self.expires_at_ms.map(|at| {
            let ms = at.saturating_sub(now_ms);
            u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
        })
    }

    /// Has the message expired at `now_ms`?
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }

    /// Build from a PUBLISH's properties (topic aliases must be resolved by then).
    pub fn props_from_publish(p: Option<&PublishProperties>) -> (MessageProps, Option<u32>) {
        match p {
            None => (MessageProps::default(), None),
            Some(p) => (
                MessageProps {
                    payload_utf8: p.is_utf8_payload,
                    content_type: p.content_type.clone(),
                    response_topic: p.response_topic.clone(),
                    correlation_data: p.correlation_data.clone(),
                    user_properties: p.user_properties.clone(),
                },
                p.message_expiry_interval.map(|v| v.get()),
            ),
        }
    }
}

/// A message on its way to one session: the shared message plus what this subscription
/// made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub msg: Arc<Message>,
    /// min(published QoS, granted QoS).
    pub qos: QoS,
    /// RETAIN flag to send (retain-as-published, or a retained message sent at subscribe).
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions.
    pub sub_ids: Vec<u32>,
}
