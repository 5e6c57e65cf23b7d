//! Receive Maximum as popular clients meet it (issue 17, break 6). QoS 1 PUBLISHes beyond the
//! limit are back-pressured (the broker stops reading the connection until acknowledgements
//! drain), never a reason to disconnect by default: a 3.1.1 client never hears of the limit,
//! and MQTT.js ignores it even on 5.0. QoS 2 beyond the limit stays a protocol error, and
//! `mqtt.receive_maximum_strict` brings 0x93 back for QoS 1 too.

mod common;
mod support;

use common::Broker;
use common::clients::mosq::subscribe_until_done;
use common::clients::scripted::{mqttjs_burst, paho_window};
use holdfast_codec::{DisconnectReasonCode, Packet, QoS};
use support::*;

/// A persistent 3.1.1 session subscribed to `topic` at QoS 1, then offline: every publish
/// to `topic` waits for its commit before the PUBACK, as in the measurement.
fn offline_subscriber(port: u16, id: &str, topic: &str) {
    let out = common::clients::mosq::run(
        std::process::Command::new("mosquitto_sub").args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "-i",
            id,
            "-q",
            "1",
            "-t",
            topic,
            "-E",
        ]),
        WAIT,
    );
    assert!(out.status.success(), "{out:?}");
}

/// Everything queued for the offline subscriber, collected by reconnecting it.
fn drain(port: u16, id: &str, topic: &str, count: usize) -> usize {
    subscribe_until_done(
        port,
        &[
            "-c",
            "-i",
            id,
            "-q",
            "1",
            "-t",
            topic,
            "-C",
            &count.to_string(),
            "-W",
            "60",
        ],
    )
    .len()
}

/// The measurement: paho-mqtt 3.1.1 with 64 QoS 1 in flight used to be disconnected
/// about once a second (35 msgs/s). Also with MQTT 5.0, which announces 32 and which paho
/// honours by itself.
#[test]
fn paho_with_64_in_flight_is_never_disconnected() {
    let b = Broker::start_with(&[("HOLDFAST_MQTT__QUEUED_MESSAGES_MAX", "100000")], None);
    for (v5, topic) in [(false, "fc/paho311"), (true, "fc/paho5")] {
        let sub = format!("off-{}", topic.replace('/', "-"));
        offline_subscriber(b.port, &sub, topic);
        let r = paho_window(b.port, topic, 3000, 64, v5);
        assert_eq!(r["acked"], 3000, "v5={v5}: {r}");
        assert_eq!(r["disconnects"], 0, "v5={v5}: {r}");
        assert_eq!(
            drain(b.port, &sub, topic, 3000),
            3000,
            "v5={v5}: all queued"
        );
    }
    let log = b.log();
    assert!(!log.contains("Receive Maximum"), "{log}");
}

/// MQTT.js 5 with its defaults fires a burst without regard to Receive Maximum: over TCP and
/// WebSocket, in 3.1.1 and 5.0, 20,000 QoS 1 publishes to a persistent subscriber now all get
/// their PUBACK on one connection.
#[test]
fn mqttjs_burst_of_20000_is_acknowledged_on_one_connection() {
    let ws = common::free_port();
    let b = Broker::start_with(
        &[("HOLDFAST_MQTT__QUEUED_MESSAGES_MAX", "100000")],
        Some(&format!(
            "[listeners.ws]\nbind = \"127.0.0.1:{ws}\"\npath = \"/mqtt\"\n"
        )),
    );
    let tcp = format!("mqtt://127.0.0.1:{}", b.port);
    let wsu = format!("ws://127.0.0.1:{ws}/mqtt");
    for (url, v5, topic) in [
        (&tcp, false, "fc/js/tcp4"),
        (&tcp, true, "fc/js/tcp5"),
        (&wsu, false, "fc/js/ws4"),
        (&wsu, true, "fc/js/ws5"),
    ] {
        let sub = format!("off-{}", topic.replace('/', "-"));
        offline_subscriber(b.port, &sub, topic);
        let r = mqttjs_burst(url, topic, 20_000, v5);
        assert_eq!(r["acked"], 20_000, "{url} v5={v5}: {r}");
        assert_eq!(r["closes"], 0, "{url} v5={v5}: {r}");
        assert_eq!(r["errors"], serde_json::json!([]), "{url} v5={v5}: {r}");
        assert_eq!(drain(b.port, &sub, topic, 20_000), 20_000, "{topic}");
    }
}

/// `n` QoS 1 PUBLISHes to `topic`, with packet ids 1..=n.
fn qos1_burst(topic: &str, n: u16) -> Vec<Packet> {
    (1..=n)
        .map(|id| publish_packet(topic, &b"x"[..], QoS::AtLeastOnce, id, false))
        .collect()
}

/// Deterministic form: 200 QoS 1 PUBLISHes in one write against a Receive Maximum of 3, so
/// the broker reads them together. Default: all 200 acknowledged in order, no DISCONNECT.
/// Strict mode: 0x93 as before.
#[test]
fn qos1_beyond_receive_maximum_is_back_pressured_unless_strict() {
    let b = Broker::start_with(&[("HOLDFAST_MQTT__RECEIVE_MAXIMUM", "3")], None);
    offline_subscriber(b.port, "bp-off", "bp/t");
    let mut c = connect5(b.addr(), "bp-pub");
    c.send_all(qos1_burst("bp/t", 200));
    for id in 1..=200u16 {
        match c.recv(WAIT) {
            Some(Packet::PublishAck(a)) => assert_eq!(a.packet_id.get(), id),
            other => panic!("PUBACK {id} expected, got {other:?}"),
        }
    }
    assert_eq!(drain(b.port, "bp-off", "bp/t", 200), 200);

    let strict = Broker::start_with(
        &[
            ("HOLDFAST_MQTT__RECEIVE_MAXIMUM", "3"),
            ("HOLDFAST_MQTT__RECEIVE_MAXIMUM_STRICT", "true"),
        ],
        None,
    );
    let mut c = connect5(strict.addr(), "bp-strict");
    c.send_all(qos1_burst("bp/t", 200));
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::ReceiveMaximumExceeded
    );
}

/// A 3.1.1 client past the limit is back-pressured too (it has no Receive Maximum to obey),
/// and QoS 0 messages behind the paused QoS 1 ones keep their order.
#[test]
fn v311_burst_beyond_the_limit_keeps_order_with_qos0_mixed_in() {
    use std::io::Write;
    let b = Broker::start_with(&[("HOLDFAST_MQTT__RECEIVE_MAXIMUM", "2")], None);
    let sub = common::clients::mosq::Sub::start(b.port, &["-q", "1", "-t", "ord/#"]);
    let mut c = V3Client::connect(b.addr(), "ord-pub", true).0;
    let mut bytes = Vec::new();
    for i in 0..50u16 {
        let qos = if i % 5 == 4 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        let p = publish_packet("ord/t", format!("{i}").into_bytes(), qos, i + 1, false);
        bytes.extend(
            holdfast_codec::encode_packet(holdfast_codec::ProtocolVersion::V311, p)
                .expect("encode"),
        );
    }
    c.stream.write_all(&bytes).expect("write");
    for i in 0..50u16 {
        let qos = if i % 5 == 4 { 0 } else { 1 };
        assert_eq!(sub.expect_message(), format!("ord/t|{qos}|0|{i}"));
    }
    let log = b.log();
    assert!(!log.contains("closing connection"), "{log}");
}
