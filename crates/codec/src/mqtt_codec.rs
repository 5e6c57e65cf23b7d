//! [`MqttCodec`]: a `tokio_util` codec that detects the protocol version from CONNECT and then
//! speaks it, converting to and from the 5.0 packet model.

use bytes::BytesMut;
use rmqtt_codec::error::DecodeError;
use rmqtt_codec::version::{self, VersionCodec};
use rmqtt_codec::{v3, v5};
use tokio_util::codec::{Decoder, Encoder};

use crate::{CodecError, Packet, convert};

/// The protocol a connection speaks, fixed by its CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1 or 3.1.1 (protocol levels 3 and 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte as it appears in CONNECT.
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }
}

#[derive(Debug)]
enum State {
    /// No packet seen yet: the next one must be CONNECT.
    Detect,
    V3(v3::Codec),
    V5(v5::Codec),
}

/// Decodes and encodes the packets of one connection.
#[derive(Debug)]
pub struct MqttCodec {
    state: State,
    /// Largest inbound packet accepted (remaining length), 0 for the protocol maximum.
    packet_bytes_max: u32,
}

impl MqttCodec {
    /// A codec for a fresh connection; `packet_bytes_max` bounds every inbound packet.
    pub fn new(packet_bytes_max: u32) -> Self {
        MqttCodec {
            state: State::Detect,
            packet_bytes_max,
        }
    }

    /// A codec already fixed to `version` (for clients, tests and tools).
    pub fn for_version(version: ProtocolVersion, packet_bytes_max: u32) -> Self {
        let state = match version {
            ProtocolVersion::V311 => State::V3(v3::Codec::new(packet_bytes_max)),
            ProtocolVersion::V5 => State::V5(v5::Codec::new(packet_bytes_max, 0)),
        };
        MqttCodec {
            state,
            packet_bytes_max,
        }
    }

    /// The version in use, once CONNECT has been read.
    pub fn version(&self) -> Option<ProtocolVersion> {
        match self.state {
            State::Detect => None,
            State::V3(_) => Some(ProtocolVersion::V311),
            State::V5(_) => Some(ProtocolVersion::V5),
        }
    }

    /// Limit outbound packets to the client's Maximum Packet Size (v5 only).
    pub fn set_max_outbound_bytes(&mut self, max: u32) {
        if let State::V5(c) = &mut self.state {
            c.set_max_outbound_size(max);
        }
    }

    fn detect(&mut self, src: &mut BytesMut) -> Result<bool, CodecError> {
        match VersionCodec.decode(src) {
            Ok(Some(version::ProtocolVersion::MQTT3)) => {
                self.state = State::V3(v3::Codec::new(self.packet_bytes_max));
                Ok(true)
            }
            Ok(Some(version::ProtocolVersion::MQTT5)) => {
                self.state = State::V5(v5::Codec::new(self.packet_bytes_max, 0));
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(DecodeError::UnsupportedPacketType) => Err(CodecError::NotConnect),
            Err(e) => Err(e.into()),
        }
    }
}

impl Decoder for MqttCodec {
    type Item = Packet;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, CodecError> {
        if matches!(self.state, State::Detect) && !self.detect(src)? {
            return Ok(None);
        }
        match &mut self.state {
            State::Detect => Ok(None),
            State::V3(c) => match c.decode(src)? {
                Some((p, _)) => Ok(Some(convert::v3_to_v5(p)?)),
                None => Ok(None),
            },
            State::V5(c) => Ok(c.decode(src)?.map(|(p, _)| p)),
        }
    }
}

impl Encoder<Packet> for MqttCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Packet, dst: &mut BytesMut) -> Result<(), CodecError> {
        match &mut self.state {
            State::V3(c) => {
                if let Some(p) = convert::v5_to_v3(item) {
                    c.encode(p, dst)?;
                }
                Ok(())
            }
            State::V5(c) => Ok(c.encode(item, dst)?),
            State::Detect => Err(CodecError::NotConnect),
        }
    }
}
