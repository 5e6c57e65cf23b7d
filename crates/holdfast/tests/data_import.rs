//! Imports through the admin API, black-box: a dry run changes nothing (not even the store's
//! batch sequence); merge keeps local extras and replace removes them, and both take effect
//! on MQTT clients at once; a replace never deletes the caller's own key; a connected session
//! that an import replaces is told to reconnect and finds the imported one; a merge rebuilds a
//! session the node knew and one it did not alike; the node config
//! file is restored only when asked, keeping a `.bak` and naming what needs a restart.

mod backup_support;
mod common;
mod support;

use backup_support::*;
use bytes::Bytes;
use common::Broker;
use common::http::Http;
use holdfast_codec::{ConnectAckReason, DisconnectReasonCode, QoS};
use serde_json::{Value, json};
use support::{
    QUIET, WAIT, connect_packet, connect_with, connect5, connect5_persistent, expect_disconnect,
    expect_publish, next_publish, publish_acked, subscribe,
};

fn logs_in(b: &Broker, user: &str) -> bool {
    let mut c = connect_packet(&format!("{user}-probe"));
    c.username = Some(user.into());
    c.password = Some(Bytes::from(format!("{user}-pw")));
    connect_with(b.addr(), c).1.reason_code == ConnectAckReason::Success
}

fn retained_topics(api: &Http) -> Vec<String> {
    api.ok("/api/v1/retained?topic=r/%23")
        .as_array()
        .expect("retained")
        .iter()
        .map(|m| m["topic"].as_str().expect("topic").to_string())
        .collect()
}

fn set_retained(b: &Broker, topic: &str, payload: &'static [u8]) {
    let mut c = connect5(b.addr(), "retainer");
    publish_acked(&mut c, topic, payload, QoS::AtLeastOnce, 1, true);
}

#[track_caller]
fn ok_import(api: &Http, body: Value) -> Value {
    let a = api.send("POST", "/api/v1/data/import", &body);
    assert_eq!(a.status, 200, "import: {}", a.body);
    a.json()
}

#[test]
fn dry_run_changes_nothing_merge_keeps_extras_and_replace_removes_them() {
    let b = Broker::start_with_admin(&[("HOLDFAST_MQTT__SYS_INTERVAL_SECS", "0")], None);
    let admin = api(&b);
    add_user(&admin, "u1");
    add_user(&admin, "u2");
    set_retained(&b, "r/1", b"one");
    set_retained(&b, "r/2", b"two");
    let name = export(&admin, json!({}))["name"]
        .as_str()
        .expect("name")
        .to_string();

    assert_eq!(admin.delete("/api/v1/users/u1").status, 204);
    add_user(&admin, "u3");
    assert_eq!(admin.delete("/api/v1/retained/r/1").status, 204);
    set_retained(&b, "r/3", b"three");

    let dry = ok_import(&admin, json!({"file": name, "dry_run": true}));
    assert_eq!(dry["applied"], Value::Null);
    assert_eq!(plan_of(&dry, "users"), (1, 0, 0));
    assert_eq!(plan_of(&dry, "retained"), (1, 0, 0));
    let seq = dry["target_batch_seq"].as_u64().expect("seq");
    let dry = ok_import(
        &admin,
        json!({"file": name, "dry_run": true, "mode": "replace"}),
    );
    assert_eq!(plan_of(&dry, "users"), (1, 0, 1));
    assert_eq!(plan_of(&dry, "retained"), (1, 0, 1));
    assert_eq!(dry["target_batch_seq"], seq, "dry runs commit nothing");
    assert_eq!(usernames(&admin), ["u2", "u3"]);
    assert!(!logs_in(&b, "u1"));

    let merged = ok_import(&admin, json!({"file": name}));
    assert_eq!(merged["applied"]["commands"], 2);
    assert_eq!(usernames(&admin), ["u1", "u2", "u3"]);
    assert!(logs_in(&b, "u1"), "an imported user logs in at once");
    assert_eq!(retained_topics(&admin), ["r/1", "r/2", "r/3"]);
    let mut sub = connect5(b.addr(), "reader");
    subscribe(&mut sub, 1, "r/1", QoS::AtMostOnce);
    expect_publish(&mut sub, "r/1", b"one");

    add_user(&admin, "u4");
    let replaced = ok_import(&admin, json!({"file": name, "mode": "replace"}));
    assert_eq!(plan_of(&replaced, "users"), (0, 0, 2));
    assert_eq!(usernames(&admin), ["u1", "u2"]);
    assert!(
        !logs_in(&b, "u3") && !logs_in(&b, "u4"),
        "removed users are refused at once"
    );
    assert_eq!(retained_topics(&admin), ["r/1", "r/2"]);
    let mut sub = connect5(b.addr(), "reader2");
    subscribe(&mut sub, 1, "r/3", QoS::AtMostOnce);
    assert!(
        next_publish(&mut sub, QUIET).is_none(),
        "r/3 is gone from the broker"
    );

    // Only the sets asked for.
    add_user(&admin, "u5");
    set_retained(&b, "r/4", b"four");
    let only = ok_import(
        &admin,
        json!({"file": name, "mode": "replace", "sets": ["retained"]}),
    );
    assert_eq!(only["sets"], json!(["retained"]));
    assert_eq!(retained_topics(&admin), ["r/1", "r/2"]);
    assert!(usernames(&admin).contains(&"u5".to_string()));

    // A replace that would delete the caller's own key is refused, and changes nothing.
    let late = Http::new(&b.admin_url(), Some(&new_key(&admin, "late", "admin")));
    late.send(
        "POST",
        "/api/v1/data/import",
        &json!({"file": name, "mode": "replace"}),
    )
    .assert_err(409, "locking you out");
    assert!(usernames(&admin).contains(&"u5".to_string()));
    assert_eq!(late.get("/api/v1/node").status, 200);
}

