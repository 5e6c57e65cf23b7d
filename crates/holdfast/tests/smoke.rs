//! Start-up, zero config, and clean shutdown of the real binary.

mod common;
mod support;

use std::time::Duration;

use common::{Broker, RawClient};
use holdfast_codec::{Packet, ProtocolVersion};

fn v5_connect(id: &str) -> Packet {
    Packet::Connect(Box::new(support::connect_packet(id)))
}

#[test]
fn starts_with_zero_config_logs_its_paths_and_stops_cleanly_on_sigterm() {
    let mut b = Broker::start();
    let mut c = RawClient::connect(b.addr(), ProtocolVersion::V5);
    c.send(v5_connect("smoke"));
    match c.recv(Duration::from_secs(5)) {
        Some(Packet::ConnectAck(ack)) => {
            assert_eq!(ack.reason_code, holdfast_codec::ConnectAckReason::Success);
            assert_eq!(ack.max_qos, holdfast_codec::QoS::ExactlyOnce);
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert_eq!(b.terminate(), Some(0), "SIGTERM exits 0");
    let log = b.log();
    assert!(
        log.contains("DATA DIR") && log.contains("development default"),
        "{log}"
    );
    assert!(log.contains("no holdfast.toml found"), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
    assert!(
        b.dir.path().join("data/holdfast.redb").is_file(),
        "store created in ./data"
    );
    // A v5 client is told the server is shutting down.
    assert!(matches!(
        c.recv(Duration::from_secs(2)),
        Some(Packet::Disconnect(d)) if d.reason_code == holdfast_codec::DisconnectReasonCode::ServerShuttingDown
    ));
}

#[test]
fn a_config_error_names_file_line_and_key_and_nothing_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("holdfast.toml"),
        "[mqtt]\nreceive_maximum = 10\nreceive_maxmum = 5\n",
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .arg("start")
        .current_dir(dir.path())
        .env_remove("HOLDFAST_CONFIG")
        .env(
            "HOLDFAST_LISTENERS__TCP__BIND",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("HOLDFAST_ADMIN__BIND", "127.0.0.1:0")
        .output()
        .expect("run holdfast");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holdfast.toml"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("receive_maxmum"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "no half start: the data dir was not created"
    );
}

#[test]
fn paths_json_names_every_path_and_its_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["paths", "--json"])
        .current_dir(dir.path())
        .env_remove("HOLDFAST_CONFIG")
        .env("HOLDFAST_NODE__DATA_DIR", "/srv/hf-data")
        .output()
        .expect("run holdfast paths");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"data_dir\""), "{text}");
    assert!(text.contains("/srv/hf-data"), "{text}");
    assert!(text.contains("$HOLDFAST_NODE__DATA_DIR"), "{text}");
    assert!(text.contains("/srv/hf-data/backup"), "{text}");
    assert!(text.contains("no holdfast.toml found"), "{text}");
}

#[test]
fn anonymous_clients_are_refused_once_a_listener_is_not_on_loopback() {
    // A WebSocket listener on every interface (nothing but loopback talks to it here).
    let ws_on_all = || {
        format!(
            "[listeners.ws]\nbind = \"0.0.0.0:{}\"\n",
            common::free_port()
        )
    };
    let b = Broker::start_with(&[], Some(&ws_on_all()));
    let mut c = RawClient::connect(b.addr(), ProtocolVersion::V5);
    c.send(v5_connect("anon"));
    match c.recv(Duration::from_secs(5)) {
        Some(Packet::ConnectAck(ack)) => {
            assert_eq!(
                ack.reason_code,
                holdfast_codec::ConnectAckReason::NotAuthorized
            )
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // An explicit setting allows them again.
    let b = Broker::start_with(
        &[("HOLDFAST_MQTT__ALLOW_ANONYMOUS", "true")],
        Some(&ws_on_all()),
    );
    let mut c = RawClient::connect(b.addr(), ProtocolVersion::V5);
    c.send(v5_connect("anon"));
    match c.recv(Duration::from_secs(5)) {
        Some(Packet::ConnectAck(ack)) => {
            assert_eq!(ack.reason_code, holdfast_codec::ConnectAckReason::Success)
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
}
