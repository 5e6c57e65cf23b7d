//! Helpers shared by the backup and restore tests (`backup_drill`, `data_api`, `data_cli`,
//! `snapshot`, `import_crash`): running the binary and `holdfast ctl`, the data endpoints,
//! uploading raw archives, pipelined QoS 1 publishing, and reading archives back.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use holdfast_backup::{Archive, Table, Verified};
use holdfast_codec::{Packet, QoS};
use serde_json::{Value, json};

use crate::common::http::{Answer, Http};
use crate::common::{Broker, RawClient};
use crate::support::{WAIT, publish_packet};

/// Publishes kept unacknowledged at once (below the broker's Receive Maximum of 32).
pub const WINDOW: usize = 24;

/// Run the `holdfast` binary with `args` in `dir`, without any inherited HOLDFAST_ setting.
pub fn holdfast(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("HOLDFAST_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.output().expect("run holdfast")
}

/// `holdfast ctl ARGS` against `b` (URL and key from `HOLDFAST_CTL_*`).
pub fn ctl(b: &Broker, args: &[&str]) -> Output {
    let url = b.admin_url();
    let key = b.admin_key();
    let mut all = vec!["ctl"];
    all.extend_from_slice(args);
    holdfast(
        b.dir.path(),
        &[
            ("HOLDFAST_CTL_URL", url.as_str()),
            ("HOLDFAST_CTL_API_KEY", key.as_str()),
        ],
        &all,
    )
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts success; the standard output.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({:?}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts success and JSON output.
#[track_caller]
pub fn ok_json(out: &Output) -> Value {
    let s = ok(out);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Asserts a non-zero exit whose standard error contains `needle`; the standard error.
#[track_caller]
pub fn fails(out: &Output, needle: &str) -> String {
    assert!(
        !out.status.success(),
        "should have failed: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    err
}

/// The admin API of `b` with its bootstrap key.
pub fn api(b: &Broker) -> Http {
    Http::new(&b.admin_url(), Some(&b.admin_key()))
}

/// `POST /api/v1/data/export`, asserting 201.
#[track_caller]
pub fn export(api: &Http, body: Value) -> Value {
    let a = api.send("POST", "/api/v1/data/export", &body);
    assert_eq!(a.status, 201, "export: {}", a.body);
    a.json()
}

/// `POST /api/v1/data/import` of `file` with `mode`, for real or as a dry run.
pub fn import(api: &Http, file: &str, mode: &str, dry_run: bool) -> Answer {
    api.send(
        "POST",
        "/api/v1/data/import",
        &json!({"file": file, "mode": mode, "dry_run": dry_run}),
    )
}

/// Plan counts of an import answer, by table: (add, change, remove).
pub fn plan_of(v: &Value, table: &str) -> (u64, u64, u64) {
    let t = v["plan"]
        .as_array()
        .and_then(|p| p.iter().find(|t| t["table"] == table))
        .unwrap_or_else(|| panic!("no table {table} in {v}"));
    let n = |k: &str| t[k].as_u64().expect("count");
    (n("add"), n("change"), n("remove"))
}

/// Upload raw bytes as an archive named `name`; (status, body).
pub fn upload(api: &Http, name: &str, bytes: &[u8]) -> (u16, String) {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent
        .post(format!("{}/api/v1/data/files?name={name}", api.base))
        .content_type("application/octet-stream");
    if let Some(k) = &api.key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    let mut resp = req.send(bytes).expect("upload request");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

/// Names of the archives in the node's backup dir (from the API).
pub fn file_names(api: &Http) -> Vec<String> {
    api.ok("/api/v1/data/files")["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_string())
        .collect()
}

/// Publish every `(topic, payload)` at QoS 1, keeping up to [`WINDOW`] unacknowledged, and
/// wait for every PUBACK. Packet ids start at 1.
pub fn publish_many(c: &mut RawClient, msgs: Vec<(String, Vec<u8>)>, retain: bool) {
    let mut waiting: VecDeque<u16> = VecDeque::new();
    let mut next: u16 = 1;
    for (topic, payload) in msgs {
        if waiting.len() >= WINDOW {
            expect_puback(c, &mut waiting);
        }
        c.send(publish_packet(
            &topic,
            payload,
            QoS::AtLeastOnce,
            next,
            retain,
        ));
        waiting.push_back(next);
        next = if next == u16::MAX { 1 } else { next + 1 };
    }
    while !waiting.is_empty() {
        expect_puback(c, &mut waiting);
    }
}

fn expect_puback(c: &mut RawClient, waiting: &mut VecDeque<u16>) {
    match c.recv(WAIT) {
        Some(Packet::PublishAck(a)) => {
            assert!((a.reason_code as u8) < 0x80, "PUBACK {:?}", a.reason_code);
            let at = waiting
                .iter()
                .position(|&p| p == a.packet_id.get())
                .unwrap_or_else(|| panic!("unexpected PUBACK {}", a.packet_id));
            waiting.remove(at);
        }
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

/// Read and verify an archive file, keeping its records.
pub fn read_archive(path: &Path) -> Archive<Verified> {
    Archive::open(path)
        .and_then(Archive::verify)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The first key part (a string) of every row of `table`.
pub fn first_keys(a: &Archive<Verified>, table: Table) -> Vec<String> {
    a.rows(table)
        .iter()
        .map(|(k, _)| match k.parts().first() {
            Some(holdfast_backup::KeyPart::Str(s)) => s.clone(),
            other => panic!("key part {other:?}"),
        })
        .collect()
}

/// The manifest's record count of `table`.
pub fn manifest_count(a: &Archive<Verified>, table: Table) -> u64 {
    a.manifest().table(table).map_or(0, |t| t.records)
}

/// The Unix permission bits of a file.
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `/api/v1/stats` of a node.
pub fn stats(api: &Http) -> Value {
    api.ok("/api/v1/stats")
}

/// The address of a node's MQTT listener.
pub fn mqtt(b: &Broker) -> SocketAddr {
    b.addr()
}

/// `GET /api/v1/data/files/{name}` as raw bytes; (status, body).
pub fn download(api: &Http, name: &str) -> (u16, Vec<u8>) {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent.get(format!("{}/api/v1/data/files/{name}", api.base));
    if let Some(k) = &api.key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    let mut resp = req.call().expect("download request");
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("body");
    (status, body)
}

/// A new API key with `role`; its token.
pub fn new_key(api: &Http, name: &str, role: &str) -> String {
    let a = api.send(
        "POST",
        "/api/v1/api_keys",
        &json!({"name": name, "role": role}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    a.json()["api_key"].as_str().expect("token").to_string()
}

/// Add an MQTT user through the API.
pub fn add_user(api: &Http, name: &str) {
    let body = json!({"username": name, "password": format!("{name}-pw")});
    let a = api.send("POST", "/api/v1/users", &body);
    assert_eq!(a.status, 201, "{}", a.body);
}

/// The usernames on a node, sorted.
pub fn usernames(api: &Http) -> Vec<String> {
    api.ok("/api/v1/users")
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["username"].as_str().expect("name").to_string())
        .collect()
}
