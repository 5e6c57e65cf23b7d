//! Damaged and foreign archives, black-box: seeded byte flips and truncations of a binary
//! and a JSON export are each refused by `holdfast ctl data verify` (offline, non-zero, with
//! the reason) and by the node's import (400, "nothing was imported"), and the node's store
//! does not move (its batch sequence is unchanged). An archive of a newer format version is
//! refused by name in both forms.
//! Every case is refused, including flips of encoding-only bits of the zstd frame that leave
//! the decompressed content identical: the binary form's BLAKE3 trailer covers every byte
//! (an exhaustive bit-flip test of the reader is in `crates/backup/tests/corruption.rs`).

mod backup_support;
mod common;
mod support;

use backup_support::*;
use common::Broker;
use common::http::Http;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// Byte flips per form.
const FLIPS: usize = 60;
/// Truncations per form.
const CUTS: usize = 20;

/// The store's batch sequence, read from a dry-run plan of a good archive.
fn store_seq(admin: &Http, good: &str) -> u64 {
    let a = import(admin, good, "merge", true);
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["target_batch_seq"].as_u64().expect("seq")
}

/// `bytes` must be refused offline and by the node.
fn assert_refused(b: &Broker, admin: &Http, name: &str, bytes: &[u8]) {
    let dir = b.dir.path();
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write case");
    let out = holdfast(
        dir,
        &[],
        &["ctl", "data", "verify", path.to_str().expect("utf-8")],
    );
    let err = fails(&out, "verification failed: archive");
    assert!(err.len() > 60, "{name}: the reason is given: {err}");
    let (status, body) = upload(admin, name, bytes);
    if status == 400 {
        // Its first bytes are not an archive's: refused at upload already.
        assert!(body.contains(name), "{body}");
        return;
    }
    assert_eq!(status, 201, "{name}: {body}");
    let a = import(admin, name, "replace", false);
    assert_eq!(a.status, 400, "{name}: {}", a.body);
    assert!(a.error().contains("nothing was imported"), "{}", a.error());
    assert!(!b.log().contains("panicked"), "{name}");
}

/// Flip and truncate `good`: every case must be refused.
fn damage(b: &Broker, admin: &Http, good: &[u8], ext: &str, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..FLIPS {
        let mut bytes = good.to_vec();
        let at = rng.random_range(0..bytes.len());
        bytes[at] ^= 1 << rng.random_range(0..8);
        assert_refused(b, admin, &format!("flip-{i}-{at}.{ext}"), &bytes);
    }
    for i in 0..CUTS {
        let len = rng.random_range(0..good.len());
        assert_refused(b, admin, &format!("cut-{i}-{len}.{ext}"), &good[..len]);
    }
}

#[test]
fn flipped_and_truncated_archives_are_refused_and_change_nothing() {
    let b = Broker::start_with_admin(&[("HOLDFAST_MQTT__SYS_INTERVAL_SECS", "0")], None);
    let admin = api(&b);
    for u in ["u1", "u2", "u3"] {
        add_user(&admin, u);
    }
    let mut c = support::connect5(b.addr(), "p");
    let msgs = (0..50)
        .map(|i| (format!("t/{i}"), format!("payload {i}").into_bytes()))
        .collect();
    publish_many(&mut c, msgs, true);
    let hfx = export(&admin, json!({}))["name"]
        .as_str()
        .expect("name")
        .to_string();
    let js = export(&admin, json!({"format": "json"}))["name"]
        .as_str()
        .expect("name")
        .to_string();
    let good_hfx = download(&admin, &hfx).1;
    let good_json = download(&admin, &js).1;
    // A change the replace imports would undo, if any of them got through.
    add_user(&admin, "extra");
    let before = store_seq(&admin, &hfx);

    damage(&b, &admin, &good_hfx, "hfx", 7);
    damage(&b, &admin, &good_json, "json", 11);
    assert_eq!(store_seq(&admin, &hfx), before, "no batch was committed");
    assert_eq!(usernames(&admin), ["extra", "u1", "u2", "u3"]);
}

#[test]
fn an_archive_of_a_newer_format_is_refused_by_name() {
    let b = Broker::start_with_admin(&[], None);
    let admin = api(&b);
    add_user(&admin, "u1");
    let hfx = export(&admin, json!({}))["name"]
        .as_str()
        .expect("name")
        .to_string();
    let js = export(&admin, json!({"format": "json"}))["name"]
        .as_str()
        .expect("name")
        .to_string();

    // Binary: version 2 in the header, with a valid header CRC.
    let mut bin = download(&admin, &hfx).1;
    bin[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c::crc32c(&bin[..16]);
    bin[16..20].copy_from_slice(&crc.to_le_bytes());
    // JSON: the version read before anything else.
    let text = String::from_utf8(download(&admin, &js).1).expect("utf-8");
    let newer = text.replacen("\"format_version\": 1", "\"format_version\": 2", 1);
    assert_ne!(newer, text);

    let dir = b.dir.path();
    for (name, bytes) in [("v2.hfx", bin), ("v2.json", newer.into_bytes())] {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).expect("write");
        let out = holdfast(
            dir,
            &[],
            &["ctl", "data", "verify", path.to_str().expect("utf-8")],
        );
        fails(&out, "archive format version 2, and this holdfast");
        let out = holdfast(
            dir,
            &[],
            &["ctl", "data", "inspect", path.to_str().expect("utf-8")],
        );
        fails(&out, "reads up to version 1");
        assert_eq!(upload(&admin, name, &bytes).0, 201);
        import(&admin, name, "merge", false).assert_err(400, "archive format version 2");
    }
    assert_eq!(usernames(&admin), ["u1"]);
}
