//! Imports into a node whose clients are busy with the very sessions being imported:
//! clients keep reconnecting, subscribing, unsubscribing and publishing while the same
//! sessions are imported again and again (replace). Every import answers (no deadlock), and
//! once the clients stop, the broker's subscriptions are exactly the imported ones, in memory
//! as in the store: nothing a replaced connection did in the meantime survives.

mod backup_support;
mod common;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backup_support::*;
use common::Broker;
use holdfast_codec::{Packet, QoS};
use serde_json::{Value, json};
use support::{QUIET, WAIT, connect5, connect5_persistent, publish_packet, subscribe_packet};

const CLIENTS: usize = 5;
const IMPORTS: usize = 12;

fn id(i: usize) -> String {
    format!("live-{i}")
}

/// A client that keeps coming back to its session and churning its subscriptions.
fn churn(addr: std::net::SocketAddr, i: usize, stop: Arc<AtomicBool>, ops: Arc<AtomicU64>) {
    let mut pid = 0u16;
    while !stop.load(Ordering::Relaxed) {
        let (mut c, _) = connect5_persistent(addr, &id(i), false, 3600);
        while !stop.load(Ordering::Relaxed) {
            pid = pid % 60_000 + 1;
            let packet = match pid % 3 {
                0 => subscribe_packet(pid, &format!("churn/{i}/#"), QoS::AtLeastOnce),
                1 => Packet::Unsubscribe(holdfast_codec::Unsubscribe {
                    packet_id: support::pid(pid),
                    user_properties: vec![],
                    topic_filters: vec![format!("churn/{i}/#").into()],
                }),
                _ => publish_packet(&format!("x/{i}"), &b"m"[..], QoS::AtMostOnce, 0, false),
            };
            c.send(packet);
            ops.fetch_add(1, Ordering::Relaxed);
            // Anything but a DISCONNECT is fine; a DISCONNECT or a close means: come back.
            match c.recv(Duration::from_millis(20)) {
                Some(Packet::Disconnect(_)) => break,
                None if c.is_closed(Duration::from_millis(1)) => break,
                _ => {}
            }
        }
    }
}

fn subscriptions(api: &common::http::Http) -> Vec<(String, String)> {
    let v: Value = api.ok("/api/v1/subscriptions");
    v.as_array()
        .expect("subscriptions")
        .iter()
        .filter(|s| {
            s["client_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("live-"))
        })
        .map(|s| {
            let f = |k: &str| s[k].as_str().expect("field").to_string();
            (f("client_id"), f("filter"))
        })
        .collect()
}

#[test]
fn imports_racing_busy_clients_leave_exactly_the_imported_subscriptions() {
    let a = Broker::start_with_admin(&[], None);
    for i in 0..CLIENTS {
        let (mut c, _) = connect5_persistent(a.addr(), &id(i), true, 3600);
        support::subscribe(&mut c, 1, &format!("x/{i}"), QoS::AtLeastOnce);
        c.send(support::disconnect());
        assert!(c.is_closed(WAIT));
    }
    let name = export(&api(&a), json!({"sets": ["sessions"]}))["name"]
        .as_str()
        .expect("name")
        .to_string();
    let bytes = download(&api(&a), &name).1;
    let expected: Vec<(String, String)> = (0..CLIENTS).map(|i| (id(i), format!("x/{i}"))).collect();

    let b = Broker::start_with_admin(&[], None);
    let admin = api(&b);
    assert_eq!(upload(&admin, "a.hfx", &bytes).0, 201);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (addr, stop, ops) = (b.addr(), stop.clone(), ops.clone());
            std::thread::spawn(move || churn(addr, i, stop, ops))
        })
        .collect();
    let started = Instant::now();
    let mut disconnected = 0;
    for _ in 0..IMPORTS {
        let a = import(&admin, "a.hfx", "replace", false);
        assert_eq!(a.status, 200, "{}", a.body);
        disconnected += a.json()["applied"]["clients_disconnected"]
            .as_u64()
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(30));
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("client");
    }
    assert!(ops.load(Ordering::Relaxed) > 100, "the clients were busy");
    assert!(disconnected > 0, "imports replaced connected sessions");
    assert!(
        took < Duration::from_secs(30),
        "{IMPORTS} imports took {took:?}"
    );

    // Once more with nobody connected: memory and store both hold exactly the archive. The
    // last packets of the closed connections are handled first: every live client gone, then
    // a QoS 1 barrier (batches commit in order).
    let deadline = Instant::now() + WAIT;
    while admin
        .ok("/api/v1/clients")
        .as_array()
        .expect("clients")
        .iter()
        .any(|c| c["connected"] == true)
    {
        assert!(Instant::now() < deadline, "clients still connected");
        std::thread::sleep(Duration::from_millis(10));
    }
    support::publish_acked(
        &mut connect5(b.addr(), "barrier"),
        "barrier",
        &b"b"[..],
        QoS::AtLeastOnce,
        1,
        false,
    );
    let a = import(&admin, "a.hfx", "replace", false);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(subscriptions(&admin), expected);
    let check = import(&admin, "a.hfx", "replace", true).json();
    for t in ["sessions", "subscriptions"] {
        assert_eq!(
            plan_of(&check, t),
            (0, 0, 0),
            "{t}: the store equals the archive"
        );
    }
    // The trie agrees: churn/# routes to nobody, x/<i> to its own client.
    let mut clients: Vec<_> = (0..CLIENTS)
        .map(|i| connect5_persistent(b.addr(), &id(i), false, 3600).0)
        .collect();
    let mut p = connect5(b.addr(), "probe");
    for i in 0..CLIENTS {
        p.send(publish_packet(
            &format!("churn/{i}/z"),
            &b"no"[..],
            QoS::AtMostOnce,
            0,
            false,
        ));
        p.send(publish_packet(
            &format!("x/{i}"),
            &b"yes"[..],
            QoS::AtMostOnce,
            0,
            false,
        ));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let m = support::next_publish(c, WAIT).unwrap_or_else(|| panic!("live-{i}: x/{i}"));
        assert_eq!(m.topic, format!("x/{i}"));
        assert!(
            support::next_publish(c, QUIET).is_none(),
            "live-{i}: churn/# is gone"
        );
    }
}

