//! Packet builders and small clients shared by the protocol, bad-input, persistence and
//! transport tests (on top of `common`'s `Broker` and `RawClient`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use bytes::Bytes;
use holdfast_codec::{
    Connect, ConnectAck, ConnectAckReason, Disconnect, DisconnectReasonCode, Packet,
    ProtocolVersion, Publish, PublishAck, PublishAck2, PublishAck2Reason, PublishAckReason,
    PublishProperties, QoS, Subscribe, SubscribeAckReason, SubscriptionOptions,
};

use crate::common::RawClient;

/// How long an expected packet may take.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long we watch to be sure that nothing (more) arrives.
pub const QUIET: Duration = Duration::from_millis(700);

pub fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("packet id is not 0")
}

/// A v5 CONNECT with clean start and no session expiry; adjust the fields as needed.
pub fn connect_packet(id: &str) -> Connect {
    Connect {
        clean_start: true,
        keep_alive: 30,
        session_expiry_interval_secs: 0,
        auth_method: None,
        auth_data: None,
        request_problem_info: true,
        request_response_info: false,
        receive_max: None,
        topic_alias_max: 0,
        user_properties: vec![],
        max_packet_size: None,
        last_will: None,
        client_id: id.into(),
        username: None,
        password: None,
        cert: None,
    }
}

/// Connect a v5 client with `c`; returns the client and its CONNACK (any reason).
pub fn connect_with(addr: SocketAddr, c: Connect) -> (RawClient, Box<ConnectAck>) {
    let mut client = RawClient::connect(addr, ProtocolVersion::V5);
    client.send(Packet::Connect(Box::new(c)));
    match client.recv(WAIT) {
        Some(Packet::ConnectAck(ack)) => (client, ack),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Connect a v5 client with clean start; asserts success.
pub fn connect5(addr: SocketAddr, id: &str) -> RawClient {
    let (c, ack) = connect_with(addr, connect_packet(id));
    assert_eq!(
        ack.reason_code,
        ConnectAckReason::Success,
        "CONNACK of {id}"
    );
    c
}

/// Connect a v5 client with a persistent session (`expiry` seconds).
pub fn connect5_persistent(
    addr: SocketAddr,
    id: &str,
    clean_start: bool,
    expiry: u32,
) -> (RawClient, bool) {
    let mut p = connect_packet(id);
    p.clean_start = clean_start;
    p.session_expiry_interval_secs = expiry;
    let (c, ack) = connect_with(addr, p);
    assert_eq!(
        ack.reason_code,
        ConnectAckReason::Success,
        "CONNACK of {id}"
    );
    (c, ack.session_present)
}

pub fn subscribe_packet(packet_id: u16, filter: &str, qos: QoS) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: pid(packet_id),
        id: None,
        user_properties: vec![],
        topic_filters: vec![(
            filter.into(),
            SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        )],
    })
}

/// SUBSCRIBE and check that the SUBACK grants `qos`.
pub fn subscribe(c: &mut RawClient, packet_id: u16, filter: &str, qos: QoS) {
    c.send(subscribe_packet(packet_id, filter, qos));
    match c.recv(WAIT) {
        Some(Packet::SubscribeAck(a)) => {
            assert_eq!(a.packet_id.get(), packet_id);
            let granted = match qos {
                QoS::AtMostOnce => SubscribeAckReason::GrantedQos0,
                QoS::AtLeastOnce => SubscribeAckReason::GrantedQos1,
                QoS::ExactlyOnce => SubscribeAckReason::GrantedQos2,
            };
            assert_eq!(a.status, vec![granted], "SUBACK for {filter}");
        }
        other => panic!("expected SUBACK for {filter}, got {other:?}"),
    }
}

/// A PUBLISH packet; `packet_id` is ignored for QoS 0.
pub fn publish_packet(
    topic: &str,
    payload: impl Into<Bytes>,
    qos: QoS,
    packet_id: u16,
    retain: bool,
) -> Packet {
    Packet::Publish(Box::new(Publish {
        dup: false,
        retain,
        qos,
        topic: topic.into(),
        packet_id: (qos != QoS::AtMostOnce).then(|| pid(packet_id)),
        payload: payload.into(),
        properties: Some(PublishProperties::default()),
    }))
}

