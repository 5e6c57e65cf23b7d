//! The disaster-recovery drill of issue 4, black-box, at the scale: node A gets users,
//! ACL rules, bans, API keys, 10 000 retained messages, 100 persistent sessions (v5 and 3.1.1)
//! with subscriptions, 10 000 queued QoS 1 messages (10 of them in flight); it is exported with
//! `holdfast ctl data export -o` while 10 publishers keep publishing; the archive is verified
//! offline and imported with `holdfast ctl data import` into a fresh node B (other ports,
//! data dir and identity); then real MQTT clients prove that everything works on B.
//!
//! The cut: every live publish is a retained message AND a queued delivery to an offline
//! witness session, written in one batch. In a consistent cut both tables hold exactly the
//! same messages; every message acknowledged before the export started is in it.

mod backup_support;
mod common;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backup_support::*;
use common::Broker;
use holdfast_backup::Table;
use holdfast_codec::{Packet, QoS};
use holdfast_store::records::DeliveryRecord;
use serde_json::json;
use support::{WAIT, connect5, connect5_persistent, publish_packet, subscribe};

mod drill_proofs;

/// Retained messages on `ret/z<n % 10>/<n>`.
const RETAINED: usize = 10_000;
/// Persistent sessions `drill-c00` .. `drill-c99`; the last two are MQTT 3.1.1.
const SESSIONS: usize = 100;
/// Queued QoS 1 messages per session (10 000 in all).
const QUEUED_EACH: usize = 100;
/// Of `drill-c00`'s, this many are in flight (sent, never acknowledged).
const INFLIGHT: usize = 10;
/// Publishers during the export.
const PUBLISHERS: usize = 10;
/// Most messages one publisher sends.
const PUBLISH_MAX: u64 = 4000;
const WITNESS: &str = "cut-witness";

fn node_env() -> Vec<(&'static str, &'static str)> {
    vec![
        // `$SYS` retained messages live in memory only; keep them out of the counts.
        ("HOLDFAST_MQTT__SYS_INTERVAL_SECS", "0"),
        // The witness queue must never drop a message.
        ("HOLDFAST_MQTT__QUEUED_MESSAGES_MAX", "1000000"),
    ]
}

pub fn client_id(i: usize) -> String {
    format!("drill-c{i:02}")
}

pub fn is_v3(i: usize) -> bool {
    i >= SESSIONS - 2
}

