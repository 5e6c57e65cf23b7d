//! `holdfast ctl` driven as a subprocess against a running broker, with MQTT clients showing
//! that users, ACL rules and bans it adds take effect at once, without a restart.

mod common;
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use bytes::Bytes;
use common::Broker;
use holdfast_codec::{
    ConnectAckReason, DisconnectReasonCode, Packet, PublishAckReason, QoS, SubscribeAckReason,
};
use serde_json::Value;
use support::{
    WAIT, connect_packet, connect_with, connect5, expect_disconnect, publish_packet,
    subscribe_packet,
};

/// Run `holdfast ctl ARGS` in `dir` with extra environment, feeding `stdin`.
fn ctl_in(dir: &Path, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.arg("ctl").args(args).current_dir(dir);
    for k in [
        "HOLDFAST_CONFIG",
        "HOLDFAST_CTL_URL",
        "HOLDFAST_CTL_API_KEY",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn holdfast ctl");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("holdfast ctl")
}

/// Run `holdfast ctl ARGS` against `b` (URL and key from `HOLDFAST_CTL_*`); must succeed.
fn ctl(b: &Broker, args: &[&str]) -> String {
    let out = ctl_raw(b, args, None);
    assert!(
        out.status.success(),
        "ctl {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn ctl_raw(b: &Broker, args: &[&str], stdin: Option<&str>) -> Output {
    let url = b.admin_url();
    let key = b.admin_key();
    let env = [
        ("HOLDFAST_CTL_URL", url.as_str()),
        ("HOLDFAST_CTL_API_KEY", key.as_str()),
    ];
    ctl_in(b.dir.path(), &env, args, stdin)
}

/// Run `holdfast ctl ARGS --json`; must succeed; the parsed output.
fn ctl_json(b: &Broker, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ctl(b, &all)).expect("ctl --json prints JSON")
}

/// Asserts `ctl ARGS` fails (non-zero) and says `needle` on stderr.
fn ctl_fails(b: &Broker, args: &[&str], needle: &str) {
    let out = ctl_raw(b, args, None);
    assert!(!out.status.success(), "ctl {args:?} should fail");
    let err = text(&out.stderr);
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// CONNACK reason for a v5 CONNECT as `id` with optional credentials.
fn connect_as(b: &Broker, id: &str, user: Option<&str>, pw: Option<&str>) -> ConnectAckReason {
    let mut c = connect_packet(id);
    c.username = user.map(Into::into);
    c.password = pw.map(|p| Bytes::from(p.to_string()));
    connect_with(b.addr(), c).1.reason_code
}

#[test]
fn plain_ctl_on_the_brokers_machine_finds_url_and_key_from_its_config() {
    let port = common::free_port();
    let bind = format!("127.0.0.1:{port}");
    let config = format!("[admin]\nbind = \"{bind}\"\n");
    let b = Broker::start_with_admin(&[("HOLDFAST_ADMIN__BIND", &bind)], Some(&config));
    // No --url, no --api-key: ./holdfast.toml gives admin.bind, ./data/admin.key the key.
    let out = ctl_in(b.dir.path(), &[], &["status"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = text(&out.stdout);
    assert!(
        status.contains("holdfast@") && status.contains(&bind),
        "{status}"
    );
    let out = ctl_in(b.dir.path(), &[], &["status", "--json"], None);
    let node: Value = serde_json::from_slice(&out.stdout).expect("json");
    let identity = std::fs::read_to_string(b.data_dir().join("node.toml")).expect("identity");
    assert!(identity.contains(node["id"].as_str().expect("id")));

    // Elsewhere, without the key file, the error says where it looked and what to do.
    let empty = tempfile::tempdir().expect("tempdir");
    let out = ctl_in(
        empty.path(),
        &[("HOLDFAST_ADMIN__BIND", &bind)],
        &["user", "list"],
        None,
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("admin.key") && err.contains("--api-key"),
        "{err}"
    );
    let out = ctl_in(
        empty.path(),
        &[],
        &["status", "--url", "http://127.0.0.1:1", "--api-key", "a.b"],
        None,
    );
    assert!(
        text(&out.stderr).contains("cannot reach the admin API"),
        "{}",
        text(&out.stderr)
    );
    let wrong = format!("{}.{}", &b.admin_key()[..16], "0".repeat(64));
    let out = ctl_in(b.dir.path(), &[], &["status", "--api-key", &wrong], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("wrong secret"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn users_added_changed_and_deleted_with_ctl_apply_at_once() {
    let b = Broker::start_with_admin(&[("HOLDFAST_MQTT__ALLOW_ANONYMOUS", "false")], None);
    assert_eq!(
        connect_as(&b, "c", None, None),
        ConnectAckReason::NotAuthorized
    );
    let out = ctl_raw(
        &b,
        &["user", "add", "alice", "--password-stdin"],
        Some("first-pw\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        connect_as(&b, "c", Some("alice"), Some("first-pw")),
        ConnectAckReason::Success
    );
    assert_eq!(
        connect_as(&b, "c", Some("alice"), Some("nope")),
        ConnectAckReason::BadUserNameOrPassword
    );
    ctl_fails(
        &b,
        &["user", "add", "alice", "--password", "x"],
        "already exists",
    );
    ctl_fails(&b, &["user", "add", "bob"], "--password-stdin");

    ctl(&b, &["user", "passwd", "alice", "--password", "second-pw"]);
    assert_eq!(
        connect_as(&b, "c", Some("alice"), Some("first-pw")),
        ConnectAckReason::BadUserNameOrPassword
    );
    assert_eq!(
        connect_as(&b, "c", Some("alice"), Some("second-pw")),
        ConnectAckReason::Success
    );
    let users = ctl_json(&b, &["user", "list"]);
    assert_eq!(users[0]["username"], "alice");
    assert!(ctl(&b, &["user", "list"]).contains("USERNAME"));

    ctl(&b, &["user", "del", "alice"]);
    assert_eq!(
        connect_as(&b, "c", Some("alice"), Some("second-pw")),
        ConnectAckReason::BadUserNameOrPassword
    );
    ctl_fails(&b, &["user", "del", "alice"], "no user");
    for secret in ["first-pw", "second-pw"] {
        assert!(!b.log().contains(secret), "{secret} in the log");
    }
}

#[test]
fn acl_rules_added_with_ctl_apply_to_connected_clients_at_once() {
    let b = Broker::start_with_admin(&[], None);
    let mut c = connect5(b.addr(), "reader");
    let suback = |c: &mut common::RawClient, id: u16, filter: &str| {
        c.send(subscribe_packet(id, filter, QoS::AtMostOnce));
        match c.recv(WAIT) {
            Some(Packet::SubscribeAck(a)) => a.status[0],
            other => panic!("expected SUBACK, got {other:?}"),
        }
    };
    assert_eq!(
        suback(&mut c, 1, "secret/a"),
        SubscribeAckReason::GrantedQos0
    );
    assert!(ctl(&b, &["acl", "add", "deny", "subscribe", "secret/#"]).contains("ACL rule 1 added"));
    assert_eq!(
        suback(&mut c, 2, "secret/b"),
        SubscribeAckReason::NotAuthorized
    );

    ctl(
        &b,
        &[
            "acl", "add", "deny", "publish", "ro/#", "--client", "reader",
        ],
    );
    c.send(publish_packet(
        "ro/x",
        &b"v"[..],
        QoS::AtLeastOnce,
        3,
        false,
    ));
    match c.recv(WAIT) {
        Some(Packet::PublishAck(a)) => assert_eq!(a.reason_code, PublishAckReason::NotAuthorized),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    ctl_fails(
        &b,
        &["acl", "add", "deny", "all", "a/#/b"],
        "invalid topic filter",
    );
    let rules = ctl_json(&b, &["acl", "list"]);
    assert_eq!(rules.as_array().map(Vec::len), Some(2), "{rules}");
    assert_eq!(rules[1]["who"]["value"], "reader");

    ctl(&b, &["acl", "del", "1"]);
    assert_eq!(
        suback(&mut c, 4, "secret/c"),
        SubscribeAckReason::GrantedQos0
    );
    ctl_fails(&b, &["acl", "del", "1"], "no ACL rule 1");
}

#[test]
fn bans_added_with_ctl_disconnect_and_refuse_at_once() {
    let b = Broker::start_with_admin(&[], None);
    let mut victim = connect5(b.addr(), "victim");
    ctl(
        &b,
        &[
            "banned", "add", "clientid", "victim", "--reason", "flooding",
        ],
    );
    assert_eq!(
        expect_disconnect(&mut victim, WAIT),
        DisconnectReasonCode::AdministrativeAction
    );
    assert_eq!(
        connect_as(&b, "victim", None, None),
        ConnectAckReason::Banned
    );
    assert_eq!(
        connect_as(&b, "other", None, None),
        ConnectAckReason::Success
    );
    ctl(
        &b,
        &[
            "banned",
            "add",
            "peer",
            "127.0.0.1",
            "--expires-in-secs",
            "3600",
        ],
    );
    assert_eq!(
        connect_as(&b, "other", None, None),
        ConnectAckReason::Banned
    );
    ctl_fails(
        &b,
        &["banned", "add", "peer", "not-an-ip"],
        "not an IP address",
    );
    let listed = ctl(&b, &["banned", "list"]);
    assert!(
        listed.contains("flooding") && listed.contains("127.0.0.1"),
        "{listed}"
    );

    ctl(&b, &["banned", "del", "peer", "127.0.0.1"]);
    ctl(&b, &["banned", "del", "clientid", "victim"]);
    assert_eq!(
        connect_as(&b, "victim", None, None),
        ConnectAckReason::Success
    );
    assert_eq!(ctl_json(&b, &["banned", "list"]), Value::Array(vec![]));
}

#[test]
fn ctl_manages_keys_clients_retained_and_config() {
    let b = Broker::start_with_admin(&[], None);
    let out = ctl_raw(&b, &["apikey", "add", "dash", "--role", "viewer"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(text(&out.stderr).contains("not shown again"));
    let keys = ctl(&b, &["apikey", "list", "--json"]);
    let secret = token.split_once('.').map(|(_, s)| s).expect("token");
    assert!(keys.contains("dash") && !keys.contains(secret), "{keys}");
    let as_viewer = ["--api-key", token.as_str()];
    let out = ctl_raw(
        &b,
        &[&["user", "add", "x", "--password", "y"][..], &as_viewer[..]].concat(),
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("viewer"),
        "{}",
        text(&out.stderr)
    );
    let out = ctl_raw(&b, &[&["user", "list"][..], &as_viewer[..]].concat(), None);
    assert!(out.status.success(), "viewers read: {}", text(&out.stderr));

    let mut c = connect5(b.addr(), "dev/1");
    c.send(publish_packet(
        "state/door",
        &b"open"[..],
        QoS::AtMostOnce,
        0,
        true,
    ));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(ctl(&b, &["clients", "list"]).contains("dev/1"));
    let listed = ctl_json(&b, &["retained", "list", "--topic", "state/#"]);
    assert_eq!(listed[0]["topic"], "state/door");
    assert!(ctl(&b, &["retained", "get", "state/door"]).contains("open"));
    ctl(&b, &["retained", "del", "state/door"]);
    ctl_fails(
        &b,
        &["retained", "del", "state/door"],
        "no retained message",
    );
    ctl(&b, &["clients", "kick", "dev/1"]);
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::AdministrativeAction
    );
    ctl_fails(&b, &["clients", "kick", "dev/1"], "not connected");

    let set = ctl_json(&b, &["config", "set", "acl.default", "deny"]);
    assert_eq!(set["effective"], "deny");
    assert!(ctl(&b, &["config", "get", "acl.default"]).contains("deny"));
    ctl_fails(
        &b,
        &["config", "set", "acl.default", "maybe"],
        "\"allow\" or \"deny\"",
    );
    ctl_fails(
        &b,
        &["config", "set", "no.such", "1"],
        "unknown cluster config key",
    );

    for group in [
        "user", "acl", "banned", "apikey", "clients", "retained", "config", "status",
    ] {
        let out = ctl_in(b.dir.path(), &[], &[group, "--help"], None);
        assert!(
            out.status.success() && text(&out.stdout).contains("--json"),
            "{group} --help"
        );
    }
}
