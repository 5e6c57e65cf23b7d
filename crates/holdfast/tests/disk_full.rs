//! Disk full (issue 17, break 2): the data dir on a small tmpfs, filled by retained QoS 1
//! publishes until a commit fails. Afterwards durable writes are refused with a clear reason
//! (v5 PUBACK 0x80 with a reason string, 3.1.1 disconnect, admin writes 503), `/metrics` and
//! `/api/v1/health` say so, nothing refused is served; once space is free the node reopens its
//! store by itself and everything acknowledged is still there after a restart.
//!
//! Needs root (mount); the tests run as root here and in CI.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Broker;
use common::http::Http;
use holdfast_codec::{Packet, PublishAckReason, QoS};
use support::*;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mount tmpfs (needs root)");
        Tmpfs(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("remount");
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn metric(http: &Http, line: &str) -> Option<String> {
    let text = http.get("/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(line).map(|v| v.trim().to_string()))
}

/// Publish QoS 1 retained to `topic`; the PUBACK's reason and reason string.
fn publish_retained(
    c: &mut common::RawClient,
    id: u16,
    topic: &str,
    payload: &[u8],
) -> (u8, String) {
    c.send(publish_packet(
        topic,
        payload.to_vec(),
        QoS::AtLeastOnce,
        id,
        true,
    ));
    match c.recv(WAIT) {
        Some(Packet::PublishAck(a)) => {
            assert_eq!(a.packet_id.get(), id);
            (
                a.reason_code as u8,
                a.reason_string.map(|s| s.to_string()).unwrap_or_default(),
            )
        }
        other => panic!("PUBACK expected, got {other:?}"),
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} within {timeout:?}");
}

#[test]
fn disk_full_refuses_durable_writes_serves_nothing_unstored_and_recovers_by_itself() {
    let work = tempfile::tempdir().expect("tmp");
    let fs = Tmpfs::mount(&work.path().join("mnt"), "8m");
    let data = fs.0.join("data");
    let data_s = data.to_string_lossy().to_string();
    let mut b = Broker::start_with_admin_in(&data, &[("HOLDFAST_NODE__DATA_DIR", data_s.as_str())]);
    let key = std::fs::read_to_string(data.join("admin.key")).expect("key");
    let http = Http::new(&b.admin_url(), Some(key.trim()));
    assert_eq!(
        metric(&http, "holdfast_store_writable ").as_deref(),
        Some("1")
    );

    // A live subscriber that must never see a message the store refused.
    let mut sub = connect5(b.addr(), "full-sub");
    subscribe(&mut sub, 1, "full/#", QoS::AtLeastOnce);

    let mut pubc = connect5(b.addr(), "full-pub");
    let payload = vec![b'x'; 4096];
    let mut acked = Vec::new();
    let mut first_failed = None;
    for i in 0..4000u16 {
        let topic = format!("full/{i}");
        let (code, why) = publish_retained(&mut pubc, (i % 60000) + 1, &topic, &payload);
        if code == 0 {
            acked.push(topic);
            continue;
        }
        assert_eq!(code, PublishAckReason::UnspecifiedError as u8);
        assert!(why.contains("not stored"), "{why}");
        first_failed = Some(topic);
        break;
    }
    let first_failed = first_failed.expect("the 8 MiB tmpfs filled up");
    assert!(
        acked.len() > 100,
        "{} acknowledged before full",
        acked.len()
    );

    // Unwritable now: said by metrics and health, and refused at once with a reason.
    assert_eq!(
        metric(&http, "holdfast_store_writable ").as_deref(),
        Some("0")
    );
    let h = Http::new(&b.admin_url(), None).get("/api/v1/health");
    assert_eq!(h.status, 503, "{}", h.body);
    assert_eq!(h.json()["status"], "store_unwritable");
    for i in 0..20u16 {
        let (code, why) =
            publish_retained(&mut pubc, 60001 + i, &format!("full/late/{i}"), &payload);
        assert_eq!(code, 0x80);
        assert!(why.contains("store cannot write"), "{why}");
    }
    let r = http.send(
        "POST",
        "/api/v1/users",
        &serde_json::json!({"username": "u1", "password": "p"}),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.error().contains("cannot write"), "{}", r.body);
    // 3.1.1 has no negative PUBACK: the client is disconnected.
    let (mut v3, _, _) = V3Client::connect(b.addr(), "full-v3", true);
    v3.send(publish_packet(
        "full/v3",
        &b"x"[..],
        QoS::AtLeastOnce,
        1,
        true,
    ));
    let (_, closed) = read_until_closed(&mut v3.stream, WAIT);
    assert!(
        closed,
        "3.1.1 QoS 1 publish while unwritable closes the connection"
    );

    // Nothing refused is served: the retained index holds exactly what was acknowledged
    // (the failed commit's change was undone), and the subscriber never got a refused one
    // published after the failure.
    let listed = http
        .get("/api/v1/retained?topic=full/%23&limit=10000")
        .json();
    let mut topics: Vec<String> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["topic"].as_str().expect("topic").to_string())
        .collect();
    topics.sort();
    let mut want = acked.clone();
    want.sort();
    assert!(
        topics == want,
        "retained index ({}) = acknowledged ({})",
        topics.len(),
        want.len()
    );
    let mut got = Vec::new();
    while let Some(p) = next_publish(&mut sub, Duration::from_millis(500)) {
        if let Some(id) = p.packet_id {
            sub.send(puback(id.get()));
        }
        got.push(p.topic.to_string());
    }
    assert!(
        !got.iter().any(|t| t.starts_with("full/late/")),
        "refused ones not delivered"
    );
    assert!(got.iter().all(|t| acked.contains(t) || *t == first_failed));

    // Space again: the store recovers by itself, without a restart.
    fs.resize("64m");
    wait_until("store writable again", Duration::from_secs(15), || {
        metric(&http, "holdfast_store_writable ").as_deref() == Some("1")
    });
    assert_eq!(
        Http::new(&b.admin_url(), None).get("/api/v1/health").status,
        200
    );
    let (code, why) = publish_retained(&mut pubc, 100, "full/after", &payload);
    assert_eq!(code, 0, "{why}");
    acked.push("full/after".into());
    let r = http.send(
        "POST",
        "/api/v1/users",
        &serde_json::json!({"username": "u1", "password": "p"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(b.log().contains("store recovered"), "{}", b.log());

    // Nothing acknowledged was lost, across a restart.
    drop(pubc);
    drop(sub);
    b.terminate();
    b.restart();
    b.wait_for_admin_key_in(&data);
    let http = Http::new(&b.admin_url(), Some(key.trim()));
    let listed = http
        .get("/api/v1/retained?topic=full/%23&limit=10000")
        .json();
    let mut topics: Vec<String> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["topic"].as_str().expect("topic").to_string())
        .collect();
    topics.sort();
    acked.sort();
    assert!(
        topics == acked,
        "after restart {} = acknowledged {}",
        topics.len(),
        acked.len()
    );
    assert_eq!(http.get("/api/v1/users/u1").status, 200);
}