/// The bytes of a `sessions` export from a node where each of `ids` has a persistent session
/// subscribed to `a/#` with `messages` QoS 1 messages queued (`a/1` "m1", `a/2` "m2", ...).
fn sessions_archive(ids: &[&str], messages: u16) -> Vec<u8> {
    let a = Broker::start_with_admin(&[], None);
    for id in ids {
        let (mut c, _) = connect5_persistent(a.addr(), id, true, 3600);
        subscribe(&mut c, 1, "a/#", QoS::AtLeastOnce);
        c.send(support::disconnect());
        assert!(c.is_closed(WAIT));
    }
    let mut p = connect5(a.addr(), "pub");
    for i in 1..=messages {
        let (topic, body) = (format!("a/{i}"), format!("m{i}").into_bytes());
        publish_acked(&mut p, &topic, body, QoS::AtLeastOnce, i, false);
    }
    let name = export(&api(&a), json!({"sets": ["sessions"]}))["name"]
        .as_str()
        .expect("name")
        .to_string();
    download(&api(&a), &name).1
}

#[test]
fn a_connected_session_replaced_by_an_import_reconnects_to_the_imported_one() {
    let bytes = sessions_archive(&["s1"], 3);

    let b = Broker::start_with_admin(&[], None);
    let admin = api(&b);
    let (mut live, _) = connect5_persistent(b.addr(), "s1", true, 3600);
    subscribe(&mut live, 1, "b/#", QoS::AtLeastOnce);
    assert_eq!(upload(&admin, "a.hfx", &bytes).0, 201);
    let v = ok_import(&admin, json!({"file": "a.hfx", "mode": "replace"}));
    assert_eq!(v["applied"]["sessions_reloaded"], 1);
    assert_eq!(v["applied"]["clients_disconnected"], 1);
    assert_eq!(
        expect_disconnect(&mut live, WAIT),
        DisconnectReasonCode::AdministrativeAction
    );
    let (mut s1, present) = connect5_persistent(b.addr(), "s1", false, 3600);
    assert!(present, "the imported session is there");
    for i in 1..=3 {
        let m = expect_publish(&mut s1, &format!("a/{i}"), format!("m{i}").as_bytes());
        s1.send(support::puback(m.packet_id.expect("QoS 1").get()));
    }
    let mut p = connect5(b.addr(), "pub");
    publish_acked(&mut p, "b/x", &b"old"[..], QoS::AtLeastOnce, 1, false);
    publish_acked(&mut p, "a/x", &b"new"[..], QoS::AtLeastOnce, 2, false);
    expect_publish(&mut s1, "a/x", b"new");
    assert!(
        next_publish(&mut s1, QUIET).is_none(),
        "the replaced subscription b/# is gone"
    );
}

