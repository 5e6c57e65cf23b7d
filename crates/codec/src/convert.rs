//! Conversions between MQTT 3.1.1 packets and the 5.0 packet model.

use rmqtt_codec::{v3, v5};

use crate::{CodecError, Packet};

/// Session expiry that stands for "never expires": what `clean_session=0` means in 3.1.1.
pub const SESSION_EXPIRY_NEVER: u32 = u32::MAX;

/// A decoded 3.1.1 packet in its 5.0 shape. Server-to-client packets are refused.
pub fn v3_to_v5(p: v3::Packet) -> Result<Packet, CodecError> {
    Ok(match p {
        v3::Packet::Connect(c) => Packet::Connect(Box::new(connect(*c))),
        v3::Packet::Publish(p) => Packet::Publish(p),
        v3::Packet::PublishAck { packet_id } => Packet::PublishAck(ack(packet_id)),
        v3::Packet::PublishReceived { packet_id } => Packet::PublishReceived(ack(packet_id)),
        v3::Packet::PublishRelease { packet_id } => Packet::PublishRelease(ack2(packet_id)),
        v3::Packet::PublishComplete { packet_id } => Packet::PublishComplete(ack2(packet_id)),
        v3::Packet::Subscribe {
            packet_id,
            topic_filters,
        } => Packet::Subscribe(v5::Subscribe {
            packet_id,
            id: None,
            user_properties: Vec::new(),
            topic_filters: topic_filters
                .into_iter()
                .map(|(f, qos)| {
                    let opts = v5::SubscriptionOptions {
                        qos,
                        no_local: false,
                        retain_as_published: false,
                        retain_handling: v5::RetainHandling::AtSubscribe,
                    };
                    (f, opts)
                })
                .collect(),
        }),
        v3::Packet::Unsubscribe {
            packet_id,
            topic_filters,
        } => Packet::Unsubscribe(v5::Unsubscribe {
            packet_id,
            user_properties: Vec::new(),
            topic_filters,
        }),
        v3::Packet::PingRequest => Packet::PingRequest,
        v3::Packet::Disconnect => Packet::Disconnect(v5::Disconnect {
            reason_code: v5::DisconnectReasonCode::NormalDisconnection,
            session_expiry_interval_secs: None,
            server_reference: None,
            reason_string: None,
            user_properties: Vec::new(),
        }),
        // Server-to-client packets, decoded by clients built on this codec (tests, bench).
        // The broker refuses them as unexpected after decoding.
        v3::Packet::ConnectAck(a) => Packet::ConnectAck(Box::new(v5::ConnectAck {
            session_present: a.session_present,
            reason_code: match a.return_code {
                v3::ConnectAckReason::ConnectionAccepted => v5::ConnectAckReason::Success,
                v3::ConnectAckReason::UnacceptableProtocolVersion => {
                    v5::ConnectAckReason::UnsupportedProtocolVersion
                }
                v3::ConnectAckReason::IdentifierRejected => {
                    v5::ConnectAckReason::ClientIdentifierNotValid
                }
                v3::ConnectAckReason::BadUserNameOrPassword => {
                    v5::ConnectAckReason::BadUserNameOrPassword
                }
                v3::ConnectAckReason::NotAuthorized => v5::ConnectAckReason::NotAuthorized,
                _ => v5::ConnectAckReason::ServerUnavailable,
            },
            ..v5::ConnectAck::default()
        })),
        v3::Packet::SubscribeAck { packet_id, status } => Packet::SubscribeAck(v5::SubscribeAck {
            packet_id,
            properties: Vec::new(),
            reason_string: None,
            status: status
                .into_iter()
                .map(|s| match s {
                    v3::SubscribeReturnCode::Success(v3::QoS::AtMostOnce) => {
                        v5::SubscribeAckReason::GrantedQos0
                    }
                    v3::SubscribeReturnCode::Success(v3::QoS::AtLeastOnce) => {
                        v5::SubscribeAckReason::GrantedQos1
                    }
                    v3::SubscribeReturnCode::Success(v3::QoS::ExactlyOnce) => {
                        v5::SubscribeAckReason::GrantedQos2
                    }
                    v3::SubscribeReturnCode::Failure => v5::SubscribeAckReason::UnspecifiedError,
                })
                .collect(),
        }),
        v3::Packet::UnsubscribeAck { packet_id } => Packet::UnsubscribeAck(v5::UnsubscribeAck {
            packet_id,
            properties: Vec::new(),
            reason_string: None,
            status: Vec::new(),
        }),
        v3::Packet::PingResponse => Packet::PingResponse,
    })
}

