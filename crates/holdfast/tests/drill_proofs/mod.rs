//! What the disaster-recovery drill proves on node B after the import, with real clients.

use std::collections::BTreeMap;

use bytes::Bytes;
use holdfast_backup::{Archive, Table, Verified};
use holdfast_codec::{ConnectAckReason, Packet, PublishAckReason, QoS, SubscribeAckReason};
use serde_json::Value;

use crate::backup_support::{WINDOW, manifest_count, stats};
use crate::common::http::Http;
use crate::common::{Broker, RawClient};
use crate::support::{
    QUIET, V3Client, WAIT, connect_packet, connect_with, connect5, next_publish, puback,
    publish_packet, subscribe, subscribe_packet,
};
use crate::{INFLIGHT, QUEUED_EACH, RETAINED, SESSIONS, WITNESS, client_id, is_v3};

/// B's counts equal the archive's: every record of the cut arrived, nothing else (but B's
/// own bootstrap key).
pub fn counts_match(api: &Http, a: &Archive<Verified>) {
    let s = stats(api);
    let n = |t| manifest_count(a, t);
    assert_eq!(s["users"], n(Table::Users));
    assert_eq!(s["acl_rules"], n(Table::Acl));
    assert_eq!(s["banned"], n(Table::Banned));
    assert_eq!(
        s["api_keys"],
        n(Table::ApiKeys) + 1,
        "plus B's own bootstrap key"
    );
    assert_eq!(s["retained"], n(Table::Retained));
    assert_eq!(s["sessions"], n(Table::Sessions));
    assert_eq!(s["subscriptions"], n(Table::Subscriptions));
    let clients: Value = api.ok("/api/v1/clients");
    let sum = |k: &str| -> u64 {
        clients
            .as_array()
            .expect("clients")
            .iter()
            .map(|c| c[k].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("queued"), n(Table::Queued));
    assert_eq!(sum("inflight"), n(Table::Inflight));
}

fn connect_as(b: &Broker, id: &str, user: &str, pw: &str) -> (RawClient, ConnectAckReason) {
    let mut c = connect_packet(id);
    c.username = Some(user.into());
    c.password = Some(Bytes::from(pw.to_string()));
    let (client, ack) = connect_with(b.addr(), c);
    (client, ack.reason_code)
}

/// Old passwords log in, wrong ones do not; ACL rules and bans hold; the API keys work.
pub fn auth_holds(b: &Broker, viewer: &str) {
    for user in ["alice", "bob", "carol", "dave"] {
        let (_, rc) = connect_as(b, &format!("{user}-1"), user, &format!("{user}-pw"));
        assert_eq!(
            rc,
            ConnectAckReason::Success,
            "{user} logs in with the old password"
        );
        let (_, rc) = connect_as(b, &format!("{user}-2"), user, "wrong");
        assert_eq!(rc, ConnectAckReason::BadUserNameOrPassword, "{user}");
    }
    let (_, rc) = connect_as(b, "m-1", "mallory", "mallory-pw");
    assert_eq!(rc, ConnectAckReason::Banned, "username ban");
    let (_, ack) = connect_with(b.addr(), connect_packet("banned-client"));
    assert_eq!(ack.reason_code, ConnectAckReason::Banned, "client id ban");

    let (mut bob, _) = connect_as(b, "bob-3", "bob", "bob-pw");
    bob.send(subscribe_packet(1, "secret/x", QoS::AtMostOnce));
    match bob.recv(WAIT) {
        Some(Packet::SubscribeAck(a)) => assert_eq!(a.status, [SubscribeAckReason::NotAuthorized]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    subscribe(&mut bob, 2, "public/x", QoS::AtMostOnce);
    bob.send(publish_packet(
        "ro/x",
        &b"v"[..],
        QoS::AtLeastOnce,
        3,
        false,
    ));
    match bob.recv(WAIT) {
        Some(Packet::PublishAck(a)) => assert_eq!(a.reason_code, PublishAckReason::NotAuthorized),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let (mut alice, _) = connect_as(b, "alice-3", "alice", "alice-pw");
    subscribe(&mut alice, 1, "secret/x", QoS::AtMostOnce);

    let api = Http::new(&b.admin_url(), Some(viewer));
    assert_eq!(
        api.get("/api/v1/node").status,
        200,
        "the imported viewer key works on B"
    );
    let denied = api.send("POST", "/api/v1/data/export", &serde_json::json!({}));
    assert_eq!(denied.status, 403, "and keeps its viewer role");
}

/// Retained messages are served to new subscribers, wildcards included.
pub fn retained_served(b: &Broker) {
    let got = retained_on(b, "ret/#");
    assert_eq!(got.len(), RETAINED);
    for (topic, payload) in &got {
        let n = topic.rsplit('/').next().expect("n");
        assert_eq!(payload, &format!("retained-{n}"));
    }
    let zone = retained_on(b, "ret/z3/+");
    assert_eq!(zone.len(), RETAINED / 10);
    assert!(zone.keys().all(|t| t.starts_with("ret/z3/")));
}

fn retained_on(b: &Broker, filter: &str) -> BTreeMap<String, String> {
    let mut c = connect5(b.addr(), &format!("ret-reader-{}", filter.len()));
    subscribe(&mut c, 1, filter, QoS::AtMostOnce);
    let mut got = BTreeMap::new();
    while let Some(p) = next_publish(&mut c, QUIET) {
        assert!(p.retain, "{} arrives as retained", p.topic);
        got.insert(
            p.topic.to_string(),
            String::from_utf8(p.payload.to_vec()).expect("utf-8"),
        );
    }
    got
}

/// Every session resumes with `clean_start=false`: session present, its queued messages in
/// order (the in-flight ones first, with DUP), and its subscription still routing.
pub fn sessions_resume(b: &Broker, witness_queued: usize) {
    let mut online = Vec::new();
    for i in 0..SESSIONS {
        let id = client_id(i);
        let expect = |k: usize| (format!("drill/c{i:02}/m{k}"), format!("{i}-{k}"));
        if is_v3(i) {
            let (mut c, rc, present) = V3Client::connect(b.addr(), &id, false);
            assert_eq!((rc, present), (0, true), "{id}");
            for k in 0..QUEUED_EACH {
                let p = c
                    .recv_publish(WAIT)
                    .unwrap_or_else(|| panic!("{id}: message {k}"));
                assert_eq!(
                    (
                        p.topic.clone(),
                        String::from_utf8(p.payload.clone()).expect("utf-8")
                    ),
                    expect(k)
                );
                assert!(!p.dup && p.qos == 1);
                c.puback(p.packet_id);
            }
            continue;
        }
        let mut conn = connect_packet(&id);
        conn.clean_start = false;
        conn.session_expiry_interval_secs = 86_400;
        let (mut c, ack) = connect_with(b.addr(), conn);
        assert_eq!(ack.reason_code, ConnectAckReason::Success);
        assert!(ack.session_present, "{id} finds its session on B");
        for k in 0..QUEUED_EACH {
            let p = next_publish(&mut c, WAIT).unwrap_or_else(|| panic!("{id}: message {k}"));
            let (topic, payload) = expect(k);
            assert_eq!(
                (p.topic.to_string(), &p.payload[..]),
                (topic, payload.as_bytes())
            );
            assert_eq!(p.qos, QoS::AtLeastOnce);
            assert_eq!(
                p.dup,
                i == 0 && k < INFLIGHT,
                "{id} message {k}: DUP only on in-flight ones"
            );
            c.send(puback(p.packet_id.expect("QoS 1").get()));
        }
        online.push((i, c));
    }
    std::thread::sleep(QUIET);
    for (i, c) in &mut online {
        let extra = next_publish(c, std::time::Duration::from_millis(10));
        assert!(
            extra.is_none(),
            "drill-c{i:02}: nothing more, got {extra:?}"
        );
    }
    let mut p = connect5(b.addr(), "after-import");
    let msgs = online
        .iter()
        .map(|(i, _)| (format!("drill/c{i:02}/after"), b"after".to_vec()))
        .collect::<Vec<_>>();
    assert!(msgs.len() <= WINDOW * 10);
    crate::backup_support::publish_many(&mut p, msgs, false);
    for (i, c) in &mut online {
        let p = next_publish(c, WAIT).unwrap_or_else(|| panic!("drill-c{i:02}: live message"));
        assert_eq!(
            p.topic,
            format!("drill/c{i:02}/after"),
            "the imported subscription routes"
        );
    }
    // The witness's session came too, with every message of the cut.
    let mut conn = connect_packet(WITNESS);
    conn.clean_start = false;
    conn.session_expiry_interval_secs = 86_400;
    let (mut w, ack) = connect_with(b.addr(), conn);
    assert!(ack.session_present);
    let mut n = 0;
    while let Some(p) = next_publish(&mut w, QUIET) {
        assert!(p.topic.starts_with("live/"));
        w.send(puback(p.packet_id.expect("QoS 1").get()));
        n += 1;
    }
    assert_eq!(n, witness_queued);
}