/// Users, ACL rules, bans and API keys; returns the viewer key's token.
fn seed_auth(api: &common::http::Http) -> String {
    for (name, superuser) in [
        ("alice", true),
        ("bob", false),
        ("carol", false),
        ("dave", false),
        ("mallory", false),
    ] {
        let body =
            json!({"username": name, "password": format!("{name}-pw"), "superuser": superuser});
        assert_eq!(api.send("POST", "/api/v1/users", &body).status, 201);
    }
    for rule in [
        json!({"who": {"kind": "user", "value": "bob"}, "permission": "deny", "action": "subscribe", "topic": "secret/#"}),
        json!({"who": {"kind": "all"}, "permission": "deny", "action": "publish", "topic": "ro/#"}),
        json!({"who": {"kind": "client", "value": "carol-1"}, "permission": "deny", "action": "all", "topic": "#"}),
    ] {
        assert_eq!(api.send("POST", "/api/v1/acl", &rule).status, 201);
    }
    for (kind, value) in [("clientid", "banned-client"), ("username", "mallory")] {
        let body = json!({"kind": kind, "value": value, "reason": "drill"});
        assert_eq!(api.send("POST", "/api/v1/banned", &body).status, 201);
    }
    let a = api.send(
        "POST",
        "/api/v1/api_keys",
        &json!({"name": "ops", "role": "viewer"}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    a.json()["api_key"].as_str().expect("token").to_string()
}

fn seed_retained(b: &Broker) {
    let mut c = connect5(b.addr(), "seed-retained");
    let msgs = (0..RETAINED)
        .map(|n| {
            (
                format!("ret/z{}/{n}", n % 10),
                format!("retained-{n}").into_bytes(),
            )
        })
        .collect();
    publish_many(&mut c, msgs, true);
}

/// [`SESSIONS`] persistent sessions with a subscription each and [`QUEUED_EACH`] queued
/// messages each; `drill-c00` then takes [`INFLIGHT`] of its messages in flight and leaves
/// without acknowledging them.
fn seed_sessions(b: &Broker) {
    for i in 0..SESSIONS {
        let id = client_id(i);
        let filter = format!("drill/c{i:02}/#");
        if is_v3(i) {
            let (mut c, rc, _) = support::V3Client::connect(b.addr(), &id, false);
            assert_eq!(rc, 0);
            c.subscribe(1, &filter, QoS::AtLeastOnce);
            c.disconnect();
        } else {
            let (mut c, _) = connect5_persistent(b.addr(), &id, true, 86_400);
            subscribe(&mut c, 1, &filter, QoS::AtLeastOnce);
            c.send(support::disconnect());
            assert!(c.is_closed(WAIT));
        }
    }
    let (mut w, _) = connect5_persistent(b.addr(), WITNESS, true, 86_400);
    subscribe(&mut w, 1, "live/#", QoS::AtLeastOnce);
    w.send(support::disconnect());
    assert!(w.is_closed(WAIT));
    let mut p = connect5(b.addr(), "seed-queued");
    let msgs = (0..SESSIONS)
        .flat_map(|i| {
            (0..QUEUED_EACH).map(move |k| {
                (
                    format!("drill/c{i:02}/m{k}"),
                    format!("{i}-{k}").into_bytes(),
                )
            })
        })
        .collect();
    publish_many(&mut p, msgs, false);
    // drill-c00 comes back with a Receive Maximum of 10: 10 messages go in flight.
    let mut conn = support::connect_packet(&client_id(0));
    conn.clean_start = false;
    conn.session_expiry_interval_secs = 86_400;
    conn.receive_max = std::num::NonZeroU16::new(INFLIGHT as u16);
    let (mut c, ack) = support::connect_with(b.addr(), conn);
    assert!(ack.session_present);
    for k in 0..INFLIGHT {
        let p = support::next_publish(&mut c, WAIT).expect("in-flight PUBLISH");
        assert_eq!(p.topic, format!("drill/c00/m{k}"));
    }
    c.send(support::disconnect());
    assert!(c.is_closed(WAIT));
}

/// A publisher of retained QoS 1 messages `live/p<i>/<n>`: counts sent and acknowledged.
struct Publisher {
    sent: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<()>,
}

fn start_publisher(b: &Broker, i: usize, stop: Arc<AtomicBool>) -> Publisher {
    let sent = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let (s, a) = (sent.clone(), acked.clone());
    let addr = b.addr();
    let handle = std::thread::spawn(move || {
        let mut c = connect5(addr, &format!("live-pub-{i}"));
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) && n < PUBLISH_MAX {
            // Packet ids cycle through 1..=WINDOW; one is reused only once acknowledged.
            let pid = u16::try_from(n % WINDOW as u64 + 1).expect("small");
            if n >= WINDOW as u64 {
                match c.recv(WAIT) {
                    Some(Packet::PublishAck(_)) => a.fetch_add(1, Ordering::SeqCst),
                    other => panic!("publisher {i}: expected PUBACK, got {other:?}"),
                };
            }
            let topic = format!("live/p{i}/{n}");
            c.send(publish_packet(
                &topic,
                topic.clone().into_bytes(),
                QoS::AtLeastOnce,
                pid,
                true,
            ));
            n += 1;
            s.store(n, Ordering::SeqCst);
        }
        while a.load(Ordering::SeqCst) < n {
            match c.recv(WAIT) {
                Some(Packet::PublishAck(_)) => a.fetch_add(1, Ordering::SeqCst),
                other => panic!("publisher {i}: expected PUBACK, got {other:?}"),
            };
        }
    });
    Publisher {
        sent,
        acked,
        handle,
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Topics of the witness's queued messages in the archive.
fn witness_topics(a: &holdfast_backup::Archive<holdfast_backup::Verified>) -> BTreeSet<String> {
    a.rows(Table::Queued)
        .iter()
        .filter(|(k, _)| matches!(k.parts().first(), Some(holdfast_backup::KeyPart::Str(c)) if c == WITNESS))
        .map(|(_, v)| {
            let rec: DeliveryRecord =
                holdfast_store::records::decode("queued", &"witness", v).expect("decodes");
            rec.msg.topic
        })
        .collect()
}

#[test]
fn disaster_recovery_drill() {
    let started = Instant::now();
    let a = Broker::start_with_admin(&node_env(), None);
    let api_a = api(&a);
    let viewer = seed_auth(&api_a);
    seed_retained(&a);
    seed_sessions(&a);
    let seeded_ms = started.elapsed().as_millis();

    let stop = Arc::new(AtomicBool::new(false));
    let pubs: Vec<Publisher> = (0..PUBLISHERS)
        .map(|i| start_publisher(&a, i, stop.clone()))
        .collect();
    wait_until("publishers under way", Duration::from_secs(20), || {
        pubs.iter().all(|p| p.acked.load(Ordering::SeqCst) >= 200)
    });
    let acked_before: Vec<u64> = pubs
        .iter()
        .map(|p| p.acked.load(Ordering::SeqCst))
        .collect();
    let file = a.dir.path().join("drill.hfx");
    let export_started = Instant::now();
    let exported = ok_json(&ctl(
        &a,
        &[
            "data",
            "export",
            "-o",
            file.to_str().expect("utf-8"),
            "--json",
        ],
    ));
    let export_ms = export_started.elapsed().as_millis();
    let sent_after: Vec<u64> = pubs.iter().map(|p| p.sent.load(Ordering::SeqCst)).collect();
    // Keep publishing a little after the cut, then stop.
    wait_until(
        "publishing past the export",
        Duration::from_secs(20),
        || {
            pubs.iter()
                .zip(&sent_after)
                .all(|(p, s)| p.acked.load(Ordering::SeqCst) >= (*s + 50).min(PUBLISH_MAX))
        },
    );
    stop.store(true, Ordering::Relaxed);
    let total: u64 = pubs
        .into_iter()
        .map(|p| {
            p.handle.join().expect("publisher");
            p.acked.load(Ordering::SeqCst)
        })
        .sum();
    assert_eq!(mode_of(&file), 0o600, "downloaded archive is private");
    assert_eq!(exported["saved_to"], json!(file.display().to_string()));

    let verified = ok(&holdfast(
        a.dir.path(),
        &[],
        &["ctl", "data", "verify", file.to_str().expect("utf-8")],
    ));
    assert!(verified.starts_with("OK:"), "{verified}");
    let archive = read_archive(&file);
    let live: BTreeSet<String> = first_keys(&archive, Table::Retained)
        .into_iter()
        .filter(|t| t.starts_with("live/"))
        .collect();
    assert_eq!(
        live,
        witness_topics(&archive),
        "retained and queued disagree: not one cut"
    );
    for (i, (before, after)) in acked_before.iter().zip(&sent_after).enumerate() {
        let n = live
            .iter()
            .filter(|t| t.starts_with(&format!("live/p{i}/")))
            .count() as u64;
        assert!(
            n >= *before && n <= *after,
            "publisher {i}: {n} in the cut, {before} acked before, {after} sent after"
        );
    }
    assert!(
        (live.len() as u64) < total,
        "the export ran while publishing"
    );
    let count = |t| manifest_count(&archive, t);
    assert_eq!(count(Table::Retained), (RETAINED + live.len()) as u64);
    assert_eq!(count(Table::Sessions), SESSIONS as u64 + 1);
    assert_eq!(count(Table::Subscriptions), SESSIONS as u64 + 1);
    assert_eq!(count(Table::Inflight), INFLIGHT as u64);
    assert_eq!(
        count(Table::Queued),
        (SESSIONS * QUEUED_EACH - INFLIGHT + live.len()) as u64
    );
    assert_eq!(
        (count(Table::Users), count(Table::Acl), count(Table::Banned)),
        (5, 3, 2)
    );
    assert_eq!(count(Table::ApiKeys), 2, "bootstrap and ops keys");
    assert_eq!(
        exported["records_total"],
        json!(archive.manifest().records_total())
    );

    let b = Broker::start_with_admin(&node_env(), None);
    assert_ne!(b.port, a.port);
    let import_started = Instant::now();
    let imported = ok_json(&ctl(
        &b,
        &["data", "import", file.to_str().expect("utf-8"), "--json"],
    ));
    let import_ms = import_started.elapsed().as_millis();
    assert_eq!(imported["dry_run"], json!(false));
    let applied: u64 = imported["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|t| t["add"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        applied,
        archive.manifest().records_total(),
        "every record added to the fresh node"
    );
    drop(a);

    let api_b = api(&b);
    drill_proofs::counts_match(&api_b, &archive);
    drill_proofs::auth_holds(&b, &viewer);
    drill_proofs::retained_served(&b);
    drill_proofs::sessions_resume(&b, live.len());
    eprintln!(
        "drill: seeded in {seeded_ms} ms; export of {} records ({} bytes) took {export_ms} ms \
         (server {} ms) under {PUBLISHERS} publishers; import took {import_ms} ms (server {} ms, \
         verify {} ms, commit pause {} ms); whole drill {} ms",
        exported["records_total"],
        exported["bytes"],
        exported["duration_ms"],
        imported["duration_ms"],
        imported["verify_ms"],
        imported["applied"]["paused_ms"],
        started.elapsed().as_millis()
    );
}
