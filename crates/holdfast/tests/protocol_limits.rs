//! MQTT 5.0 limits and flow control at the packet level: topic aliases both ways, Receive
//! Maximum both ways, Maximum Packet Size both ways, keep alive, QoS 2 duplicates and
//! in-flight redelivery.

mod common;
mod support;

use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

use common::Broker;
use holdfast_codec::{DisconnectReasonCode, Packet, QoS};
use support::*;

#[test]
fn client_topic_alias_is_set_then_used_with_an_empty_topic() {
    let b = Broker::start();
    let mut sub = connect5(b.addr(), "ta-in-sub");
    subscribe(&mut sub, 1, "alias/t", QoS::AtMostOnce);

    let (mut publ, ack) = connect_with(b.addr(), connect_packet("ta-in-pub"));
    assert_eq!(ack.topic_alias_max, 64, "default Topic Alias Maximum");
    for (n, (topic, payload)) in [("alias/t", "one"), ("", "two"), ("", "three")]
        .into_iter()
        .enumerate()
    {
        let id = u16::try_from(n + 1).expect("small");
        publ.send(publish_with_alias(topic, 1, payload, id));
        match publ.recv(WAIT) {
            Some(Packet::PublishAck(a)) => {
                assert_eq!(a.packet_id.get(), id);
                assert!((a.reason_code as u8) < 0x80, "{:?}", a.reason_code);
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    for payload in ["one", "two", "three"] {
        let p = expect_publish(&mut sub, "alias/t", payload.as_bytes());
        let alias = p.properties.as_ref().and_then(|pr| pr.topic_alias);
        assert_eq!(alias, None, "subscriber allows no aliases");
    }
}

#[test]
fn client_topic_alias_above_the_maximum_is_disconnected_with_0x94() {
    let b = Broker::start_with(&[("HOLDFAST_MQTT__TOPIC_ALIASES_MAX", "2")], None);
    let (mut c, ack) = connect_with(b.addr(), connect_packet("ta-max"));
    assert_eq!(ack.topic_alias_max, 2, "advertised Topic Alias Maximum");
    c.send(publish_with_alias("alias/max", 2, "ok", 1));
    assert!(matches!(c.recv(WAIT), Some(Packet::PublishAck(_))));
    c.send(publish_with_alias("alias/max", 3, "too high", 2));
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::TopicAliasInvalid
    );
}

#[test]
fn unknown_client_topic_alias_is_a_protocol_error() {
    let b = Broker::start();
    let mut c = connect5(b.addr(), "ta-unknown");
    c.send(publish_with_alias("", 5, "never set", 1));
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::ProtocolError
    );
}

#[test]
fn broker_uses_topic_aliases_toward_a_client_that_allows_them() {
    let b = Broker::start();
    let mut p = connect_packet("ta-out-sub");
    p.topic_alias_max = 1;
    let (mut sub, _) = connect_with(b.addr(), p);
    subscribe(&mut sub, 1, "ta/#", QoS::AtMostOnce);
    let mut publ = connect5(b.addr(), "ta-out-pub");
    for (topic, payload) in [("ta/x", "1"), ("ta/x", "2"), ("ta/y", "3")] {
        publish_acked(
            &mut publ,
            topic,
            payload.as_bytes().to_vec(),
            QoS::AtMostOnce,
            0,
            false,
        );
    }
    let alias = |p: &holdfast_codec::Publish| p.properties.as_ref().and_then(|pr| pr.topic_alias);

    let first = next_publish(&mut sub, WAIT).expect("first delivery");
    assert_eq!(first.topic, "ta/x", "first use carries the topic");
    assert_eq!(alias(&first), NonZeroU16::new(1), "and sets alias 1");
    assert_eq!(&first.payload[..], b"1");

    let second = next_publish(&mut sub, WAIT).expect("second delivery");
    assert_eq!(second.topic, "", "second use carries only the alias");
    assert_eq!(alias(&second), NonZeroU16::new(1));
    assert_eq!(&second.payload[..], b"2");

    let third = next_publish(&mut sub, WAIT).expect("third delivery");
    assert_eq!(third.topic, "ta/y", "no alias left for a second topic");
    assert_eq!(alias(&third), None);
    assert_eq!(&third.payload[..], b"3");
}

#[test]
fn client_exceeding_the_receive_maximum_is_disconnected_with_0x93() {
    let b = Broker::start_with(&[("HOLDFAST_MQTT__RECEIVE_MAXIMUM", "3")], None);
    let (mut c, ack) = connect_with(b.addr(), connect_packet("rm-in"));
    assert_eq!(ack.receive_max.get(), 3, "advertised Receive Maximum");
    for id in 1..=4 {
        c.send(publish_packet(
            "rm/in",
            &b"x"[..],
            QoS::ExactlyOnce,
            id,
            false,
        ));
    }
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::ReceiveMaximumExceeded
    );
}

