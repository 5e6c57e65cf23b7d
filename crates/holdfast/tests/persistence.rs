//! Durability of the real binary: kill -9 during traffic, clean SIGTERM, and periodic
//! durability all bring back persistent sessions (3.1.1 clean_session=0 and 5.0 expiry),
//! their subscriptions, their queued QoS 1/2 messages (all, in order) and retained messages.

mod common;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::http::Http;
use common::{Broker, RawClient};
use holdfast_codec::{Packet, ProtocolVersion, QoS};
use serde_json::json;
use support::*;

/// Messages queued for each offline subscriber.
const N: usize = 200;
/// Retained topics.
const RETAINED: usize = 20;

/// Sessions, queued messages and retained messages, with the broker stopped in between.
fn prepare(b: &Broker, tag: &str) {
    let (mut v3, rc, present) = V3Client::connect(b.addr(), &format!("{tag}-v3"), false);
    assert_eq!((rc, present), (0, false));
    v3.subscribe(1, &format!("{tag}/v3"), QoS::AtLeastOnce);
    v3.disconnect();

    let (mut v5, present) = connect5_persistent(b.addr(), &format!("{tag}-v5"), true, 3600);
    assert!(!present);
    subscribe(&mut v5, 1, &format!("{tag}/v5"), QoS::ExactlyOnce);
    v5.send(disconnect());
    assert!(v5.is_closed(WAIT));

    let mut publ = connect5(b.addr(), &format!("{tag}-pub"));
    for i in 0..RETAINED {
        let id = u16::try_from(i + 1).expect("small");
        let topic = format!("{tag}/ret/{i}");
        publish_acked(
            &mut publ,
            &topic,
            format!("r-{i}").into_bytes(),
            QoS::AtLeastOnce,
            id,
            true,
        );
    }
    for i in 0..N {
        let id = u16::try_from(i % 60_000 + 1).expect("small");
        let v3_topic = format!("{tag}/v3");
        let v5_topic = format!("{tag}/v5");
        publish_acked(
            &mut publ,
            &v3_topic,
            format!("{i}").into_bytes(),
            QoS::AtLeastOnce,
            id,
            false,
        );
        publish_acked(
            &mut publ,
            &v5_topic,
            format!("{i}").into_bytes(),
            QoS::ExactlyOnce,
            id,
            false,
        );
    }
    publ.send(disconnect());
}

/// The payload numbers a 3.1.1 subscriber gets until things go quiet (each acknowledged).
fn drain_v3(c: &mut V3Client) -> Vec<usize> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(p) = c.recv_publish(if got.is_empty() { WAIT } else { QUIET }) {
        assert_eq!(p.qos, 1, "granted QoS 1");
        c.puback(p.packet_id);
        got.push(parse(&p.payload));
        assert!(Instant::now() < deadline, "still receiving after 60 s");
    }
    got
}

/// Same for a 5.0 QoS 2 subscriber (PUBREC, PUBREL, PUBCOMP done for each).
fn drain_v5(c: &mut RawClient) -> Vec<usize> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(p) = c.recv(if got.is_empty() { WAIT } else { QUIET }) {
        match p {
            Packet::Publish(p) => {
                assert_eq!(p.qos, QoS::ExactlyOnce, "granted QoS 2");
                c.send(pubrec(p.packet_id.expect("QoS 2 id").get()));
                got.push(parse(&p.payload));
            }
            Packet::PublishRelease(r) => c.send(pubcomp(r.packet_id.get())),
            other => panic!("unexpected {other:?}"),
        }
        assert!(Instant::now() < deadline, "still receiving after 60 s");
    }
    got
}

