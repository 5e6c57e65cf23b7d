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
    /// CONNECT had the bridge bit (0x80) on a 3.1/3.1.1 protocol level, as Mosquitto's
    /// bridges send with `try_private true`: the peer is a broker bridging to this one.
    bridge: bool,
}

/// Where the protocol level byte of the CONNECT at the start of `src` is, once enough of the
/// packet has arrived to tell (fixed header, remaining length, protocol name).
fn connect_level_offset(src: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        let b = *src.get(i)?;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i > 4 {
            return None;
        }
    }
    let name_len = usize::from(u16::from_be_bytes([*src.get(i)?, *src.get(i + 1)?]));
    let at = i + 2 + name_len;
    src.get(at).map(|_| at)
}

impl MqttCodec {
    /// A codec for a fresh connection; `packet_bytes_max` bounds every inbound packet.
    pub fn new(packet_bytes_max: u32) -> Self {
        MqttCodec {
            state: State::Detect,
            packet_bytes_max,
            bridge: false,
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
            bridge: false,
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

    /// Whether the CONNECT carried the bridge bit (protocol level 0x83 or 0x84).
    pub fn is_bridge(&self) -> bool {
        self.bridge
    }

    /// Limit outbound packets to the client's Maximum Packet Size (v5 only).
    pub fn set_max_outbound_bytes(&mut self, max: u32) {
        if let State::V5(c) = &mut self.state {
            c.set_max_outbound_size(max);
        }
    }

    fn detect(&mut self, src: &mut BytesMut) -> Result<bool, CodecError> {
        // The bridge bit is taken off the level before the inner decoders see it: they know
        // only levels 3, 4 and 5. Level 5 with the bit is not something Mosquitto sends.
        if let Some(at) = connect_level_offset(src)
            && matches!(src[at], 0x83 | 0x84)
        {
            src[at] &= 0x7f;
            self.bridge = true;
        }
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

impl MqttCodec {
    /// Refuse the next packet in `src` once its fixed header shows that the whole packet
    /// (fixed header included, as MQTT 5.0 §3.1.2.11.4 counts Maximum Packet Size) is larger
    /// than `packet_bytes_max`; the inner decoders bound only the remaining length.
    fn check_total_size(&self, src: &[u8]) -> Result<(), CodecError> {
        if self.packet_bytes_max == 0 {
            return Ok(());
        }
        let mut remaining: u64 = 0;
        for (i, byte) in src.iter().skip(1).take(4).enumerate() {
            remaining |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                let total = 1 + (i as u64 + 1) + remaining;
                if total > u64::from(self.packet_bytes_max) {
                    return Err(CodecError::TooLarge {
                        size: u32::try_from(total).unwrap_or(u32::MAX),
                        max: self.packet_bytes_max,
                    });
                }
                return Ok(());
            }
        }
        // Header incomplete (or malformed: the inner decoder names that).
        Ok(())
    }
}

impl Decoder for MqttCodec {
    type Item = Packet;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, CodecError> {
        // The size is checked before the version is known, so that a first packet announcing
        // more than the limit is refused on its fixed header, not after the connect timeout.
        self.check_total_size(src)?;
        if matches!(self.state, State::Detect) {
            if src.first().is_some_and(|b| b >> 4 != 1) {
                return Err(CodecError::NotConnect);
            }
            if !self.detect(src)? {
                return Ok(None);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_packet_too_large_or_not_connect_is_refused_on_its_fixed_header() {
        let mut codec = MqttCodec::new(1024);
        let mut b = BytesMut::from(&[0x10u8, 0xff, 0xff, 0xff, 0x7f][..]);
        match codec.decode(&mut b) {
            Err(CodecError::TooLarge { max, .. }) => assert_eq!(max, 1024),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let mut codec = MqttCodec::new(1024);
        let mut b = BytesMut::from(&[0x30u8][..]);
        assert!(matches!(codec.decode(&mut b), Err(CodecError::NotConnect)));
        // A CONNECT header alone waits for more.
        let mut codec = MqttCodec::new(1024);
        let mut b = BytesMut::from(&[0x10u8, 0x20][..]);
        assert!(matches!(codec.decode(&mut b), Ok(None)));
    }

    /// A v5 QoS 0 PUBLISH to `t` whose whole encoding is `total` bytes (at most 129).
    fn publish_of_total(total: usize) -> BytesMut {
        let remaining = total - 2;
        let mut b = BytesMut::new();
        b.extend_from_slice(&[0x30, u8::try_from(remaining).expect("< 128")]);
        b.extend_from_slice(&[0x00, 0x01, b't', 0x00]);
        b.extend_from_slice(&vec![b'x'; remaining - 4]);
        b
    }

    fn v5_codec(max: u32) -> MqttCodec {
        MqttCodec::for_version(ProtocolVersion::V5, max)
    }

    #[test]
    fn the_maximum_packet_size_counts_the_fixed_header() {
        let mut at_limit = publish_of_total(100);
        assert!(matches!(
            v5_codec(100).decode(&mut at_limit),
            Ok(Some(Packet::Publish(_)))
        ));
        let mut over = publish_of_total(101);
        match v5_codec(100).decode(&mut over) {
            Err(CodecError::TooLarge { size, max }) => assert_eq!((size, max), (101, 100)),
            other => panic!("a 101-byte packet over a 100-byte maximum: {other:?}"),
        }
    }

    #[test]
    fn the_bridge_bit_is_accepted_on_3_1_1_and_remembered() {
        let connect = |level: u8| {
            let mut b = BytesMut::new();
            // CONNECT, remaining 13: "MQTT", level, flags (clean), keepalive 60, id "c".
            b.extend_from_slice(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', level, 0x02, 0, 60]);
            b.extend_from_slice(&[0, 1, b'c']);
            b
        };
        let mut codec = MqttCodec::new(1024);
        let mut b = connect(0x84);
        assert!(matches!(codec.decode(&mut b), Ok(Some(Packet::Connect(_)))));
        assert!(codec.is_bridge());
        assert_eq!(codec.version(), Some(ProtocolVersion::V311));
        let mut codec = MqttCodec::new(1024);
        let mut b = connect(4);
        assert!(matches!(codec.decode(&mut b), Ok(Some(Packet::Connect(_)))));
        assert!(!codec.is_bridge());
        let mut codec = MqttCodec::new(1024);
        let mut b = connect(0x86);
        assert!(codec.decode(&mut b).is_err(), "0x86 is no level");
        // Split before the level byte: waits, then decodes.
        let mut codec = MqttCodec::new(1024);
        let full = connect(0x83);
        let mut b = BytesMut::from(&full[..6]);
        assert!(matches!(codec.decode(&mut b), Ok(None)));
        b.extend_from_slice(&full[6..]);
        assert!(matches!(codec.decode(&mut b), Ok(Some(Packet::Connect(_)))));
        assert!(codec.is_bridge());
    }

    #[test]
    fn an_incomplete_header_waits_for_more_bytes() {
        let mut partial = BytesMut::from(&[0x30u8, 0xff][..]);
        assert!(matches!(v5_codec(100).decode(&mut partial), Ok(None)));
    }
}
