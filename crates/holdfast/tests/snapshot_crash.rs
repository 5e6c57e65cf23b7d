//! Crash safety of a hot snapshot, black-box: while `holdfast ctl data snapshot -o DIR` runs,
//! the broker is killed with SIGKILL at random moments (before, during and after the store
//! copy, the hashing and the manifest). After every kill:
//! - the node's own store reopens with all its data (users and retained messages);
//! - the snapshot dir either is finished (it has `SNAPSHOT.json`, every file checks out and
//!   `restore-snapshot` restores it) or `restore-snapshot` refuses it as unfinished, creating
//!   nothing.
//!
//! Killing `ctl` instead does not stop the snapshot: the node finishes it.

mod backup_support;
mod common;
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backup_support::*;
use common::Broker;
use holdfast_codec::QoS;
use rand::{Rng, SeedableRng};
use support::connect5;

/// Retained messages in the store (with random payloads, so the copy has real bytes).
const RETAINED: usize = 20_000;
/// Users in the store.
const USERS: usize = 3;
/// Broker kills.
const RUNS: usize = 14;
/// `ctl` kills.
const CTL_RUNS: usize = 3;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("HOLDFAST_MQTT__SYS_INTERVAL_SECS", "0")]
}

/// `holdfast ctl data snapshot -o DIR` against `b`, started and left running.
fn spawn_snapshot(b: &Broker, dir: &Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.args(["ctl", "data", "snapshot", "-o"])
        .arg(dir)
        .current_dir(b.dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("HOLDFAST_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOLDFAST_CTL_URL", b.admin_url())
        .env("HOLDFAST_CTL_API_KEY", b.admin_key())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn ctl")
}

/// Wait for `child` to exit (at most 60 s); true if it succeeded.
fn wait_exit(child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ctl did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The node holds exactly the data it was given.
#[track_caller]
fn assert_intact(b: &Broker, run: &str) {
    let admin = api(b);
    let users = usernames(&admin);
    assert_eq!(users.len(), USERS, "{run}: users {users:?}");
    let retained = stats(&admin)["retained"].as_u64().expect("retained");
    assert_eq!(retained, RETAINED as u64 + 1, "{run}: retained");
}

/// What became of a snapshot dir: `Some(true)` finished and restorable, `Some(false)`
/// refused as unfinished, `None` when nothing was created at all.
fn check_snapshot_dir(work: &Path, snap: &Path, run: &str) -> Option<bool> {
    if !snap.exists() {
        return None;
    }
    let target = work.join(format!("restored-{run}"));
    let args = [
        "restore-snapshot",
        snap.to_str().expect("utf-8"),
        "--data-dir",
        target.to_str().expect("utf-8"),
        "--as-new-node",
    ];
    let out = holdfast(work, &[], &args);
    if snap.join("SNAPSHOT.json").exists() {
        let text = ok(&out);
        assert!(text.contains("NEW node"), "{run}: {text}");
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(snap.join("SNAPSHOT.json")).expect("read"))
                .expect("manifest");
        let retained = m["tables"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "retained"))
            .and_then(|t| t["records"].as_u64());
        assert_eq!(retained, Some(RETAINED as u64 + 1), "{run}: {m}");
        Some(true)
    } else {
        let err = fails(&out, "not a finished holdfast snapshot");
        assert!(err.contains("interrupted"), "{run}: {err}");
        assert!(
            !target.exists(),
            "{run}: nothing is created for a refused snapshot"
        );
        Some(false)
    }
}

#[test]
fn a_snapshot_killed_at_any_moment_leaves_the_node_whole_and_never_a_valid_looking_partial() {
    let config = "[store]\ndurability = \"sync\"\n";
    let mut b = Broker::start_with_admin(&env(), Some(config));
    let admin = api(&b);
    for i in 0..USERS {
        add_user(&admin, &format!("u{i}"));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut c = connect5(b.addr(), "filler");
    for i in 0..RETAINED {
        let payload: Vec<u8> = (0..200).map(|_| rng.random()).collect();
        c.send(support::publish_packet(
            &format!("fill/{}/{i}", i % 100),
            payload,
            QoS::AtMostOnce,
            0,
            true,
        ));
    }
    support::publish_acked(&mut c, "fill/barrier", &b"b"[..], QoS::AtLeastOnce, 1, true);
    drop(c);
    assert_intact(&b, "before");
    let work = tempfile::tempdir().expect("tempdir");

    // Calibration: a snapshot left alone finishes and restores.
    let snap = work.path().join("calibration");
    let started = Instant::now();
    let mut ctl = spawn_snapshot(&b, &snap);
    assert!(wait_exit(&mut ctl), "an uninterrupted snapshot succeeds");
    let full = started.elapsed();
    assert_eq!(
        check_snapshot_dir(work.path(), &snap, "calibration"),
        Some(true)
    );
    assert!(snap.join("config/holdfast.toml").is_file());

    let mut outcomes = Vec::new();
    for run in 0..RUNS {
        let name = format!("kill-{run}");
        let snap = work.path().join(&name);
        let mut ctl = spawn_snapshot(&b, &snap);
        // One random moment in each of RUNS slots of 1.3 × the uninterrupted time.
        let slot = (run as f64 + rng.random_range(0.0..1.0)) / RUNS as f64;
        let delay = full.mul_f64(1.3 * slot);
        std::thread::sleep(delay);
        b.kill9();
        let ctl_ok = wait_exit(&mut ctl);
        b.restart();
        b.wait_for_admin();
        assert_intact(&b, &name);
        let outcome = check_snapshot_dir(work.path(), &snap, &name);
        if ctl_ok {
            assert_eq!(outcome, Some(true), "{name}: ctl said done, so it is");
        }
        outcomes.push((delay.as_millis(), outcome));
    }

    // Killing ctl does not stop the node's snapshot.
    let mut ctl_outcomes = Vec::new();
    for run in 0..CTL_RUNS {
        let name = format!("ctl-kill-{run}");
        let snap = work.path().join(&name);
        let mut ctl = spawn_snapshot(&b, &snap);
        let delay = full.mul_f64(rng.random_range(0.1..0.8));
        std::thread::sleep(delay);
        ctl.kill().expect("kill -9 ctl");
        ctl.wait().expect("reap");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !snap.join("SNAPSHOT.json").exists() {
            assert!(
                Instant::now() < deadline,
                "{name}: the node did not finish the snapshot"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The manifest is renamed into place last: wait for the job to say done.
        let done = Instant::now() + Duration::from_secs(10);
        while api(&b)
            .ok("/api/v1/data/jobs")
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["state"] == "running")
        {
            assert!(Instant::now() < done, "{name}: the job did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        ctl_outcomes.push(check_snapshot_dir(work.path(), &snap, &name));
    }
    assert!(
        ctl_outcomes.iter().all(|o| *o == Some(true)),
        "{ctl_outcomes:?}"
    );
    assert_intact(&b, "end");

    eprintln!(
        "snapshot of {} retained: {full:?} uninterrupted; broker killed (ms, finished?): \
         {outcomes:?}; ctl killed: {ctl_outcomes:?}",
        RETAINED + 1
    );
    let unfinished = outcomes.iter().filter(|(_, o)| *o == Some(false)).count();
    assert!(
        unfinished > 0,
        "no kill landed while the snapshot was being written: {outcomes:?}"
    );
}