fn connect(c: v3::Connect) -> v5::Connect {
    v5::Connect {
        clean_start: c.clean_session,
        keep_alive: c.keep_alive,
        session_expiry_interval_secs: if c.clean_session {
            0
        } else {
            SESSION_EXPIRY_NEVER
        },
        auth_method: None,
        auth_data: None,
        request_problem_info: true,
        request_response_info: false,
        receive_max: None,
        topic_alias_max: 0,
        user_properties: Vec::new(),
        max_packet_size: None,
        last_will: c.last_will.map(|w| v5::LastWill {
            qos: w.qos,
            retain: w.retain,
            topic: w.topic,
            message: w.message,
            will_delay_interval_sec: None,
            correlation_data: None,
            message_expiry_interval: None,
            content_type: None,
            user_properties: Vec::new(),
            is_utf8_payload: None,
            response_topic: None,
        }),
        client_id: c.client_id,
        username: c.username,
        password: c.password,
        cert: None,
    }
}

fn ack(packet_id: std::num::NonZeroU16) -> v5::PublishAck {
    v5::PublishAck {
        packet_id,
        reason_code: v5::PublishAckReason::Success,
        properties: Vec::new(),
        reason_string: None,
    }
}

fn ack2(packet_id: std::num::NonZeroU16) -> v5::PublishAck2 {
    v5::PublishAck2 {
        packet_id,
        reason_code: v5::PublishAck2Reason::Success,
        properties: Vec::new(),
        reason_string: None,
    }
}

/// A 5.0-shaped server packet as 3.1.1, or `None` where 3.1.1 has no such packet
/// (a server DISCONNECT, AUTH): the connection is then simply closed.
pub fn v5_to_v3(p: Packet) -> Option<v3::Packet> {
    Some(match p {
        Packet::ConnectAck(a) => v3::Packet::ConnectAck(v3::ConnectAck {
            return_code: connack_code(a.reason_code),
            session_present: a.session_present,
        }),
        Packet::Publish(mut p) => {
            p.properties = None;
            v3::Packet::Publish(p)
        }
        Packet::PublishAck(a) => v3::Packet::PublishAck {
            packet_id: a.packet_id,
        },
        Packet::PublishReceived(a) => v3::Packet::PublishReceived {
            packet_id: a.packet_id,
        },
        Packet::PublishRelease(a) => v3::Packet::PublishRelease {
            packet_id: a.packet_id,
        },
        Packet::PublishComplete(a) => v3::Packet::PublishComplete {
            packet_id: a.packet_id,
        },
        Packet::SubscribeAck(a) => v3::Packet::SubscribeAck {
            packet_id: a.packet_id,
            status: a
                .status
                .into_iter()
                .map(|s| match s {
                    v5::SubscribeAckReason::GrantedQos0 => {
                        v3::SubscribeReturnCode::Success(v3::QoS::AtMostOnce)
                    }
                    v5::SubscribeAckReason::GrantedQos1 => {
                        v3::SubscribeReturnCode::Success(v3::QoS::AtLeastOnce)
                    }
                    v5::SubscribeAckReason::GrantedQos2 => {
                        v3::SubscribeReturnCode::Success(v3::QoS::ExactlyOnce)
                    }
                    _ => v3::SubscribeReturnCode::Failure,
                })
                .collect(),
        },
        Packet::UnsubscribeAck(a) => v3::Packet::UnsubscribeAck {
            packet_id: a.packet_id,
        },
        Packet::PingResponse => v3::Packet::PingResponse,
        // Client-side packets, encoded by test clients built on this codec.
        Packet::Connect(c) => v3::Packet::Connect(Box::new(v3::Connect {
            protocol: rmqtt_codec::types::Protocol(4),
            clean_session: c.clean_start,
            keep_alive: c.keep_alive,
            last_will: c.last_will.map(|w| v3::LastWill {
                qos: w.qos,
                retain: w.retain,
                topic: w.topic,
                message: w.message,
            }),
            client_id: c.client_id,
            username: c.username,
            password: c.password,
            cert: None,
        })),
        Packet::Subscribe(s) => v3::Packet::Subscribe {
            packet_id: s.packet_id,
            topic_filters: s
                .topic_filters
                .into_iter()
                .map(|(f, o)| (f, o.qos))
                .collect(),
        },
        Packet::Unsubscribe(u) => v3::Packet::Unsubscribe {
            packet_id: u.packet_id,
            topic_filters: u.topic_filters,
        },
        Packet::PingRequest => v3::Packet::PingRequest,
        Packet::Disconnect(_) | Packet::Auth(_) => return None,
    })
}

