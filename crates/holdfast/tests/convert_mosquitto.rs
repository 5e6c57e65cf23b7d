//! `holdfast convert mosquitto` end to end: Debian's real `mosquitto` (2.0.x) writes a
//! persistence file, a password file and an acl_file; the converted archive is imported into
//! a fresh node with `holdfast ctl data import`; then real clients (mosquitto_sub/pub) check
//! that retained messages are served, the old password logs in and a wrong one is refused,
//! ACL decisions match, and the persistent session gets its queued messages on reconnect.
//! Also: `--strict` refuses with nothing written, and a damaged file is refused by offset.

mod backup_support;
mod common;
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backup_support::*;
use common::Broker;
use common::clients::mosq;

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A real Mosquitto broker, stopped with SIGINT so that it writes `mosquitto.db`.
struct Mosquitto {
    child: Child,
    port: u16,
}

impl Mosquitto {
    fn start(dir: &Path) -> Mosquitto {
        let port = common::free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {0}/passwd\n\
                 acl_file {0}/acl\npersistence true\npersistence_location {0}/\n",
                dir.display()
            ),
        )
        .expect("write conf");
        let child = Command::new("mosquitto")
            .args(["-c", path_str(&conf)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run mosquitto (apt install mosquitto; scripts/test-clients.sh does)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Mosquitto { child, port }
    }

    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT mosquitto");
        let _ = self.child.wait();
    }
}

/// Mosquitto's files, written by Mosquitto itself: alice (password `secret`) has a persistent
/// session subscribed to `q/#` with two QoS 1 messages queued, and two retained messages exist.
fn mosquitto_files(dir: &Path) {
    // Mosquitto started as root runs as the `mosquitto` user: let it write here.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let passwd = dir.join("passwd");
    let out = Command::new("mosquitto_passwd")
        .args(["-b", "-c", path_str(&passwd), "alice", "secret"])
        .output()
        .expect("mosquitto_passwd");
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(
        dir.join("acl"),
        "user alice\ntopic readwrite r/#\ntopic readwrite q/#\ntopic deny q/secret\n",
    )
    .expect("write acl");
    for f in ["passwd", "acl"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
    }
    let m = Mosquitto::start(dir);
    let p = m.port;
    let auth = ["-u", "alice", "-P", "secret"];
    let sub = mosq::run(
        Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &p.to_string(),
                "-i",
                "sess1",
                "-c",
                "-q",
                "1",
            ])
            .args(["-t", "q/#", "-E"])
            .args(auth),
        Duration::from_secs(10),
    );
    assert!(sub.status.success(), "{}", text(&sub.stderr));
    mosq::publish(
        p,
        &[
            "-u",
            "alice",
            "-P",
            "secret",
            "-r",
            "-q",
            "1",
            "-t",
            "r/one",
            "-m",
            "retained one",
        ],
    );
    mosq::publish(
        p,
        &[
            "-u",
            "alice",
            "-P",
            "secret",
            "-r",
            "-t",
            "r/two",
            "-m",
            "retained two",
        ],
    );
    mosq::publish(
        p,
        &[
            "-u", "alice", "-P", "secret", "-q", "1", "-t", "q/1", "-m", "queued-1",
        ],
    );
    mosq::publish(
        p,
        &[
            "-u", "alice", "-P", "secret", "-q", "1", "-t", "q/2", "-m", "queued-2",
        ],
    );
    m.stop();
    assert!(
        dir.join("mosquitto.db").exists(),
        "mosquitto wrote no mosquitto.db"
    );
}