/// Retained messages in the node: enough that planning an import of them takes a while.
const RETAINED: usize = 40_000;

#[test]
fn a_replace_import_removes_what_was_written_while_it_was_planning() {
    let b = Broker::start_with_admin(&[("HOLDFAST_MQTT__SYS_INTERVAL_SECS", "0")], None);
    let admin = api(&b);
    let mut c = connect5(b.addr(), "filler");
    let payload = vec![b'p'; 100];
    for i in 0..RETAINED {
        c.send(publish_packet(
            &format!("fill/{}/{i}", i % 100),
            payload.clone(),
            QoS::AtMostOnce,
            0,
            true,
        ));
    }
    support::publish_acked(&mut c, "fill/last", &b"l"[..], QoS::AtLeastOnce, 1, true);
    let file = export(&admin, json!({"sets": ["retained"]}))["name"]
        .as_str()
        .expect("name")
        .to_string();

    // Start a replace import as a job, and publish new retained topics (each acknowledged,
    // so committed) for as long as the job is still verifying or planning.
    let started = admin.send(
        "POST",
        "/api/v1/data/import?async=true",
        &json!({"file": file, "mode": "replace"}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    let job = format!(
        "/api/v1/data/jobs/{}",
        started.json()["id"].as_str().expect("id")
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut while_planning, mut later) = (Vec::new(), 0usize);
    let mut pid = 1u16;
    let last = loop {
        let v = admin.ok(&job);
        if v["state"] != "running" {
            break v;
        }
        assert!(Instant::now() < deadline, "import still running: {v}");
        let before_commit = matches!(
            v["phase"].as_str(),
            Some("starting" | "verifying" | "waiting" | "planning")
        );
        pid = pid % 60_000 + 1;
        let topic = format!("late/{pid}");
        support::publish_acked(&mut c, &topic, &b"x"[..], QoS::AtLeastOnce, pid, true);
        // Acknowledged, and the job was not applying yet when looked at afterwards.
        let after = admin.ok(&job);
        if before_commit && after["phase"] == v["phase"] && after["state"] == "running" {
            while_planning.push(topic);
        } else {
            later += 1;
        }
    };
    assert_eq!(last["state"], "succeeded", "{last}");
    let applied = &last["result"]["applied"];
    assert!(
        !while_planning.is_empty(),
        "no write landed before the commit ({later} after): the race was not provoked"
    );
    // None of the topics written before the commit survives the replace.
    for topic in &while_planning {
        let got = admin.get(&format!("/api/v1/retained/{}", topic.replace('/', "%2F")));
        assert_eq!(
            got.status, 404,
            "{topic} survived the replace: {}",
            got.body
        );
    }
    assert_eq!(
        applied["replanned"], true,
        "the store moved since the plan, so it was made again: {last}"
    );
    let got = admin.get("/api/v1/retained/fill%2Flast");
    assert_eq!(got.status, 200, "an archived topic is there: {}", got.body);
}
