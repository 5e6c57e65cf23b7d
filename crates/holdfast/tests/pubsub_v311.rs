//! MQTT 3.1.1 publish/subscribe through the real broker with a third-party client (rumqttc).

mod common;

use std::time::Duration;

use common::Broker;
use common::clients::v4::{LastWill, QoS, connect, connect_id, options};
use common::clients::{QUIET, WAIT};

#[tokio::test]
async fn qos0_qos1_qos2_are_delivered_at_the_published_qos() {
    let b = Broker::start();
    let mut sub = connect_id(b.addr(), "v311-qos-sub").await;
    let ack = sub.sub("qos/#", QoS::ExactlyOnce).await;
    assert_eq!(ack.return_codes.len(), 1);
    let mut publ = connect_id(b.addr(), "v311-qos-pub").await;

    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let topic = format!("qos/{i}");
        let payload = format!("payload at {qos:?}");
        publ.client
            .publish(&topic, qos, false, payload.clone())
            .await
            .expect("publish");
        if qos != QoS::AtMostOnce {
            publ.expect_pub_done(qos).await;
        }
        let p = sub.expect_publish().await;
        assert_eq!(p.topic, topic);
        assert_eq!(p.payload, payload.as_bytes());
        assert_eq!(p.qos, qos, "delivered at the publish QoS");
        assert!(!p.retain, "a live message is not flagged retained");
    }
    sub.expect_no_publish(QUIET).await;
}

#[tokio::test]
async fn subscription_qos_caps_the_delivery_qos() {
    let b = Broker::start();
    let mut sub = connect_id(b.addr(), "v311-cap-sub").await;
    sub.sub("cap/t", QoS::AtLeastOnce).await;
    let mut publ = connect_id(b.addr(), "v311-cap-pub").await;
    publ.client
        .publish("cap/t", QoS::ExactlyOnce, false, "x")
        .await
        .expect("publish");
    publ.expect_pub_done(QoS::ExactlyOnce).await;
    let p = sub.expect_publish().await;
    assert_eq!(
        p.qos,
        QoS::AtLeastOnce,
        "min(publish QoS 2, subscription QoS 1)"
    );
}

#[tokio::test]
async fn retained_message_served_to_new_subscribers_and_deleted_by_empty_payload() {
    let b = Broker::start();
    let mut publ = connect_id(b.addr(), "v311-ret-pub").await;
    publ.client
        .publish("ret/a/b", QoS::AtLeastOnce, true, "kept")
        .await
        .expect("publish");
    publ.expect_pub_done(QoS::AtLeastOnce).await;

    // Exact filter and wildcard filters each get the retained message, flagged retained.
    for (id, filter) in [
        ("v311-ret-exact", "ret/a/b"),
        ("v311-ret-plus", "ret/+/b"),
        ("v311-ret-hash", "ret/#"),
    ] {
        let mut s = connect_id(b.addr(), id).await;
        s.sub(filter, QoS::AtLeastOnce).await;
        let p = s.expect_publish().await;
        assert_eq!(p.topic, "ret/a/b", "{filter}");
        assert_eq!(p.payload, "kept".as_bytes(), "{filter}");
        assert!(
            p.retain,
            "{filter}: served from the retained store with RETAIN=1"
        );
        s.expect_no_publish(QUIET).await;
        s.disconnect().await;
    }

    // An empty retained payload deletes it; the delete itself is not retained.
    publ.client
        .publish("ret/a/b", QoS::AtLeastOnce, true, Vec::<u8>::new())
        .await
        .expect("publish");
    publ.expect_pub_done(QoS::AtLeastOnce).await;
    let mut s = connect_id(b.addr(), "v311-ret-after").await;
    s.sub("ret/#", QoS::AtLeastOnce).await;
    s.expect_no_publish(QUIET).await;
}

#[tokio::test]
async fn will_is_published_when_the_connection_drops_without_disconnect() {
    let b = Broker::start();
    let mut watcher = connect_id(b.addr(), "v311-will-watch").await;
    watcher.sub("will/#", QoS::AtLeastOnce).await;

    let mut o = options(b.addr(), "v311-will-drop");
    o.set_last_will(LastWill::new("will/drop", "gone", QoS::AtLeastOnce, false));
    let c = connect(o).await;
    watcher.expect_no_publish(Duration::from_millis(200)).await;
    c.kill().await; // socket closed, no DISCONNECT

    let p = watcher.expect_publish().await;
    assert_eq!(p.topic, "will/drop");
    assert_eq!(p.payload, "gone".as_bytes());
    assert_eq!(p.qos, QoS::AtLeastOnce);
    watcher.expect_no_publish(QUIET).await;
}

