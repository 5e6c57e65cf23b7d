//! Node identity and the data-dir lock, on the real binary: a restart under another hostname
//! keeps the identity and all data; a second node on the same data dir is refused.

mod common;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Broker, free_port};
use holdfast_codec::QoS;
use support::*;

fn identity_line(log: &str) -> String {
    log.lines()
        .rev()
        .find(|l| l.contains("node identity"))
        .unwrap_or_else(|| panic!("no identity line in log:\n{log}"))
        .to_string()
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("{key}="))
        .map(|i| i + key.len() + 1)
        .expect("field");
    line[start..]
        .split_whitespace()
        .next()
        .expect("value")
        .trim_matches('"')
}

#[test]
fn restart_under_a_new_hostname_keeps_identity_and_all_data() {
    let mut b = Broker::start();
    let first = identity_line(&b.log());
    assert!(first.contains("new=true"), "{first}");
    let id = field(&first, "id").to_string();
    let name = field(&first, "name").to_string();
    let identity_file = std::fs::read_to_string(b.data_dir().join("node.toml")).expect("node.toml");
    // A persistent session with a queued message, and a retained message.
    let (mut sub, _) = connect5_persistent(b.addr(), "ident-sub", true, 3600);
    subscribe(&mut sub, 1, "ident/#", QoS::AtLeastOnce);
    sub.send(disconnect());
    drop(sub);
    let mut p = connect5(b.addr(), "ident-pub");
    publish_acked(&mut p, "ident/queued", "q", QoS::AtLeastOnce, 1, false);
    publish_acked(&mut p, "ident/kept", "r", QoS::AtLeastOnce, 2, true);
    drop(p);
    assert_eq!(b.terminate(), Some(0));

    // Same data dir, another hostname (a new UTS namespace), another port.
    let port = free_port();
    let log = b.dir.path().join("renamed.log");
    let mut child = Command::new("unshare")
        .args([
            "--uts",
            "sh",
            "-c",
            "hostname holdfast-renamed-host && exec \"$0\" start",
        ])
        .arg(env!("CARGO_BIN_EXE_holdfast"))
        .current_dir(b.dir.path())
        .env("HOLDFAST_LISTENERS__TCP__BIND", format!("127.0.0.1:{port}"))
        .env("HOLDFAST_ADMIN__BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("unshare is available (util-linux) and the tests run as root");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "renamed node did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    let second = identity_line(&std::fs::read_to_string(&log).expect("log"));
    assert!(second.contains("new=false"), "{second}");
    assert_eq!(field(&second, "id"), id, "same node id");
    assert_eq!(
        field(&second, "name"),
        name,
        "the name is kept, not derived from the new hostname"
    );
    assert_eq!(
        std::fs::read_to_string(b.data_dir().join("node.toml")).expect("node.toml"),
        identity_file
    );
    let (mut sub, present) = connect5_persistent(addr, "ident-sub", false, 3600);
    assert!(present, "the persistent session survived the rename");
    let m = expect_publish(&mut sub, "ident/queued", b"q");
    if let Some(id) = m.packet_id {
        sub.send(puback(id.get()));
    }
    let mut s2 = connect5(addr, "ident-sub2");
    subscribe(&mut s2, 1, "ident/kept", QoS::AtLeastOnce);
    let r = expect_publish(&mut s2, "ident/kept", b"r");
    assert!(r.retain);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_second_node_on_the_same_data_dir_is_refused() {
    let b = Broker::start();
    let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .arg("start")
        .current_dir(b.dir.path())
        .env(
            "HOLDFAST_LISTENERS__TCP__BIND",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("HOLDFAST_ADMIN__BIND", "127.0.0.1:0")
        .output()
        .expect("run a second holdfast");
    assert!(!out.status.success(), "the second node must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use by another holdfast"), "{err}");
    assert!(
        err.contains("Two nodes must never share one data dir"),
        "{err}"
    );
    // The first node is unharmed.
    let _c = connect5(b.addr(), "still-serving");
}
