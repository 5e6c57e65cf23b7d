//! Bad input ends the offending connection only: other clients keep working, and the stored
//! retained messages and sessions survive a crash and restart afterwards.

mod common;
mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Broker, RawClient};
use holdfast_codec::{ConnectAckReason, DisconnectReasonCode, Packet, ProtocolVersion, QoS};
use support::*;

/// A broker with a watcher subscribed, a retained message and an offline persistent
/// session holding one queued message; `check` proves all of it still works.
struct World {
    b: Broker,
    name: &'static str,
    watcher: RawClient,
}

impl World {
    fn new(name: &'static str, env: &[(&str, &str)]) -> World {
        let b = Broker::start_with(env, None);
        let mut watcher = connect5(b.addr(), &format!("{name}-watcher"));
        subscribe(&mut watcher, 1, "watch/#", QoS::AtLeastOnce);

        let (mut p, _) = connect5_persistent(b.addr(), &format!("{name}-persist"), true, 3600);
        subscribe(&mut p, 1, "keep/q", QoS::AtLeastOnce);
        p.send(disconnect());
        assert!(p.is_closed(WAIT));

        let mut publ = connect5(b.addr(), &format!("{name}-setup"));
        publish_acked(
            &mut publ,
            "keep/r",
            &b"retained"[..],
            QoS::AtLeastOnce,
            1,
            true,
        );
        publish_acked(
            &mut publ,
            "keep/q",
            &b"queued"[..],
            QoS::AtLeastOnce,
            2,
            false,
        );
        publ.send(disconnect());
        World { b, name, watcher }
    }

    fn addr(&self) -> SocketAddr {
        self.b.addr()
    }

    /// A v5 client connected for the bad input.
    fn victim(&self) -> RawClient {
        connect5(self.addr(), &format!("{}-victim", self.name))
    }

    /// The watcher still gets messages; after kill -9 and restart, the retained message
    /// and the persistent session with its queued message are intact.
    fn check(mut self) {
        let mut publ = connect5(self.addr(), &format!("{}-after", self.name));
        publish_acked(
            &mut publ,
            "watch/after",
            &b"still here"[..],
            QoS::AtLeastOnce,
            1,
            false,
        );
        let m = expect_publish(&mut self.watcher, "watch/after", b"still here");
        self.watcher.send(puback(m.packet_id.expect("QoS 1").get()));
        drop(publ);

        self.b.kill9();
        self.b.restart();
        let mut fresh = connect5(self.addr(), &format!("{}-fresh", self.name));
        subscribe(&mut fresh, 1, "keep/r", QoS::AtLeastOnce);
        let r = expect_publish(&mut fresh, "keep/r", b"retained");
        assert!(r.retain, "retained flag on the stored retained message");
        let (mut p, present) =
            connect5_persistent(self.addr(), &format!("{}-persist", self.name), false, 3600);
        assert!(present, "persistent session survived");
        expect_publish(&mut p, "keep/q", b"queued");
    }
}

/// Send `bytes` on an established v5 connection and expect DISCONNECT `reason` and close.
fn v5_bad_packet(name: &'static str, bytes: &[u8], reason: DisconnectReasonCode) {
    let w = World::new(name, &[]);
    let mut c = w.victim();
    c.send_raw(bytes);
    let got = expect_disconnect(&mut c, WAIT);
    // The others and the stored data are checked first, so that a wrong reason code does
    // not hide a broken broker.
    w.check();
    assert_eq!(
        got, reason,
        "{name}: expected DISCONNECT {reason:?} ({:#x}), got {got:?} ({:#x})",
        reason as u8, got as u8
    );
}

#[test]
fn remaining_length_over_four_bytes_is_malformed() {
    v5_bad_packet(
        "bad-len",
        &[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0],
        DisconnectReasonCode::MalformedPacket,
    );
}

#[test]
fn remaining_length_too_short_for_the_topic_is_malformed() {
    // PUBLISH QoS 0, remaining length 4, topic length 10.
    v5_bad_packet(
        "short-len",
        &[0x30, 0x04, 0x00, 0x0a, b'a', b'b'],
        DisconnectReasonCode::MalformedPacket,
    );
}

#[test]
fn reserved_flag_bits_on_subscribe_are_malformed() {
    // SUBSCRIBE must have flags 0b0010; 0x80 has them cleared.
    v5_bad_packet(
        "sub-flags",
        &[0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x00],
        DisconnectReasonCode::MalformedPacket,
    );
}

#[test]
fn publish_with_both_qos_bits_set_is_malformed() {
    v5_bad_packet(
        "qos3",
        &[0x36, 0x07, 0x00, 0x01, b'a', 0x00, 0x01, 0x00, b'x'],
        DisconnectReasonCode::MalformedPacket,
    );
}

#[test]
fn invalid_utf8_in_the_topic_is_malformed() {
    // MQTT 5.0 §1.5.4: ill-formed UTF-8 makes the packet malformed.
    v5_bad_packet(
        "bad-utf8",
        &[0x30, 0x06, 0x00, 0x02, 0xc3, 0x28, 0x00, b'x'],
        DisconnectReasonCode::MalformedPacket,
    );
}

#[test]
fn wildcard_in_a_publish_topic_is_topic_name_invalid() {
    let w = World::new("wild", &[]);
    let mut c = w.victim();
    c.send(publish_packet(
        "watch/+/x",
        &b"no"[..],
        QoS::AtLeastOnce,
        1,
        false,
    ));
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::TopicNameInvalid
    );
    w.check();
}

