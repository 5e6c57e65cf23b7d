//! MQTT 5.0 features through the real broker with a third-party client (rumqttc::v5).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Broker;
use common::clients::v5::{
    Filter, LastWill, LastWillProperties, Packet, PubAckReason, PublishProperties, QoS,
    RetainForwardRule, SubscribeProperties, V5Client, connect, connect_id, options,
};
use common::clients::{QUIET, WAIT};

/// Publishes at QoS 1 and returns the PUBACK reason.
async fn publish_q1(
    c: &mut V5Client,
    topic: &str,
    retain: bool,
    payload: &str,
    props: PublishProperties,
) -> PubAckReason {
    c.client
        .publish_with_properties(topic, QoS::AtLeastOnce, retain, payload.to_string(), props)
        .await
        .expect("publish");
    let id = c.id.clone();
    c.next_matching(WAIT, |p| match p {
        Packet::PubAck(a) => Some(a.reason),
        _ => None,
    })
    .await
    .unwrap_or_else(|| panic!("{id}: no PUBACK"))
}

fn filter(path: &str, qos: QoS) -> Filter {
    Filter::new(path, qos)
}

fn topic(p: &common::clients::v5::Publish) -> String {
    String::from_utf8_lossy(&p.topic).into_owned()
}

#[tokio::test]
async fn session_expiry_keeps_the_session_for_its_interval_only() {
    let b = Broker::start();
    let mut o = options(b.addr(), "v5-sess-expiry");
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(2));

    let mut c = connect(o.clone()).await;
    assert!(!c.connack.session_present);
    c.sub("sexp/t", QoS::AtLeastOnce).await;
    c.disconnect().await;

    tokio::time::sleep(Duration::from_secs(1)).await;
    let c = connect(o.clone()).await;
    assert!(c.connack.session_present, "within the 2 s expiry");
    c.disconnect().await;

    tokio::time::sleep(Duration::from_millis(3500)).await;
    let c = connect(o).await;
    assert!(
        !c.connack.session_present,
        "expired 2 s after the disconnect"
    );
}

#[tokio::test]
async fn queued_messages_expire_and_the_remaining_interval_is_reduced() {
    let b = Broker::start();
    let mut o = options(b.addr(), "v5-msg-expiry");
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(60));
    let mut c = connect(o.clone()).await;
    c.sub("mexp/#", QoS::AtLeastOnce).await;
    c.disconnect().await;

    let mut publ = connect_id(b.addr(), "v5-msg-expiry-pub").await;
    for (t, secs) in [("mexp/short", 1), ("mexp/long", 10)] {
        let props = PublishProperties {
            message_expiry_interval: Some(secs),
            ..Default::default()
        };
        let r = publish_q1(&mut publ, t, false, t, props).await;
        assert_eq!(r, PubAckReason::Success);
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut c = connect(o).await;
    assert!(c.connack.session_present);
    let p = c.expect_publish().await;
    assert_eq!(
        topic(&p),
        "mexp/long",
        "the 1 s message expired while queued"
    );
    let left = p
        .properties
        .as_ref()
        .and_then(|pr| pr.message_expiry_interval)
        .expect("Message Expiry Interval forwarded");
    assert!(
        left <= 8,
        "expiry reduced by the ~2 s the message waited, got {left}"
    );
    c.expect_no_publish(QUIET).await;
}

fn will_options(b: &Broker, id: &str, delay: u32) -> rumqttc::v5::MqttOptions {
    let mut o = options(b.addr(), id);
    o.set_session_expiry_interval(Some(60));
    o.set_last_will(LastWill::new(
        "wdelay/gone",
        id,
        QoS::AtLeastOnce,
        false,
        Some(LastWillProperties {
            delay_interval: Some(delay),
            payload_format_indicator: None,
            message_expiry_interval: None,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            user_properties: vec![],
        }),
    ));
    o
}

#[tokio::test]
async fn will_delay_publishes_the_will_after_the_delay() {
    let b = Broker::start();
    let mut watcher = connect_id(b.addr(), "v5-wdelay-watch").await;
    watcher.sub("wdelay/#", QoS::AtLeastOnce).await;
    let c = connect(will_options(&b, "v5-wdelay", 2)).await;
    let dropped = Instant::now();
    c.kill().await;

    let p = watcher.expect_publish().await;
    let waited = dropped.elapsed();
    assert_eq!(p.payload, "v5-wdelay".as_bytes());
    assert!(
        waited >= Duration::from_secs(2),
        "will sent after {waited:?}, before its 2 s delay"
    );
}