#[test]
fn receive_maximum_window_reopens_after_pubrel() {
    let b = Broker::start_with(&[("HOLDFAST_MQTT__RECEIVE_MAXIMUM", "3")], None);
    let mut c = connect5(b.addr(), "rm-window");
    for id in 1..=3 {
        c.send(publish_packet(
            "rm/w",
            &b"x"[..],
            QoS::ExactlyOnce,
            id,
            false,
        ));
        assert!(
            matches!(c.recv(WAIT), Some(Packet::PublishReceived(a)) if a.packet_id.get() == id)
        );
    }
    c.send(pubrel(1));
    assert!(matches!(c.recv(WAIT), Some(Packet::PublishComplete(a)) if a.packet_id.get() == 1));
    // Two in flight now: a third is fine, a fourth is one too many.
    c.send(publish_packet(
        "rm/w",
        &b"x"[..],
        QoS::ExactlyOnce,
        4,
        false,
    ));
    assert!(matches!(c.recv(WAIT), Some(Packet::PublishReceived(a)) if a.packet_id.get() == 4));
    c.send(publish_packet(
        "rm/w",
        &b"x"[..],
        QoS::ExactlyOnce,
        5,
        false,
    ));
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::ReceiveMaximumExceeded
    );
}

#[test]
fn broker_respects_the_client_receive_maximum() {
    let b = Broker::start();
    let mut p = connect_packet("rm-out-sub");
    p.receive_max = NonZeroU16::new(2);
    let (mut sub, _) = connect_with(b.addr(), p);
    subscribe(&mut sub, 1, "rm/out", QoS::AtLeastOnce);
    let mut publ = connect5(b.addr(), "rm-out-pub");
    for (i, payload) in ["m0", "m1", "m2"].into_iter().enumerate() {
        let id = u16::try_from(i + 1).expect("small");
        publish_acked(
            &mut publ,
            "rm/out",
            payload.as_bytes().to_vec(),
            QoS::AtLeastOnce,
            id,
            false,
        );
    }
    let first = expect_publish(&mut sub, "rm/out", b"m0");
    expect_publish(&mut sub, "rm/out", b"m1");
    assert!(
        next_publish(&mut sub, QUIET).is_none(),
        "a third unacknowledged delivery exceeds the client's Receive Maximum of 2"
    );
    sub.send(puback(first.packet_id.expect("QoS 1 has an id").get()));
    expect_publish(&mut sub, "rm/out", b"m2");
}

#[test]
fn maximum_packet_size_is_advertised_and_enforced() {
    let b = Broker::start_with(&[("HOLDFAST_MQTT__PACKET_BYTES_MAX", "1024")], None);
    let (mut c, ack) = connect_with(b.addr(), connect_packet("mps-in"));
    assert_eq!(
        ack.max_packet_size,
        Some(1024),
        "advertised Maximum Packet Size"
    );
    publish_acked(
        &mut c,
        "mps/in",
        payload_of(900),
        QoS::AtLeastOnce,
        1,
        false,
    );
    c.send(publish_packet(
        "mps/in",
        payload_of(2000),
        QoS::AtLeastOnce,
        2,
        false,
    ));
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::PacketTooLarge
    );
}

#[test]
fn messages_above_the_client_maximum_packet_size_are_dropped_for_that_client_only() {
    let b = Broker::start();
    let mut p = connect_packet("mps-small");
    p.max_packet_size = NonZeroU32::new(64);
    let (mut small, _) = connect_with(b.addr(), p);
    subscribe(&mut small, 1, "mps/#", QoS::AtLeastOnce);
    let mut big = connect5(b.addr(), "mps-big");
    subscribe(&mut big, 1, "mps/#", QoS::AtLeastOnce);

    let mut publ = connect5(b.addr(), "mps-pub");
    let large = payload_of(200);
    publish_acked(
        &mut publ,
        "mps/a",
        large.clone(),
        QoS::AtLeastOnce,
        1,
        false,
    );
    publish_acked(&mut publ, "mps/a", &b"tiny"[..], QoS::AtLeastOnce, 2, false);
    publish_acked(&mut publ, "mps/a", large.clone(), QoS::AtMostOnce, 0, false);
    publish_acked(&mut publ, "mps/a", &b"tiny2"[..], QoS::AtMostOnce, 0, false);

    for payload in [&large[..], b"tiny", &large[..], b"tiny2"] {
        let m = expect_publish(&mut big, "mps/a", payload);
        if let Some(id) = m.packet_id {
            big.send(puback(id.get()));
        }
    }
    let m = expect_publish(&mut small, "mps/a", b"tiny");
    small.send(puback(m.packet_id.expect("QoS 1").get()));
    expect_publish(&mut small, "mps/a", b"tiny2");
    assert!(next_publish(&mut small, QUIET).is_none(), "nothing else");
}