#[test]
fn converted_mosquitto_state_serves_real_clients_after_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    mosquitto_files(d);
    let out = d.join("out.hfx");
    let args = [
        "convert",
        "mosquitto",
        "--db",
        &format!("{}/mosquitto.db", d.display()),
        "--passwd",
        &format!("{}/passwd", d.display()),
        "--acl-file",
        &format!("{}/acl", d.display()),
        "-o",
        path_str(&out),
    ];
    let printed = ok(&holdfast(d, &[], &args));
    assert!(printed.contains("carried"), "{printed}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out.report.json")).expect("report"))
            .expect("report is JSON");
    assert_eq!(report["carried"]["mosquitto.db"]["retained"], 2, "{report}");
    assert_eq!(report["carried"]["mosquitto.db"]["queued"], 2, "{report}");
    assert_eq!(report["carried"]["passwd"]["users"], 1, "{report}");
    // An ordinary archive: verify works offline.
    ok(&holdfast(
        d,
        &[],
        &["ctl", "data", "verify", path_str(&out)],
    ));

    let b = Broker::start_with_admin(&[], None);
    let imported = ok(&ctl(&b, &["data", "import", path_str(&out)]));
    assert!(imported.contains("imported"), "{imported}");
    let port = b.addr().port();

    // Retained messages with their QoS, through a wildcard, with the old password.
    let got = mosq::subscribe_until_done(
        port,
        &[
            "-u", "alice", "-P", "secret", "-q", "1", "-t", "r/#", "-C", "2", "-W", "10",
        ],
    );
    let mut got: Vec<&str> = got.iter().map(String::as_str).collect();
    got.sort();
    assert_eq!(
        got,
        vec!["r/one|1|1|retained one", "r/two|0|1|retained two"]
    );

    // A wrong password is refused.
    let wrong = mosq::run(
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "-u", "alice", "-P", "wrong", "-t", "r/#", "-C", "1", "-W", "5",
            ]),
        Duration::from_secs(15),
    );
    assert!(!wrong.status.success(), "a wrong password connected");
    assert!(
        text(&wrong.stderr)
            .to_lowercase()
            .contains("not authorised")
            || text(&wrong.stderr)
                .to_lowercase()
                .contains("bad user name or password"),
        "{}",
        text(&wrong.stderr)
    );

    // ACL: a topic the acl_file does not grant is refused; an explicit deny too.
    for filter in ["elsewhere/#", "q/secret"] {
        let denied = mosq::run(
            Command::new("mosquitto_sub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args([
                    "-u", "alice", "-P", "secret", "-t", filter, "-C", "1", "-W", "5",
                ]),
            Duration::from_secs(15),
        );
        assert!(
            text(&denied.stderr).contains("denied"),
            "subscribing {filter}: {}",
            text(&denied.stderr)
        );
    }

    // The persistent session resumes with its queued messages, in order.
    let queued = mosq::subscribe_until_done(
        port,
        &[
            "-u", "alice", "-P", "secret", "-i", "sess1", "-c", "-q", "1", "-t", "q/#", "-C", "2",
            "-W", "10",
        ],
    );
    assert_eq!(queued, vec!["q/1|1|0|queued-1", "q/2|1|0|queued-2"]);
}

#[test]
fn strict_and_damaged_input_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("passwd"), "alice:plaintext\n").expect("write");
    let out = d.join("s.hfx");
    let r = fails(
        &holdfast(
            d,
            &[],
            &[
                "convert",
                "mosquitto",
                "--passwd",
                path_str(&d.join("passwd")),
                "--strict",
                "-o",
                path_str(&out),
            ],
        ),
        "--strict: 1 record(s) could not be carried",
    );
    assert!(r.contains("not a mosquitto_passwd hash"), "{r}");
    assert!(!out.exists(), "--strict wrote an archive");

    let mut db = b"\x00\xb5\x00mosquitto db\x00\x00\x00\x00\x00\x00\x00\x06".to_vec();
    db.extend_from_slice(&2u32.to_be_bytes());
    db.extend_from_slice(&1000u32.to_be_bytes());
    std::fs::write(d.join("bad.db"), &db).expect("write");
    let out = d.join("b.hfx");
    fails(
        &holdfast(
            d,
            &[],
            &[
                "convert",
                "mosquitto",
                "--db",
                path_str(&d.join("bad.db")),
                "-o",
                path_str(&out),
            ],
        ),
        "bad.db: offset 23: chunk 2 says 1000 bytes",
    );
    assert!(
        !out.exists() && !d.join("b.report.json").exists(),
        "a damaged file left output"
    );
}