#[tokio::test]
async fn reconnecting_within_the_will_delay_cancels_the_will() {
    let b = Broker::start();
    let mut watcher = connect_id(b.addr(), "v5-wcancel-watch").await;
    watcher.sub("wdelay/#", QoS::AtLeastOnce).await;
    let mut o = will_options(&b, "v5-wcancel", 2);
    let c = connect(o.clone()).await;
    c.kill().await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    o.set_clean_start(false);
    let c = connect(o).await;
    assert!(c.connack.session_present);
    watcher.expect_no_publish(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn no_local_suppresses_own_messages_only() {
    let b = Broker::start();
    let mut c = connect_id(b.addr(), "v5-nolocal").await;
    let mut f = filter("nl/t", QoS::AtLeastOnce);
    f.nolocal = true;
    c.sub_with(vec![f], None).await;
    publish_q1(&mut c, "nl/t", false, "own", PublishProperties::default()).await;
    c.expect_no_publish(QUIET).await;

    let mut other = connect_id(b.addr(), "v5-nolocal-other").await;
    publish_q1(&mut other, "nl/t", false, "other", Default::default()).await;
    let p = c.expect_publish().await;
    assert_eq!(p.payload, "other".as_bytes());
}

#[tokio::test]
async fn retain_as_published_keeps_the_retain_flag_on_live_messages() {
    let b = Broker::start();
    let mut rap = connect_id(b.addr(), "v5-rap-on").await;
    let mut f = filter("rap/t", QoS::AtLeastOnce);
    f.preserve_retain = true;
    rap.sub_with(vec![f], None).await;
    let mut plain = connect_id(b.addr(), "v5-rap-off").await;
    plain.sub("rap/t", QoS::AtLeastOnce).await;

    let mut publ = connect_id(b.addr(), "v5-rap-pub").await;
    publish_q1(&mut publ, "rap/t", true, "r", Default::default()).await;
    assert!(rap.expect_publish().await.retain, "retain-as-published");
    assert!(
        !plain.expect_publish().await.retain,
        "default: RETAIN cleared"
    );
}

#[tokio::test]
async fn retain_handling_0_1_2() {
    let b = Broker::start();
    let mut publ = connect_id(b.addr(), "v5-rh-pub").await;
    publish_q1(&mut publ, "rh/t", true, "kept", Default::default()).await;

    let rh = |rule| {
        let mut f = filter("rh/t", QoS::AtLeastOnce);
        f.retain_forward_rule = rule;
        vec![f]
    };

    // 0: on every subscribe, including a repeat of an existing subscription.
    let mut c0 = connect_id(b.addr(), "v5-rh0").await;
    for round in 0..2 {
        c0.sub_with(rh(RetainForwardRule::OnEverySubscribe), None)
            .await;
        let p = c0.expect_publish().await;
        assert!(p.retain, "round {round}");
        assert_eq!(p.payload, "kept".as_bytes());
    }

    // 1: only when the subscription is new.
    let mut c1 = connect_id(b.addr(), "v5-rh1").await;
    c1.sub_with(rh(RetainForwardRule::OnNewSubscribe), None)
        .await;
    assert!(c1.expect_publish().await.retain);
    c1.sub_with(rh(RetainForwardRule::OnNewSubscribe), None)
        .await;
    c1.expect_no_publish(QUIET).await;

    // 2: never, though the subscription itself works.
    let mut c2 = connect_id(b.addr(), "v5-rh2").await;
    c2.sub_with(rh(RetainForwardRule::Never), None).await;
    c2.expect_no_publish(QUIET).await;
    publish_q1(&mut publ, "rh/t", false, "live", Default::default()).await;
    assert_eq!(c2.expect_publish().await.payload, "live".as_bytes());
}

#[tokio::test]
async fn overlapping_subscriptions_give_one_copy_with_both_identifiers() {
    let b = Broker::start();
    let mut c = connect_id(b.addr(), "v5-subid").await;
    for (f, id) in [("sid/#", 1), ("sid/+", 2)] {
        let props = SubscribeProperties {
            id: Some(id),
            user_properties: vec![],
        };
        c.sub_with(vec![filter(f, QoS::AtLeastOnce)], Some(props))
            .await;
    }
    let mut publ = connect_id(b.addr(), "v5-subid-pub").await;
    publish_q1(&mut publ, "sid/x", false, "x", Default::default()).await;

    let p = c.expect_publish().await;
    let mut ids = p
        .properties
        .map(|pr| pr.subscription_identifiers)
        .unwrap_or_default();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2]);
    c.expect_no_publish(QUIET).await;
}