/// A PUBLISH with a topic alias (`topic` may be empty to use the alias alone).
pub fn publish_with_alias(
    topic: &str,
    alias: u16,
    payload: &'static str,
    packet_id: u16,
) -> Packet {
    Packet::Publish(Box::new(Publish {
        dup: false,
        retain: false,
        qos: QoS::AtLeastOnce,
        topic: topic.into(),
        packet_id: Some(pid(packet_id)),
        payload: Bytes::from_static(payload.as_bytes()),
        properties: Some(PublishProperties {
            topic_alias: NonZeroU16::new(alias),
            ..PublishProperties::default()
        }),
    }))
}

pub fn puback(packet_id: u16) -> Packet {
    Packet::PublishAck(PublishAck {
        packet_id: pid(packet_id),
        reason_code: PublishAckReason::Success,
        properties: vec![],
        reason_string: None,
    })
}

pub fn pubrec(packet_id: u16) -> Packet {
    Packet::PublishReceived(PublishAck {
        packet_id: pid(packet_id),
        reason_code: PublishAckReason::Success,
        properties: vec![],
        reason_string: None,
    })
}

fn ack2(packet_id: u16) -> PublishAck2 {
    PublishAck2 {
        packet_id: pid(packet_id),
        reason_code: PublishAck2Reason::Success,
        properties: vec![],
        reason_string: None,
    }
}

pub fn pubrel(packet_id: u16) -> Packet {
    Packet::PublishRelease(ack2(packet_id))
}

pub fn pubcomp(packet_id: u16) -> Packet {
    Packet::PublishComplete(ack2(packet_id))
}

pub fn disconnect() -> Packet {
    Packet::Disconnect(Disconnect::new(DisconnectReasonCode::NormalDisconnection))
}

/// Publish and complete the QoS flow from the publisher's side (PUBACK, or PUBREC →
/// PUBREL → PUBCOMP); asserts the broker accepted it.
pub fn publish_acked(
    c: &mut RawClient,
    topic: &str,
    payload: impl Into<Bytes>,
    qos: QoS,
    packet_id: u16,
    retain: bool,
) {
    c.send(publish_packet(topic, payload, qos, packet_id, retain));
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => match c.recv(WAIT) {
            Some(Packet::PublishAck(a)) if a.packet_id.get() == packet_id => {
                assert!((a.reason_code as u8) < 0x80, "PUBACK {:?}", a.reason_code);
            }
            other => panic!("expected PUBACK {packet_id}, got {other:?}"),
        },
        QoS::ExactlyOnce => {
            match c.recv(WAIT) {
                Some(Packet::PublishReceived(a)) if a.packet_id.get() == packet_id => {
                    assert!((a.reason_code as u8) < 0x80, "PUBREC {:?}", a.reason_code);
                }
                other => panic!("expected PUBREC {packet_id}, got {other:?}"),
            }
            c.send(pubrel(packet_id));
            match c.recv(WAIT) {
                Some(Packet::PublishComplete(a)) if a.packet_id.get() == packet_id => {}
                other => panic!("expected PUBCOMP {packet_id}, got {other:?}"),
            }
        }
    }
}

/// The next packet, which must be a PUBLISH; `None` if nothing came within `timeout`.
pub fn next_publish(c: &mut RawClient, timeout: Duration) -> Option<Box<Publish>> {
    match c.recv(timeout) {
        Some(Packet::Publish(p)) => Some(p),
        None => None,
        Some(other) => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// The next packet must be a PUBLISH with this topic and payload.
pub fn expect_publish(c: &mut RawClient, topic: &str, payload: &[u8]) -> Box<Publish> {
    let p =
        next_publish(c, WAIT).unwrap_or_else(|| panic!("no PUBLISH on {topic} within {WAIT:?}"));
    assert_eq!(p.topic, topic);
    assert_eq!(&p.payload[..], payload, "payload on {topic}");
    p
}

/// Read until the broker's DISCONNECT (other packets are skipped) and then the close;
/// returns the reason. Panics if the connection closes or stalls without a DISCONNECT.
pub fn expect_disconnect(c: &mut RawClient, timeout: Duration) -> DisconnectReasonCode {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.recv(left) {
            Some(Packet::Disconnect(d)) => {
                assert!(
                    c.is_closed(WAIT),
                    "connection still open after DISCONNECT {:?}",
                    d.reason_code
                );
                return d.reason_code;
            }
            Some(_) => continue,
            None => panic!("no DISCONNECT within {timeout:?} (closed or silent)"),
        }
    }
}

/// Every byte the peer sends until it closes or `timeout` passes; `true` when it closed.
pub fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return (out, false);
        };
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("read timeout");
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, false);
            }
            Err(_) => return (out, true),
        }
    }
}

