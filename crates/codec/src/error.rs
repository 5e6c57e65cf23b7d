//! Codec errors, each mapped to the MQTT reason code the broker answers with.

use crate::DisconnectReasonCode;
use rmqtt_codec::error::{DecodeError, EncodeError};

/// What went wrong while reading or writing packets on one connection.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a valid MQTT packet (malformed, bad UTF-8, bad flags, ...).
    #[error("malformed packet: {0}")]
    Decode(DecodeError),
    /// The packet is larger than the configured `packet_bytes_max`.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    TooLarge { size: u32, max: u32 },
    /// The first packet of a connection was not a CONNECT.
    #[error("first packet on the connection is not CONNECT")]
    NotConnect,
    /// CONNECT named a protocol level Holdfast does not speak (3, 4 and 5 are supported).
    #[error("unsupported MQTT protocol level")]
    UnsupportedProtocol,
    /// A packet could not be encoded (for example it is larger than the peer accepts).
    #[error("cannot encode packet: {0}")]
    Encode(EncodeError),
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl CodecError {
    /// The DISCONNECT (v5) reason code that describes this error to the client.
    pub fn reason_code(&self) -> DisconnectReasonCode {
        use rmqtt_codec::v5::ToReasonCode;
        match self {
            // rmqtt-codec's mapping differs from MQTT 5.0 in these cases:
            // bad UTF-8 in a string, reserved flag bits and unknown packet types are
            // Malformed Packets (§1.5.4, §2.1.3, §3.1.2.3); an empty SUBSCRIBE or UNSUBSCRIBE
            // (the only case rmqtt reports as InvalidTopicFilter) is a Protocol Error (§3.8.3).
            CodecError::Decode(
                DecodeError::Utf8Error
                | DecodeError::UnsupportedPacketType
                | DecodeError::ConnectReservedFlagSet
                | DecodeError::InvalidConnectFlags,
            ) => DisconnectReasonCode::MalformedPacket,
            CodecError::Decode(DecodeError::InvalidTopicFilter) => {
                DisconnectReasonCode::ProtocolError
            }
            CodecError::Decode(e) => e.to_reason_code(),
            CodecError::TooLarge { .. } => DisconnectReasonCode::PacketTooLarge,
            CodecError::NotConnect => DisconnectReasonCode::ProtocolError,
            CodecError::UnsupportedProtocol => DisconnectReasonCode::ProtocolError,
            CodecError::Encode(_) => DisconnectReasonCode::ImplementationSpecificError,
            CodecError::Io(_) => DisconnectReasonCode::UnspecifiedError,
        }
    }
}

impl From<DecodeError> for CodecError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::MaxSizeExceeded { size, max } => CodecError::TooLarge { size, max },
            DecodeError::UnsupportedPacketType => CodecError::Decode(e),
            DecodeError::InvalidProtocol | DecodeError::UnsupportedProtocolLevel => {
                CodecError::UnsupportedProtocol
            }
            DecodeError::Io(msg) => CodecError::Io(std::io::Error::other(msg.to_string())),
            other => CodecError::Decode(other),
        }
    }
}

impl From<EncodeError> for CodecError {
    fn from(e: EncodeError) -> Self {
        CodecError::Encode(e)
    }
}
