//! MQTT packet codec for Holdfast.
//!
//! Holdfast speaks MQTT 3.1.1 (and 3.1) and 5.0. The wire work is done by `rmqtt-codec`; this
//! crate wraps it so that the rest of the broker sees **one packet model**: the MQTT 5.0 packet
//! types. A 3.1.1 packet is converted to its 5.0 shape on decode (for example `clean_session=0`
//! becomes a session expiry of `u32::MAX`) and back on encode, so `core` and `server` never
//! branch on the protocol version except where the protocol itself differs.
//!
//! The codec starts in a *detect* state: the first packet must be a CONNECT, whose protocol
//! level selects the 3.1.1 or the 5.0 decoder for the rest of the connection.
//!
//! Neighbours: `server` drives a [`MqttCodec`] per connection; `core` consumes [`Packet`].

mod convert;
mod error;
mod mqtt_codec;

pub use error::CodecError;
pub use mqtt_codec::{MqttCodec, ProtocolVersion};

pub use rmqtt_codec::error::DecodeError;
pub use rmqtt_codec::types::{Publish, QoS};
/// The packet model every other crate uses: MQTT 5.0 shapes.
pub use rmqtt_codec::v5::{
    Auth, Connect, ConnectAck, ConnectAckReason, Disconnect, DisconnectReasonCode, LastWill,
    Packet, PublishAck, PublishAck2, PublishAck2Reason, PublishAckReason, PublishProperties,
    RetainHandling, Subscribe, SubscribeAck, SubscribeAckReason, SubscriptionOptions, Unsubscribe,
    UnsubscribeAck, UnsubscribeAckReason, UserProperties,
};

/// Encode one packet for `version` into a fresh buffer (used by tests, fuzzing and tools).
pub fn encode_packet(
    version: ProtocolVersion,
    packet: Packet,
) -> Result<bytes::BytesMut, CodecError> {
    use tokio_util::codec::Encoder;
    let mut codec = MqttCodec::for_version(version, 0);
    let mut buf = bytes::BytesMut::new();
    codec.encode(packet, &mut buf)?;
    Ok(buf)
}
