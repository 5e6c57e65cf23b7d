//! Crash safety of an import, black-box: the broker is killed with SIGKILL at random moments
//! of a large import (verify, plan, the one-batch commit, the reload); after every restart
//! the store opens and holds either the old state or the new one entirely, never a mix.

mod backup_support;
mod common;
mod support;

use std::time::{Duration, Instant};

use backup_support::*;
use common::Broker;
use common::http::Http;
use holdfast_codec::QoS;
use rand::{Rng, SeedableRng};
use serde_json::json;
use support::connect5;

/// Retained messages the archive adds.
const NEW_RETAINED: usize = 20_000;
/// Users the archive adds.
const NEW_USERS: usize = 5;
/// Retained messages of the old state.
const OLD_RETAINED: usize = 10;
/// Killed imports.
const RUNS: usize = 6;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("HOLDFAST_MQTT__SYS_INTERVAL_SECS", "0")]
}

/// An archive (auth and retained) holding the new state.
fn new_state_archive() -> Vec<u8> {
    let s = Broker::start_with_admin(&env(), None);
    let admin = api(&s);
    for i in 0..NEW_USERS {
        add_user(&admin, &format!("new-{i}"));
    }
    let mut c = connect5(s.addr(), "filler");
    let payload = vec![b'p'; 100];
    for i in 0..NEW_RETAINED {
        c.send(support::publish_packet(
            &format!("new/{}/{i}", i % 100),
            payload.clone(),
            QoS::AtMostOnce,
            0,
            true,
        ));
    }
    // Commits are in order: once this one is acknowledged, every retained write above is in.
    support::publish_acked(&mut c, "new/barrier", &b"b"[..], QoS::AtLeastOnce, 1, true);
    let e = export(&admin, json!({"sets": ["auth", "retained"]}));
    let retained = e["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["table"] == "retained"))
        .expect("retained table");
    assert_eq!(retained["records"], NEW_RETAINED + 1, "{e}");
    download(&admin, e["name"].as_str().expect("name")).1
}

/// A node in the old state with the archive in its backup dir.
fn old_node(archive: &[u8]) -> Broker {
    let b = Broker::start_with_admin(&env(), None);
    let admin = api(&b);
    add_user(&admin, "old-1");
    let msgs = (0..OLD_RETAINED)
        .map(|i| (format!("old/{i}"), b"old".to_vec()))
        .collect();
    publish_many(&mut connect5(b.addr(), "old"), msgs, true);
    assert_eq!(upload(&admin, "new.hfx", archive).0, 201);
    b
}

/// `Some(false)` for the old state, `Some(true)` for the new one, `None` for anything else.
fn state(api: &Http) -> Option<bool> {
    let users = usernames(api);
    let retained = stats(api)["retained"].as_u64().expect("retained");
    let old_users = users == ["old-1"];
    let new_users = users.len() == NEW_USERS + 1 && users.contains(&"old-1".to_string());
    match (retained as usize, old_users, new_users) {
        (OLD_RETAINED, true, false) => Some(false),
        (n, false, true) if n == OLD_RETAINED + NEW_RETAINED + 1 => Some(true),
        _ => None,
    }
}

/// Send the import; the status, or `None` when the broker died before answering.
fn start_import(b: &Broker) -> std::thread::JoinHandle<Option<u16>> {
    let url = format!("{}/api/v1/data/import", b.admin_url());
    let key = b.admin_key();
    std::thread::spawn(move || {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        ureq::Agent::new_with_config(config)
            .post(url)
            .header("Authorization", format!("Bearer {key}"))
            .send_json(json!({"file": "new.hfx"}))
            .ok()
            .map(|r| r.status().as_u16())
    })
}

#[test]
fn an_import_killed_at_any_moment_leaves_the_old_state_or_the_new_one() {
    let archive = new_state_archive();

    // Calibration: an import that is left alone ends in the new state.
    let b = old_node(&archive);
    assert_eq!(state(&api(&b)), Some(false));
    let started = Instant::now();
    let status = start_import(&b).join().expect("import");
    let full = started.elapsed();
    assert_eq!(status, Some(200));
    assert_eq!(state(&api(&b)), Some(true));
    drop(b);

    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut seen = Vec::new();
    for run in 0..RUNS {
        let mut b = old_node(&archive);
        let request = start_import(&b);
        // One random moment in each sixth of 1.2 × the uninterrupted time.
        let slot = (run as f64 + rng.random_range(0.0..1.0)) / RUNS as f64;
        let delay = full.mul_f64(1.2 * slot);
        std::thread::sleep(delay);
        b.kill9();
        let _ = request.join();
        b.restart();
        b.wait_for_admin();
        let s = state(&api(&b));
        assert!(
            s.is_some(),
            "run {run} (killed after {delay:?}): a mixed state"
        );
        seen.push((delay.as_millis(), s == Some(true)));
    }
    eprintln!(
        "import of {NEW_RETAINED} retained: {full:?} uninterrupted; killed runs (ms, new state): {seen:?}"
    );
    assert!(full > Duration::from_millis(1));
}