#[test]
fn silent_client_is_disconnected_after_one_and_a_half_keep_alives() {
    let b = Broker::start();
    let mut p = connect_packet("ka-silent");
    p.keep_alive = 1;
    let (mut c, ack) = connect_with(b.addr(), p);
    assert_eq!(ack.server_keepalive_sec, None, "keep alive 1 s is accepted");
    let start = Instant::now();
    assert_eq!(
        expect_disconnect(&mut c, Duration::from_secs(4)),
        DisconnectReasonCode::KeepAliveTimeout
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took <= Duration::from_millis(2600),
        "closed after {took:?}, expected about 1.5 s"
    );
}

#[test]
fn pings_keep_a_short_keep_alive_connection_open() {
    let b = Broker::start();
    let mut p = connect_packet("ka-ping");
    p.keep_alive = 1;
    let (mut c, _) = connect_with(b.addr(), p);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(600));
        c.send(Packet::PingRequest);
        assert!(matches!(c.recv(WAIT), Some(Packet::PingResponse)));
    }
}

#[test]
fn server_keep_alive_caps_a_longer_client_keep_alive() {
    let b = Broker::start_with(&[("HOLDFAST_MQTT__KEEPALIVE_SECS_MAX", "60")], None);
    let mut p = connect_packet("ka-120");
    p.keep_alive = 120;
    let (_c, ack) = connect_with(b.addr(), p);
    assert_eq!(ack.server_keepalive_sec, Some(60));
    let mut p = connect_packet("ka-30");
    p.keep_alive = 30;
    let (_c2, ack) = connect_with(b.addr(), p);
    assert_eq!(ack.server_keepalive_sec, None, "30 s is within the maximum");
}

#[test]
fn qos2_publish_retransmitted_with_dup_is_delivered_once() {
    let b = Broker::start();
    let mut sub = connect5(b.addr(), "q2dup-sub");
    subscribe(&mut sub, 1, "q2/dup", QoS::AtMostOnce);
    let mut publ = connect5(b.addr(), "q2dup-pub");
    let mut first = publish_packet("q2/dup", &b"once"[..], QoS::ExactlyOnce, 7, false);
    publ.send(first.clone());
    assert!(matches!(publ.recv(WAIT), Some(Packet::PublishReceived(a)) if a.packet_id.get() == 7));
    if let Packet::Publish(p) = &mut first {
        p.dup = true;
    }
    publ.send(first);
    assert!(
        matches!(publ.recv(WAIT), Some(Packet::PublishReceived(a)) if a.packet_id.get() == 7),
        "the retransmission is acknowledged again"
    );
    publ.send(pubrel(7));
    assert!(matches!(publ.recv(WAIT), Some(Packet::PublishComplete(a)) if a.packet_id.get() == 7));

    expect_publish(&mut sub, "q2/dup", b"once");
    assert!(
        next_publish(&mut sub, QUIET).is_none(),
        "a duplicate QoS 2 PUBLISH must not be delivered twice"
    );
    // After PUBCOMP the id is free: the same id now carries a new message.
    publish_acked(
        &mut publ,
        "q2/dup",
        &b"again"[..],
        QoS::ExactlyOnce,
        7,
        false,
    );
    expect_publish(&mut sub, "q2/dup", b"again");
}

#[test]
fn unacknowledged_qos1_delivery_is_resent_with_dup_after_reconnect() {
    let b = Broker::start();
    let (mut sub, present) = connect5_persistent(b.addr(), "inflight-sub", true, 300);
    assert!(!present);
    subscribe(&mut sub, 1, "inflight/t", QoS::AtLeastOnce);
    let mut publ = connect5(b.addr(), "inflight-pub");
    publish_acked(
        &mut publ,
        "inflight/t",
        &b"keep me"[..],
        QoS::AtLeastOnce,
        1,
        false,
    );
    let first = expect_publish(&mut sub, "inflight/t", b"keep me");
    assert!(!first.dup, "first delivery is not a duplicate");
    let id = first.packet_id.expect("QoS 1 has an id");
    drop(sub); // no PUBACK

    let (mut sub, present) = connect5_persistent(b.addr(), "inflight-sub", false, 300);
    assert!(present, "session present on resume");
    let again = expect_publish(&mut sub, "inflight/t", b"keep me");
    assert!(again.dup, "redelivery carries DUP=1");
    assert_eq!(again.packet_id, Some(id), "redelivery keeps the packet id");
    assert_eq!(again.qos, QoS::AtLeastOnce);
    sub.send(puback(id.get()));
    sub.send(disconnect());
    assert!(sub.is_closed(WAIT));

    let (mut sub, present) = connect5_persistent(b.addr(), "inflight-sub", false, 300);
    assert!(present);
    assert!(
        next_publish(&mut sub, QUIET).is_none(),
        "an acknowledged message is not sent again"
    );
}