fn connack_code(r: v5::ConnectAckReason) -> v3::ConnectAckReason {
    use v3::ConnectAckReason as V3;
    use v5::ConnectAckReason as V5;
    match r {
        V5::Success => V3::ConnectionAccepted,
        V5::UnsupportedProtocolVersion => V3::UnacceptableProtocolVersion,
        V5::ClientIdentifierNotValid => V3::IdentifierRejected,
        V5::BadUserNameOrPassword | V5::BadAuthenticationMethod => V3::BadUserNameOrPassword,
        V5::NotAuthorized | V5::Banned => V3::NotAuthorized,
        _ => V3::ServiceUnavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use tokio_util::codec::{Decoder, Encoder};

    use crate::{MqttCodec, ProtocolVersion};

    #[test]
    fn v311_connect_with_persistent_session_maps_to_never_expiring_v5_session() {
        let raw = b"\x10\x0f\x00\x04MQTT\x04\x00\x00\x3c\x00\x03abc";
        let mut codec = MqttCodec::new(0);
        let mut buf = BytesMut::from(&raw[..]);
        let Some(Packet::Connect(c)) = codec.decode(&mut buf).expect("decodes") else {
            panic!("expected CONNECT");
        };
        assert!(!c.clean_start);
        assert_eq!(c.session_expiry_interval_secs, SESSION_EXPIRY_NEVER);
        assert_eq!(c.keep_alive, 60);
        assert_eq!(&c.client_id[..], "abc");
        assert_eq!(codec.version(), Some(ProtocolVersion::V311));
    }

    #[test]
    fn v3_connack_codes_follow_the_v5_reason() {
        let mut codec = MqttCodec::for_version(ProtocolVersion::V311, 0);
        let mut buf = BytesMut::new();
        let ack = v5::ConnectAck {
            session_present: false,
            reason_code: v5::ConnectAckReason::NotAuthorized,
            ..Default::default()
        };
        codec
            .encode(Packet::ConnectAck(Box::new(ack)), &mut buf)
            .expect("encodes");
        assert_eq!(&buf[..], b"\x20\x02\x00\x05");
    }

    #[test]
    fn first_packet_must_be_connect() {
        let mut codec = MqttCodec::new(0);
        let mut buf = BytesMut::from(&b"\xc0\x00"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::NotConnect)
        ));
    }

    #[test]
    fn oversized_packet_is_refused_before_it_is_buffered() {
        let mut codec = MqttCodec::for_version(ProtocolVersion::V5, 16);
        let mut buf = BytesMut::from(&b"\x30\xff\x7f"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::TooLarge { .. })
        ));
    }
}