#[test]
fn subscribe_without_topic_filters_is_a_protocol_error() {
    // MQTT 5.0 §3.8.3: "A SUBSCRIBE packet with no Payload is a Protocol Error."
    v5_bad_packet(
        "empty-sub",
        &[0x82, 0x03, 0x00, 0x01, 0x00],
        DisconnectReasonCode::ProtocolError,
    );
}

#[test]
fn second_connect_is_a_protocol_error() {
    let w = World::new("second-connect", &[]);
    let mut c = w.victim();
    c.send(Packet::Connect(Box::new(connect_packet(
        "second-connect-victim",
    ))));
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::ProtocolError
    );
    w.check();
}

#[test]
fn v311_client_sending_a_malformed_packet_is_closed() {
    let w = World::new("v3-bad", &[]);
    let (mut c, rc, _) = V3Client::connect(w.addr(), "v3-bad-victim", true);
    assert_eq!(rc, 0);
    c.stream
        .write_all(&[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00])
        .expect("write");
    let (bytes, closed) = read_until_closed(&mut c.stream, WAIT);
    assert!(closed, "connection closed");
    assert!(bytes.is_empty(), "3.1.1 gets no DISCONNECT: {bytes:?}");
    w.check();
}

#[test]
fn first_packet_other_than_connect_closes_the_socket() {
    let w = World::new("not-connect", &[]);
    let mut s = TcpStream::connect(w.addr()).expect("connect");
    s.write_all(&[0xc0, 0x00]).expect("PINGREQ first");
    let (bytes, closed) = read_until_closed(&mut s, WAIT);
    assert!(closed, "connection closed");
    assert!(bytes.is_empty(), "no CONNACK or PINGRESP: {bytes:?}");
    w.check();
}

#[test]
fn unsupported_protocol_level_gets_connack_0x01() {
    let w = World::new("level", &[]);
    let mut s = TcpStream::connect(w.addr()).expect("connect");
    // CONNECT "MQTT" level 6, clean session, keep alive 30, client id "lvl".
    s.write_all(&[
        0x10, 0x0f, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x06, 0x02, 0x00, 0x1e, 0x00, 0x03, b'l',
        b'v', b'l',
    ])
    .expect("write");
    let (bytes, closed) = read_until_closed(&mut s, WAIT);
    assert_eq!(
        bytes,
        [0x20, 0x02, 0x00, 0x01],
        "CONNACK unacceptable protocol"
    );
    assert!(closed, "connection closed");
    w.check();
}

#[test]
fn v5_connect_with_the_reserved_flag_set_gets_connack_malformed() {
    // MQTT 5.0 §3.1.2.3: a reserved flag that is not 0 makes CONNECT a Malformed Packet.
    let w = World::new("connect-flag", &[]);
    let mut c = RawClient::connect(w.addr(), ProtocolVersion::V5);
    c.send_raw(&[
        0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x03, 0x00, 0x1e, 0x00, 0x00, 0x03,
        b'a', b'b', b'c',
    ]);
    let reply = c.recv(WAIT);
    let closed = c.is_closed(WAIT);
    w.check();
    assert!(closed, "connection closed");
    match reply {
        Some(Packet::ConnectAck(a)) => assert_eq!(
            a.reason_code,
            ConnectAckReason::MalformedPacket,
            "CONNACK reason {:#x}",
            a.reason_code as u8
        ),
        other => panic!("expected CONNACK 0x81, got {other:?}"),
    }
}

#[test]
fn wrong_protocol_name_closes_the_socket() {
    let w = World::new("proto-name", &[]);
    let mut s = TcpStream::connect(w.addr()).expect("connect");
    s.write_all(&[
        0x10, 0x0f, 0x00, 0x04, b'M', b'Q', b'T', b'X', 0x04, 0x02, 0x00, 0x1e, 0x00, 0x03, b'a',
        b'b', b'c',
    ])
    .expect("write");
    let (bytes, closed) = read_until_closed(&mut s, WAIT);
    assert!(closed, "connection closed");
    assert!(
        !bytes.starts_with(&[0x20, 0x02, 0x00, 0x00]),
        "never accepted: {bytes:?}"
    );
    w.check();
}

#[test]
fn connect_never_sent_closes_the_socket_after_the_connect_timeout() {
    let w = World::new(
        "no-connect",
        &[("HOLDFAST_MQTT__CONNECT_TIMEOUT_SECS", "1")],
    );
    let start = Instant::now();
    let mut idle = TcpStream::connect(w.addr()).expect("connect");
    let mut partial = TcpStream::connect(w.addr()).expect("connect");
    partial
        .write_all(&[0x10, 0x0f, 0x00])
        .expect("half a CONNECT");
    for (what, s) in [("idle", &mut idle), ("partial", &mut partial)] {
        let (bytes, closed) = read_until_closed(s, Duration::from_secs(5));
        let took = start.elapsed();
        assert!(closed, "{what} socket closed");
        assert!(bytes.is_empty(), "{what}: nothing sent: {bytes:?}");
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_secs(4),
            "{what} closed after {took:?}, expected about 1 s"
        );
    }
    w.check();
}

#[test]
fn garbage_flood_does_not_disturb_others() {
    let w = World::new("garbage", &[]);
    for round in 0u8..20 {
        let mut s = TcpStream::connect(w.addr()).expect("connect");
        let junk: Vec<u8> = (0..64u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(round))
            .collect();
        let _ = s.write_all(&junk);
        let (_, closed) = read_until_closed(&mut s, WAIT);
        assert!(closed, "garbage connection {round} closed");
    }
    let mut v = RawClient::connect(w.addr(), ProtocolVersion::V5);
    v.send(Packet::Connect(Box::new(connect_packet("garbage-late"))));
    assert!(matches!(v.recv(WAIT), Some(Packet::ConnectAck(_))));
    w.check();
}