fn parse(payload: &[u8]) -> usize {
    std::str::from_utf8(payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected payload {payload:?}"))
}

/// Everything `prepare` made is back: sessions (session present), their queues (the v3 one
/// holds `v3_min..=v3_max` messages, the v5 one exactly `N`), their subscriptions, and
/// the retained messages.
fn verify(b: &Broker, tag: &str, v3_min: usize, v3_max: usize) {
    let (mut v3, rc, present) = V3Client::connect(b.addr(), &format!("{tag}-v3"), false);
    assert_eq!(rc, 0);
    assert!(present, "3.1.1 session present after restart");
    let got = drain_v3(&mut v3);
    let expected: Vec<usize> = (0..got.len()).collect();
    assert_eq!(got, expected, "3.1.1 queue: every message, in order");
    assert!(
        (v3_min..=v3_max).contains(&got.len()),
        "3.1.1 queue had {} messages, expected {v3_min}..={v3_max}",
        got.len()
    );

    let (mut v5, present) = connect5_persistent(b.addr(), &format!("{tag}-v5"), false, 3600);
    assert!(present, "5.0 session present after restart");
    let got = drain_v5(&mut v5);
    assert_eq!(
        got,
        (0..N).collect::<Vec<_>>(),
        "5.0 queue: all {N}, in order"
    );

    // The subscriptions are back too: live messages reach both sessions.
    let mut publ = connect5(b.addr(), &format!("{tag}-pub-after"));
    publish_acked(
        &mut publ,
        &format!("{tag}/v3"),
        &b"live"[..],
        QoS::AtLeastOnce,
        1,
        false,
    );
    publish_acked(
        &mut publ,
        &format!("{tag}/v5"),
        &b"live"[..],
        QoS::AtLeastOnce,
        2,
        false,
    );
    let p = v3
        .recv_publish(WAIT)
        .expect("live message to the 3.1.1 session");
    assert_eq!(
        (p.topic, p.payload),
        (format!("{tag}/v3"), b"live".to_vec())
    );
    expect_publish(&mut v5, &format!("{tag}/v5"), b"live");

    let mut fresh = connect5(b.addr(), &format!("{tag}-fresh"));
    subscribe(&mut fresh, 1, &format!("{tag}/ret/#"), QoS::AtMostOnce);
    let mut retained = BTreeSet::new();
    for _ in 0..RETAINED {
        let p = next_publish(&mut fresh, WAIT).expect("retained message");
        assert!(p.retain, "retain flag on {}", p.topic);
        retained.insert((p.topic.to_string(), p.payload.to_vec()));
    }
    let expected: BTreeSet<(String, Vec<u8>)> = (0..RETAINED)
        .map(|i| (format!("{tag}/ret/{i}"), format!("r-{i}").into_bytes()))
        .collect();
    assert_eq!(retained, expected, "all retained messages");
    assert!(
        next_publish(&mut fresh, QUIET).is_none(),
        "no extra retained"
    );
}

/// Publish QoS 1 messages numbered from `first` to `{tag}/v3`, one at a time, until the
/// connection breaks; `acked` counts those acknowledged.
fn publish_until_broken(
    addr: std::net::SocketAddr,
    tag: String,
    first: usize,
    acked: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    let mut c = connect5(addr, &format!("{tag}-traffic"));
    std::thread::spawn(move || {
        use std::io::Write;
        for i in first.. {
            let id = u16::try_from(i % 60_000 + 1).expect("small");
            let p = publish_packet(
                &format!("{tag}/v3"),
                format!("{i}").into_bytes(),
                QoS::AtLeastOnce,
                id,
                false,
            );
            let bytes = holdfast_codec::encode_packet(ProtocolVersion::V5, p).expect("encode");
            if c.stream.write_all(&bytes).is_err() {
                return;
            }
            match c.recv(WAIT) {
                Some(Packet::PublishAck(a)) if a.packet_id.get() == id => {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                _ => return,
            }
        }
    })
}

#[test]
fn kill9_during_traffic_loses_no_acknowledged_message_session_or_retained() {
    let mut b = Broker::start();
    prepare(&b, "k9");
    let acked = Arc::new(AtomicUsize::new(0));
    let traffic = publish_until_broken(b.addr(), "k9".into(), N, acked.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) < 50 {
        assert!(Instant::now() < deadline, "traffic did not get going");
        std::thread::sleep(Duration::from_millis(5));
    }
    b.kill9();
    traffic.join().expect("traffic thread");
    let extra = acked.load(Ordering::SeqCst);
    b.restart();
    // Every acknowledged message is back; at most the one in flight at the kill is extra.
    verify(&b, "k9", N + extra, N + extra + 1);
}

#[test]
fn sigterm_exits_zero_and_keeps_everything() {
    let mut b = Broker::start();
    prepare(&b, "term");
    // A connected client at shutdown does not get in the way.
    let _online = connect5(b.addr(), "term-online");
    assert_eq!(b.terminate(), Some(0), "SIGTERM exits 0");
    assert!(b.log().contains("stopped cleanly"), "{}", b.log());
    b.restart();
    verify(&b, "term", N, N);
}

#[test]
fn restart_twice_keeps_everything() {
    let mut b = Broker::start();
    prepare(&b, "twice");
    b.kill9();
    b.restart();
    b.kill9();
    b.restart();
    verify(&b, "twice", N, N);
}

const PERIODIC: &str = "[store]\ndurability = \"periodic\"\nflush_interval_ms = 100\n";

#[test]
fn periodic_durability_starts_works_and_survives_kill9_after_the_interval() {
    let mut b = Broker::start_with(&[], Some(PERIODIC));
    let mut sub = connect5(b.addr(), "periodic-live");
    subscribe(&mut sub, 1, "live/#", QoS::AtLeastOnce);
    let mut publ = connect5(b.addr(), "periodic-live-pub");
    publish_acked(
        &mut publ,
        "live/x",
        &b"hello"[..],
        QoS::AtLeastOnce,
        1,
        false,
    );
    expect_publish(&mut sub, "live/x", b"hello");
    drop((sub, publ));

    prepare(&b, "periodic");
    // Ten flush intervals without traffic: everything is on disk.
    std::thread::sleep(Duration::from_secs(1));
    b.kill9();
    b.restart();
    verify(&b, "periodic", N, N);
}

#[test]
fn periodic_durability_keeps_everything_over_sigterm() {
    let mut b = Broker::start_with(&[], Some(PERIODIC));
    prepare(&b, "periodic-term");
    assert_eq!(b.terminate(), Some(0));
    b.restart();
    verify(&b, "periodic-term", N, N);
}

#[test]
fn periodic_durability_loses_at_most_the_last_intervals_under_load() {
    const THREADS: usize = 2;
    let mut b = Broker::start_with(&[], Some(PERIODIC));
    let load_for = Duration::from_secs(3);
    let margin = Duration::from_millis(1500);
    let stop = Instant::now() + load_for;
    // For each thread: when each retained value was acknowledged.
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let mut c = connect5(b.addr(), &format!("load-{t}"));
        handles.push(std::thread::spawn(move || {
            use std::io::Write;
            let mut acked: Vec<Instant> = Vec::new();
            let send = |c: &mut RawClient, i: usize| {
                let id = u16::try_from(i % 60_000 + 1).expect("small");
                let p = publish_packet(
                    &format!("load/{t}"),
                    format!("{i}").into_bytes(),
                    QoS::AtLeastOnce,
                    id,
                    true,
                );
                let bytes = holdfast_codec::encode_packet(ProtocolVersion::V5, p).expect("encode");
                c.stream.write_all(&bytes).is_ok()
            };
            // Keep 16 PUBLISHes in flight so that the store always has work waiting.
            let mut next = 0;
            while next < 16 && send(&mut c, next) {
                next += 1;
            }
            while let Some(Packet::PublishAck(_)) = c.recv(WAIT) {
                acked.push(Instant::now());
                if Instant::now() > stop + WAIT || !send(&mut c, next) {
                    break;
                }
                next += 1;
            }
            acked
        }));
    }
    while Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed_at = Instant::now();
    b.kill9();
    let acked: Vec<Vec<Instant>> = handles
        .into_iter()
        .map(|h| h.join().expect("load thread"))
        .collect();
    b.restart();
    let mut reader = connect5(b.addr(), "load-reader");
    subscribe(&mut reader, 1, "load/#", QoS::AtMostOnce);
    let mut seen = 0;
    while let Some(p) = next_publish(&mut reader, QUIET) {
        let t: usize = parse(p.topic.rsplit('/').next().unwrap_or("").as_bytes());
        let value = parse(&p.payload);
        // Values are acknowledged in order, so the retained one is the count acked - 1.
        let old_enough = acked[t]
            .iter()
            .filter(|at| **at + margin < killed_at)
            .count();
        assert!(
            value + 1 >= old_enough,
            "load/{t}: retained value {value} after kill -9, but {old_enough} values had \
             been acknowledged more than {margin:?} (15 flush intervals) before it"
        );
        seen += 1;
    }
    assert_eq!(seen, THREADS, "one retained message per load topic");
}

#[test]
fn retained_messages_published_at_qos0_survive_kill9() {
    let mut b = Broker::start();
    let mut p = connect5(b.addr(), "ret0-pub");
    p.send(publish_packet("ret0/a", "zero", QoS::AtMostOnce, 0, true));
    // A QoS 1 publish after it: once it is acknowledged, the QoS 0 write before it is
    // committed too (one writer, batches in order).
    publish_acked(&mut p, "ret0/b", "one", QoS::AtLeastOnce, 1, true);
    b.kill9();
    b.restart();
    let mut s = connect5(b.addr(), "ret0-sub");
    subscribe(&mut s, 1, "ret0/#", QoS::AtLeastOnce);
    let mut got = BTreeSet::new();
    while let Some(m) = next_publish(&mut s, Duration::from_secs(2)) {
        assert!(m.retain, "served as retained");
        got.insert(m.topic.to_string());
    }
    let want: BTreeSet<String> = ["ret0/a", "ret0/b"].iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
}

/// The single-node proof that a follower works: the committed command stream of node A
/// (recorded with `HOLDFAST_RECORD_COMMANDS`) replayed into a fresh node B
/// (`HOLDFAST_REPLAY_COMMANDS`, each batch submitted through the write seam and applied to the
/// views only once committed) gives a B that serves the same users, ACL rules, bans, sessions,
/// subscriptions, queued messages and retained messages as A.
#[test]
fn a_replayed_command_stream_rebuilds_the_same_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = dir.path().join("commands.bin");
    let stream_s = stream.to_str().expect("utf-8").to_string();
    let mut a = Broker::start_with_admin(&[("HOLDFAST_RECORD_COMMANDS", stream_s.as_str())], None);
    let key = a.admin_key();
    let api_a = Http::new(&a.admin_url(), Some(&key));
    let body = json!({"username": "bob", "password": "bob-pw", "superuser": false});
    assert_eq!(api_a.send("POST", "/api/v1/users", &body).status, 201);
    let rule = json!({"who": {"kind": "user", "value": "bob"}, "permission": "deny", "action": "subscribe", "topic": "secret/#"});
    assert_eq!(api_a.send("POST", "/api/v1/acl", &rule).status, 201);
    let ban = json!({"kind": "clientid", "value": "banned-client", "reason": "replay"});
    assert_eq!(api_a.send("POST", "/api/v1/banned", &ban).status, 201);
    prepare(&a, "rp");
    let listings = [
        "/api/v1/users",
        "/api/v1/acl",
        "/api/v1/banned",
        "/api/v1/retained?topic=%23",
        "/api/v1/clients",
    ];
    let views = |api: &Http| -> Vec<serde_json::Value> {
        listings
            .iter()
            .map(|path| {
                let mut v = api.ok(path);
                // Connection facts are this node's own, not replicated state.
                if let Some(items) = v.get_mut("items").and_then(|i| i.as_array_mut()) {
                    for item in items {
                        if let Some(o) = item.as_object_mut() {
                            for k in ["connected", "peer", "disconnected_at_ms", "connected_at_ms"]
                            {
                                o.remove(k);
                            }
                        }
                    }
                }
                v
            })
            .collect()
    };
    let before = views(&api_a);
    assert_eq!(a.terminate(), Some(0));
    let recorded = std::fs::metadata(&stream).expect("recorded stream").len();
    assert!(recorded > 0, "A recorded its committed batches");

    let data = dir.path().join("b");
    std::fs::create_dir(&data).expect("mkdir");
    // B's store holds A's API keys once replayed: its admin answers A's key.
    std::fs::write(data.join("admin.key"), &key).expect("key");
    let data_s = data.to_str().expect("utf-8").to_string();
    let b = Broker::start_with_admin_in(
        &data,
        &[
            ("HOLDFAST_NODE__DATA_DIR", data_s.as_str()),
            ("HOLDFAST_REPLAY_COMMANDS", stream_s.as_str()),
        ],
    );
    assert!(
        b.log().contains("recorded command stream applied"),
        "{}",
        b.log()
    );
    let api_b = Http::new(&b.admin_url(), Some(&key));
    let after = views(&api_b);
    for ((path, x), y) in listings.iter().zip(&before).zip(&after) {
        assert_eq!(x, y, "{path} differs between A and the replayed B");
    }
    let (_, rc, _) = V3Client::connect(b.addr(), "banned-client", true);
    assert_ne!(rc, 0, "the ban reached B's views");
    verify(&b, "rp", N, N);
}