/// A merge into a node that knows one of the archive's clients and not the other: the known
/// one is read back from the store (the archive's rows plus its local extra subscription),
/// the new one is built from the imported records; both get their queued messages.
#[test]
fn a_merge_rebuilds_known_and_new_sessions_alike() {
    let bytes = sessions_archive(&["s1", "s2"], 2);

    let b = Broker::start_with_admin(&[], None);
    let admin = api(&b);
    let (mut s1, _) = connect5_persistent(b.addr(), "s1", true, 3600);
    subscribe(&mut s1, 1, "x/#", QoS::AtLeastOnce);
    s1.send(support::disconnect());
    assert!(s1.is_closed(WAIT));
    assert_eq!(upload(&admin, "a.hfx", &bytes).0, 201);
    let v = ok_import(&admin, json!({"file": "a.hfx"}));
    assert_eq!(v["applied"]["sessions_reloaded"], 2, "{v}");

    let mut p = connect5(b.addr(), "pub");
    for (id, keeps_x) in [("s1", true), ("s2", false)] {
        let (mut c, present) = connect5_persistent(b.addr(), id, false, 3600);
        assert!(present, "{id}: the session is there");
        for i in 1..=2 {
            let m = expect_publish(&mut c, &format!("a/{i}"), format!("m{i}").as_bytes());
            c.send(support::puback(m.packet_id.expect("QoS 1").get()));
        }
        assert!(
            next_publish(&mut c, QUIET).is_none(),
            "{id}: nothing more queued"
        );
        let topic = format!("x/{id}");
        publish_acked(&mut p, &topic, &b"local"[..], QoS::AtLeastOnce, 7, false);
        if keeps_x {
            expect_publish(&mut c, &topic, b"local");
        } else {
            assert!(
                next_publish(&mut c, QUIET).is_none(),
                "{id} never subscribed to x/#"
            );
        }
    }
}

#[test]
fn the_node_config_file_is_restored_only_when_asked() {
    let b = Broker::start_with_admin(&[], Some("[mqtt]\nreceive_maximum = 20\n"));
    let admin = api(&b);
    let e = export(&admin, json!({"sets": ["config"]}));
    assert_eq!(e["config_files"], json!(["holdfast.toml"]));
    let name = e["name"].as_str().expect("name").to_string();
    let file = b.dir.path().join("holdfast.toml");
    let edited = "[mqtt]\nreceive_maximum = 30\n";
    std::fs::write(&file, edited).expect("edit");

    let v = ok_import(&admin, json!({"file": name}));
    assert_eq!(v["node_config"], Value::Null);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), edited);

    let dry = ok_import(
        &admin,
        json!({"file": name, "restore_node_config": true, "dry_run": true}),
    );
    assert_eq!(dry["node_config"]["written"], false);
    assert_eq!(
        dry["node_config"]["changed_keys"],
        json!(["mqtt.receive_maximum"])
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), edited);

    let v = ok_import(&admin, json!({"file": name, "restore_node_config": true}));
    assert_eq!(v["node_config"]["written"], true);
    let bak = b.dir.path().join("holdfast.toml.bak");
    assert_eq!(
        v["node_config"]["previous"],
        json!(bak.canonicalize().expect("bak").display().to_string())
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "[mqtt]\nreceive_maximum = 20\n"
    );
    assert_eq!(std::fs::read_to_string(&bak).expect("bak"), edited);
    assert_eq!(mode_of(&file), 0o600);
    let restart = v["restart_required"].to_string();
    assert!(restart.contains("mqtt.receive_maximum"), "{restart}");
}