#[tokio::test]
async fn shared_subscription_gives_each_message_to_exactly_one_member() {
    let b = Broker::start();
    let mut m1 = connect_id(b.addr(), "v5-share-1").await;
    let mut m2 = connect_id(b.addr(), "v5-share-2").await;
    let mut plain = connect_id(b.addr(), "v5-share-plain").await;
    m1.sub("$share/g/sh/t", QoS::AtLeastOnce).await;
    m2.sub("$share/g/sh/t", QoS::AtLeastOnce).await;
    plain.sub("sh/t", QoS::AtLeastOnce).await;

    let mut publ = connect_id(b.addr(), "v5-share-pub").await;
    for i in 0..20 {
        publish_q1(&mut publ, "sh/t", false, &i.to_string(), Default::default()).await;
    }

    let mut got: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.values().map(Vec::len).sum::<usize>() < 20 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::select! {
            p = m1.next_publish(left) => match p {
                Some(p) => got.entry(String::from_utf8_lossy(&p.payload).into()).or_default().push("m1"),
                None => break,
            },
            p = m2.next_publish(left) => match p {
                Some(p) => got.entry(String::from_utf8_lossy(&p.payload).into()).or_default().push("m2"),
                None => break,
            },
        }
    }
    m1.expect_no_publish(Duration::from_millis(300)).await;
    m2.expect_no_publish(Duration::from_millis(300)).await;
    for i in 0..20 {
        assert_eq!(
            got.get(&i.to_string()).map(Vec::len),
            Some(1),
            "message {i} to exactly one member: {got:?}"
        );
    }
    let n1 = got.values().filter(|v| v[0] == "m1").count();
    assert!(
        n1 > 0 && n1 < 20,
        "both members get messages: m1 got {n1}/20"
    );

    // A non-shared subscription on the same topic still gets all of them.
    for i in 0..20 {
        assert_eq!(
            plain.expect_publish().await.payload,
            i.to_string().as_bytes()
        );
    }
}

#[tokio::test]
async fn request_response_properties_are_forwarded() {
    let b = Broker::start();
    let mut responder = connect_id(b.addr(), "v5-rr-responder").await;
    responder.sub("rr/req", QoS::AtLeastOnce).await;
    let mut requester = connect_id(b.addr(), "v5-rr-requester").await;
    requester.sub("rr/reply/v5", QoS::AtLeastOnce).await;

    let props = PublishProperties {
        response_topic: Some("rr/reply/v5".into()),
        correlation_data: Some("corr-42".into()),
        ..Default::default()
    };
    publish_q1(&mut requester, "rr/req", false, "ping", props).await;
    let req = responder.expect_publish().await;
    let rp = req.properties.expect("request properties");
    let reply_to = rp.response_topic.expect("Response Topic forwarded");
    assert_eq!(reply_to, "rr/reply/v5");
    let corr = rp.correlation_data.expect("Correlation Data forwarded");
    assert_eq!(corr, "corr-42".as_bytes());

    let props = PublishProperties {
        correlation_data: Some(corr),
        ..Default::default()
    };
    publish_q1(&mut responder, &reply_to, false, "pong", props).await;
    let resp = requester.expect_publish().await;
    assert_eq!(resp.payload, "pong".as_bytes());
    assert_eq!(
        resp.properties.and_then(|p| p.correlation_data),
        Some("corr-42".into())
    );
}

#[tokio::test]
async fn user_properties_payload_format_and_content_type_are_forwarded_in_order() {
    let b = Broker::start();
    let mut sub = connect_id(b.addr(), "v5-props-sub").await;
    sub.sub("props/t", QoS::AtLeastOnce).await;
    let mut publ = connect_id(b.addr(), "v5-props-pub").await;
    let user = vec![
        ("k".to_string(), "1".to_string()),
        ("a".to_string(), "2".to_string()),
        ("k".to_string(), "3".to_string()),
    ];
    let props = PublishProperties {
        payload_format_indicator: Some(1),
        content_type: Some("application/json".into()),
        user_properties: user.clone(),
        ..Default::default()
    };
    publish_q1(&mut publ, "props/t", false, "{\"v\":1}", props).await;
    let p = sub.expect_publish().await;
    let pr = p.properties.expect("properties");
    assert_eq!(
        pr.user_properties, user,
        "same pairs, same order, duplicates kept"
    );
    assert_eq!(pr.payload_format_indicator, Some(1));
    assert_eq!(pr.content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn empty_client_id_gets_an_assigned_client_identifier() {
    let b = Broker::start();
    let c1 = connect(options(b.addr(), "")).await;
    let c2 = connect(options(b.addr(), "")).await;
    let id = |c: &V5Client| {
        c.connack
            .properties
            .as_ref()
            .and_then(|p| p.assigned_client_identifier.clone())
            .expect("Assigned Client Identifier in CONNACK")
    };
    let (a1, a2) = (id(&c1), id(&c2));
    assert!(!a1.is_empty());
    assert_ne!(a1, a2, "each connection gets its own identifier");
}

#[tokio::test]
async fn puback_says_no_matching_subscribers() {
    let b = Broker::start();
    let mut publ = connect_id(b.addr(), "v5-nomatch-pub").await;
    let r = publish_q1(&mut publ, "nomatch/t", false, "x", Default::default()).await;
    assert_eq!(r, PubAckReason::NoMatchingSubscribers);

    let mut sub = connect_id(b.addr(), "v5-nomatch-sub").await;
    sub.sub("nomatch/t", QoS::AtLeastOnce).await;
    let r = publish_q1(&mut publ, "nomatch/t", false, "x", Default::default()).await;
    assert_eq!(r, PubAckReason::Success);
}
