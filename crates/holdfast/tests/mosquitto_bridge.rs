//! A real Mosquitto bridge (Debian's `mosquitto`, default `try_private true`, so CONNECT
//! carries protocol level 0x84) to Holdfast: QoS 1 messages cross both ways, none loops back,
//! and the bridge carries on after Holdfast restarts.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Broker;
use common::clients::mosq;

struct Mosquitto(Child);

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_bridge(dir: &Path, holdfast_port: u16) -> (Mosquitto, u16) {
    let port = common::free_port();
    let conf = dir.join("bridge.conf");
    // Everything else (try_private, cleansession, protocol version) at Mosquitto's defaults.
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\n\
             connection to-holdfast\naddress 127.0.0.1:{holdfast_port}\ntopic br/# both 1\n\
             restart_timeout 1 2\n"
        ),
    )
    .expect("write conf");
    let child = Command::new("mosquitto")
        .args(["-c", conf.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run mosquitto");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Mosquitto(child), port)
}

/// Publish `topic` at QoS 1 on `from` until the subscriber sees it (the bridge may still be
/// connecting); then it must not see it a second time (no loop).
fn crosses_once(from: u16, sub: &mosq::Sub, topic: &str, payload: &str) {
    let want = format!("{topic}|1|0|{payload}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        mosq::publish(from, &["-q", "1", "-t", topic, "-m", payload]);
        if let Some(m) = sub.message(Duration::from_millis(700)) {
            assert_eq!(m, want);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} never crossed the bridge"
        );
    }
    // Drain copies from earlier attempts made before the bridge was up, then none may come.
    while let Some(m) = sub.message(Duration::from_millis(300)) {
        assert_eq!(m, want, "unexpected message");
    }
    mosq::publish(
        from,
        &["-q", "1", "-t", topic, "-m", &format!("{payload}-again")],
    );
    let again = sub
        .message(Duration::from_secs(5))
        .expect("the second message crossed");
    assert_eq!(again, format!("{topic}|1|0|{payload}-again"));
    assert_eq!(
        sub.message(Duration::from_secs(1)),
        None,
        "{topic} came twice: a loop"
    );
}

#[test]
fn a_default_mosquitto_bridge_carries_qos1_both_ways_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hf = Broker::start();
    let hf_port = hf.addr().port();
    let (_m, m_port) = start_bridge(dir.path(), hf_port);

    for round in 0..2 {
        let on_holdfast = mosq::Sub::start(hf_port, &["-q", "1", "-t", "br/from-m/#"]);
        let on_mosquitto = mosq::Sub::start(m_port, &["-q", "1", "-t", "br/from-h/#"]);
        crosses_once(m_port, &on_holdfast, &format!("br/from-m/{round}"), "m");
        crosses_once(hf_port, &on_mosquitto, &format!("br/from-h/{round}"), "h");
        drop(on_holdfast);
        drop(on_mosquitto);
        if round == 0 {
            hf.terminate();
            hf.restart();
        }
    }
    assert!(
        !hf.log().contains("unsupported MQTT protocol level"),
        "{}",
        hf.log()
    );
}