/// A payload of `n` bytes.
pub fn payload_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A PUBLISH as a 3.1.1 client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Publish {
    pub dup: bool,
    pub qos: u8,
    pub retain: bool,
    pub topic: String,
    pub packet_id: u16,
    pub payload: Vec<u8>,
}

/// A minimal MQTT 3.1.1 client: packets are encoded with the project's codec, the broker's
/// packets parsed by hand (the codec only decodes client packets in 3.1.1).
pub struct V3Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl V3Client {
    /// Connect; returns the client, the CONNACK return code and session-present flag.
    pub fn connect(addr: SocketAddr, id: &str, clean_session: bool) -> (V3Client, u8, bool) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut c = V3Client {
            stream,
            buf: Vec::new(),
        };
        let mut p = connect_packet(id);
        p.clean_start = clean_session;
        c.send(Packet::Connect(Box::new(p)));
        match c.recv_frame(WAIT) {
            Some((0x20, body)) if body.len() == 2 => (c, body[1], body[0] & 1 == 1),
            other => panic!("expected a 3.1.1 CONNACK, got {other:?}"),
        }
    }

    pub fn send(&mut self, p: Packet) {
        let bytes = holdfast_codec::encode_packet(ProtocolVersion::V311, p).expect("encode");
        self.stream.write_all(&bytes).expect("write");
    }

    /// The next frame (first byte, body) within `timeout`; `None` on timeout or close.
    pub fn recv_frame(&mut self, timeout: Duration) -> Option<(u8, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(frame) = self.take_frame() {
                return Some(frame);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("read timeout");
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn take_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len |= usize::from(b & 0x7f) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            assert!(i <= 4, "bad remaining length from the broker");
        }
        if self.buf.len() < i + len {
            return None;
        }
        let first = self.buf[0];
        let body = self.buf[i..i + len].to_vec();
        self.buf.drain(..i + len);
        Some((first, body))
    }

    /// SUBSCRIBE and check the granted QoS.
    pub fn subscribe(&mut self, packet_id: u16, filter: &str, qos: QoS) {
        self.send(subscribe_packet(packet_id, filter, qos));
        match self.recv_frame(WAIT) {
            Some((0x90, body)) => {
                assert_eq!(u16::from_be_bytes([body[0], body[1]]), packet_id);
                assert_eq!(&body[2..], &[qos as u8], "SUBACK for {filter}");
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// The next frame, which must be a PUBLISH; `None` if nothing came in time.
    pub fn recv_publish(&mut self, timeout: Duration) -> Option<V3Publish> {
        let (first, body) = self.recv_frame(timeout)?;
        assert_eq!(first >> 4, 3, "expected PUBLISH, got first byte {first:#x}");
        let qos = (first >> 1) & 3;
        let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
        let topic = String::from_utf8(body[2..2 + tlen].to_vec()).expect("utf-8 topic");
        let mut at = 2 + tlen;
        let mut packet_id = 0;
        if qos > 0 {
            packet_id = u16::from_be_bytes([body[at], body[at + 1]]);
            at += 2;
        }
        Some(V3Publish {
            dup: first & 8 != 0,
            qos,
            retain: first & 1 != 0,
            topic,
            packet_id,
            payload: body[at..].to_vec(),
        })
    }

    pub fn puback(&mut self, packet_id: u16) {
        self.send(puback(packet_id));
    }

    pub fn disconnect(&mut self) {
        self.stream
            .write_all(&[0xe0, 0x00])
            .expect("write DISCONNECT");
    }
}
