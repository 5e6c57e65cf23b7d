//! Regression tests for the breaks an adversarial review of stage 1 found (issue 17), each as a
//! user or an attacker would hit it: real broker process, real sockets, the mosquitto clients.

mod common;
mod support;

use common::Broker;
use common::clients::mosq::{publish, subscribe_until_done};
use common::http::Http;
use holdfast_codec::{
    ConnectAckReason, DisconnectReasonCode, LastWill, Packet, QoS, SubscribeAckReason,
};
use support::*;

/// `a/a/.../a` with `n` levels.
fn deep_topic(n: usize) -> String {
    vec!["a"; n].join("/")
}

/// Break 1: a retained message 32,001 levels deep, then a SUBSCRIBE to `+/+/.../#` 32,768
/// levels deep, used to overflow the broker's stack, and again after every restart. With the
/// limit raised so that the message gets in, the broker now serves it; with the default
/// limit back, it still loads after a restart and can be deleted.
#[test]
fn deep_topics_do_not_crash_the_broker_and_stored_ones_stay_deletable() {
    let mut b = Broker::start_with_admin(&[("HOLDFAST_MQTT__TOPIC_LEVELS_MAX", "65535")], None);
    let dt = deep_topic(32_001);
    let fp = format!("{}#", "+/".repeat(32_767));
    publish(b.port, &["-q", "1", "-r", "-t", &dt, "-m", "x"]);
    // The issue's filter: deeper than the topic, so it matches nothing, but the walk used to
    // abort the process.
    let got = subscribe_until_done(b.port, &["-t", &fp, "-C", "1", "-W", "2"]);
    assert!(got.is_empty(), "{} levels do not match", 32_768);
    assert!(b.is_running(), "the broker survived the deep SUBSCRIBE");
    let matching = format!("{}#", "+/".repeat(32_000));
    let got = subscribe_until_done(b.port, &["-t", &matching, "-C", "1", "-W", "5"]);
    assert_eq!(got, vec![format!("{dt}|0|1|x")]);

    // Back to the default limit of 128 levels: the stored message loads, is served to a
    // shallow wildcard, and can be deleted through the admin API.
    b.terminate();
    b.env
        .retain(|(k, _)| k != "HOLDFAST_MQTT__TOPIC_LEVELS_MAX");
    b.restart();
    b.wait_for_admin();
    let got = subscribe_until_done(b.port, &["-t", "#", "-C", "1", "-W", "5"]);
    assert_eq!(got, vec![format!("{dt}|0|1|x")]);
    let http = Http::new(&b.admin_url(), Some(&b.admin_key()));
    let del = http.delete(&format!("/api/v1/retained/{dt}"));
    assert_eq!(del.status, 204, "{}", del.body);
    let got = subscribe_until_done(b.port, &["-t", "#", "-C", "1", "-W", "1"]);
    assert!(got.is_empty(), "deleted: {got:?}");
    assert!(b.is_running());
}

/// Break 1: `mqtt.topic_levels_max` (default 128) refuses deeper topics on PUBLISH,
/// SUBSCRIBE and a will, each with its reason code; 128 levels pass.
#[test]
fn topic_levels_max_refuses_deeper_publish_subscribe_and_will() {
    let b = Broker::start();
    let ok = deep_topic(128);
    let deep = deep_topic(129);

    let mut c = connect5(b.addr(), "levels-sub");
    subscribe(
        &mut c,
        1,
        &format!("{}#", "+/".repeat(127)),
        QoS::AtMostOnce,
    );
    c.send(subscribe_packet(
        2,
        &format!("{}#", "+/".repeat(128)),
        QoS::AtMostOnce,
    ));
    match c.recv(WAIT) {
        Some(Packet::SubscribeAck(a)) => {
            assert_eq!(a.status, vec![SubscribeAckReason::TopicFilterInvalid]);
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }
    c.send(subscribe_packet(
        3,
        &format!("$share/g/{}", deep),
        QoS::AtMostOnce,
    ));
    match c.recv(WAIT) {
        Some(Packet::SubscribeAck(a)) => {
            assert_eq!(a.status, vec![SubscribeAckReason::TopicFilterInvalid]);
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }

    let mut p = connect5(b.addr(), "levels-pub");
    p.send(publish_packet(&ok, "fits", QoS::AtLeastOnce, 1, false));
    assert!(matches!(p.recv(WAIT), Some(Packet::PublishAck(_))));
    expect_publish(&mut c, &ok, b"fits");
    p.send(publish_packet(
        &deep,
        "too deep",
        QoS::AtLeastOnce,
        2,
        false,
    ));
    assert_eq!(
        expect_disconnect(&mut p, WAIT),
        DisconnectReasonCode::TopicNameInvalid
    );

    let mut will = connect_packet("levels-will");
    will.last_will = Some(LastWill {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: deep.as_str().into(),
        message: "gone".into(),
        will_delay_interval_sec: None,
        correlation_data: None,
        message_expiry_interval: None,
        content_type: None,
        user_properties: vec![],
        is_utf8_payload: None,
        response_topic: None,
    });
    let (_w, ack) = connect_with(b.addr(), will);
    assert_eq!(ack.reason_code, ConnectAckReason::TopicNameInvalid);
}