#[tokio::test]
async fn will_is_not_published_after_a_clean_disconnect() {
    let b = Broker::start();
    let mut watcher = connect_id(b.addr(), "v311-nowill-watch").await;
    watcher.sub("will/#", QoS::AtLeastOnce).await;

    let mut o = options(b.addr(), "v311-nowill");
    o.set_last_will(LastWill::new("will/clean", "gone", QoS::AtLeastOnce, false));
    let c = connect(o).await;
    c.disconnect().await;
    watcher.expect_no_publish(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn persistent_session_keeps_subscriptions_and_queues_qos1_while_offline() {
    let b = Broker::start();
    let mut o = options(b.addr(), "v311-persist");
    o.set_clean_session(false);

    let mut c = connect(o.clone()).await;
    assert!(!c.connack.session_present, "first connect: no session yet");
    c.sub("persist/#", QoS::AtLeastOnce).await;
    c.disconnect().await;

    let mut publ = connect_id(b.addr(), "v311-persist-pub").await;
    for i in 0..3 {
        publ.client
            .publish(
                format!("persist/{i}"),
                QoS::AtLeastOnce,
                false,
                format!("m{i}"),
            )
            .await
            .expect("publish");
        publ.expect_pub_done(QoS::AtLeastOnce).await;
    }

    let mut c = connect(o.clone()).await;
    assert!(c.connack.session_present, "session resumed");
    for i in 0..3 {
        let p = c.expect_publish().await;
        assert_eq!(p.topic, format!("persist/{i}"), "queued in order");
        assert_eq!(p.payload, format!("m{i}").as_bytes());
        assert_eq!(p.qos, QoS::AtLeastOnce);
    }
    c.expect_no_publish(QUIET).await;

    // The subscription itself survived: live messages still arrive without re-subscribing.
    publ.client
        .publish("persist/live", QoS::AtLeastOnce, false, "live")
        .await
        .expect("publish");
    let p = c.expect_publish().await;
    assert_eq!(p.topic, "persist/live");
}

#[tokio::test]
async fn clean_session_discards_the_previous_session() {
    let b = Broker::start();
    let mut o = options(b.addr(), "v311-discard");
    o.set_clean_session(false);
    let mut c = connect(o.clone()).await;
    c.sub("discard/#", QoS::AtLeastOnce).await;
    c.disconnect().await;

    let mut clean = options(b.addr(), "v311-discard");
    clean.set_clean_session(true);
    let mut c = connect(clean).await;
    assert!(
        !c.connack.session_present,
        "clean session: no session present"
    );
    let mut publ = connect_id(b.addr(), "v311-discard-pub").await;
    publ.client
        .publish("discard/x", QoS::AtLeastOnce, false, "x")
        .await
        .expect("publish");
    publ.expect_pub_done(QoS::AtLeastOnce).await;
    c.expect_no_publish(QUIET).await;
    c.disconnect().await;

    // Nothing was kept for the id either: a later persistent connect starts fresh.
    let c = connect(o).await;
    assert!(
        !c.connack.session_present,
        "clean session state was not kept"
    );
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() {
    let b = Broker::start();
    let mut sub = connect_id(b.addr(), "v311-overlap-sub").await;
    sub.sub("TopicA/#", QoS::ExactlyOnce).await;
    sub.sub("TopicA/+", QoS::AtLeastOnce).await;
    let mut publ = connect_id(b.addr(), "v311-overlap-pub").await;
    publ.client
        .publish("TopicA/B", QoS::ExactlyOnce, false, "once")
        .await
        .expect("publish");
    publ.expect_pub_done(QoS::ExactlyOnce).await;

    let p = sub.expect_publish().await;
    assert_eq!(p.topic, "TopicA/B");
    assert_eq!(p.qos, QoS::ExactlyOnce, "the higher of the matching QoS");
    sub.expect_no_publish(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn hash_does_not_match_sys_topics_while_sys_hash_gets_broker_stats() {
    let b = Broker::start_with(&[("HOLDFAST_MQTT__SYS_INTERVAL_SECS", "1")], None);
    let mut all = connect_id(b.addr(), "v311-sys-all").await;
    all.sub("#", QoS::AtMostOnce).await;
    let mut sys = connect_id(b.addr(), "v311-sys-sys").await;
    sys.sub("$SYS/#", QoS::AtMostOnce).await;

    let p = sys.expect_publish().await;
    assert!(p.topic.starts_with("$SYS/broker/"), "{}", p.topic);
    // Over a few intervals the uptime stat shows up.
    let mut topics = vec![p.topic.clone()];
    while let Some(p) = sys.next_publish(Duration::from_millis(2500)).await {
        topics.push(p.topic.clone());
        if p.topic == "$SYS/broker/uptime" {
            break;
        }
    }
    assert!(
        topics.iter().any(|t| t == "$SYS/broker/uptime"),
        "{topics:?}"
    );

    // `#` saw none of them (whatever it receives within 2 intervals is not `$SYS`).
    let mut publ = connect_id(b.addr(), "v311-sys-pub").await;
    publ.client
        .publish("plain/topic", QoS::AtLeastOnce, false, "x")
        .await
        .expect("publish");
    publ.expect_pub_done(QoS::AtLeastOnce).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut seen = Vec::new();
    while let Some(p) = all
        .next_publish(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        seen.push(p.topic.clone());
    }
    assert_eq!(
        seen,
        vec!["plain/topic".to_string()],
        "`#` must not match $SYS"
    );
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let b = Broker::start();
    let mut sub = connect_id(b.addr(), "v311-unsub-sub").await;
    sub.sub("unsub/t", QoS::AtLeastOnce).await;
    let mut publ = connect_id(b.addr(), "v311-unsub-pub").await;
    publ.client
        .publish("unsub/t", QoS::AtLeastOnce, false, "before")
        .await
        .expect("publish");
    assert_eq!(sub.expect_publish().await.payload, "before".as_bytes());

    sub.client
        .unsubscribe("unsub/t")
        .await
        .expect("unsubscribe");
    let got = sub
        .next_matching(WAIT, |p| {
            matches!(p, common::clients::v4::Packet::UnsubAck(_)).then_some(())
        })
        .await;
    assert!(got.is_some(), "UNSUBACK");
    publ.client
        .publish("unsub/t", QoS::AtLeastOnce, false, "after")
        .await
        .expect("publish");
    publ.expect_pub_done(QoS::AtLeastOnce).await;
    sub.expect_no_publish(QUIET).await;
}
