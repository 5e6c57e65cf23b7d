//! Test harness: runs the real `holdfast` binary on a free loopback port with its own data
//! dir, and a raw MQTT client over a real socket (built on the project's codec) for the
//! packet-level checks third-party clients cannot express.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use holdfast_codec::{MqttCodec, Packet, ProtocolVersion};
use tokio_util::codec::{Decoder, Encoder};

/// A free TCP port on 127.0.0.1, reserved for this test process until it exits.
///
/// Test binaries run in parallel and every client connection takes a kernel-chosen
/// (ephemeral) port, so a port found by binding `:0` and released can be taken again before
/// the broker binds it. Ports here come from below the ephemeral range instead, and each is
/// claimed with a lock file under the temp dir so that parallel test processes never pick
/// the same one.
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    let (first, last) = (10_000u16, low.saturating_sub(1).max(10_001));
    let span = u32::from(last - first);
    let dir = std::env::temp_dir().join("holdfast-test-ports");
    std::fs::create_dir_all(&dir).expect("port lock dir");
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for i in 0..span {
        let port = first + u16::try_from((seed.wrapping_add(i)) % span).expect("in range");
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{port}.lock")))
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        HELD.lock().expect("port list").push(file);
        return port;
    }
    panic!("no free port in {first}..={last}");
}

/// A running broker process.
pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    pub config: Option<String>,
}

impl Broker {
    /// Start with the built-in defaults (on a free port, in a fresh temp dir).
    pub fn start() -> Broker {
        Broker::start_with(&[], None)
    }

    /// Start with extra `HOLDFAST_*` variables and an optional `holdfast.toml` text.
    pub fn start_with(env: &[(&str, &str)], config: Option<&str>) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = Broker {
            child: None,
            port: free_port(),
            dir,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config: config.map(str::to_string),
        };
        b.spawn();
        b
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("holdfast.log")
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        cmd.arg("start").current_dir(self.dir.path());
        if let Some(text) = &self.config {
            let path = self.dir.path().join("holdfast.toml");
            std::fs::write(&path, text).expect("write config");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        cmd.env_remove("HOLDFAST_CONFIG")
            .env(
                "HOLDFAST_LISTENERS__TCP__BIND",
                format!("127.0.0.1:{}", self.port),
            )
            .env("HOLDFAST_LOG", "info,holdfast_server=debug")
            // Tests run brokers in parallel: each admin API gets its own port unless a test
            // chooses one (see `start_with_admin`).
            .env("HOLDFAST_ADMIN__BIND", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn holdfast"));
        wait_for_port(self.port, self);
    }

    /// SIGKILL the broker (no shutdown work at all).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            c.wait().expect("reap");
        }
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = c.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "broker did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start again on the same port and data dir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the broker before restarting it");
        self.spawn();
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Peak resident memory of the broker so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
            * 1024
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn wait_for_port(port: u16, b: &mut Broker) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if !b.is_running() {
            panic!("holdfast exited during start-up; log:\n{}", b.log());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "holdfast did not listen on {port} within 15 s; log:\n{}",
        b.log()
    );
}

/// What one read from the broker gave.
enum ReadOutcome {
    Data,
    Closed,
    TimedOut,
}

/// A packet-level MQTT client over a blocking socket.
pub struct RawClient {
    pub stream: TcpStream,
    codec: MqttCodec,
    buf: BytesMut,
}

impl RawClient {
    pub fn connect(addr: SocketAddr, version: ProtocolVersion) -> RawClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            codec: MqttCodec::for_version(version, 0),
            buf: BytesMut::new(),
        }
    }

    /// Send a packet.
    pub fn send(&mut self, p: Packet) {
        let mut out = BytesMut::new();
        self.codec.encode(p, &mut out).expect("encode");
        self.stream.write_all(&out).expect("write");
    }

    /// Send packets in one write (so that the broker reads them together).
    pub fn send_all(&mut self, ps: Vec<Packet>) {
        let mut out = BytesMut::new();
        for p in ps {
            self.codec.encode(p, &mut out).expect("encode");
        }
        self.stream.write_all(&out).expect("write");
    }

    /// Send raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// The next packet within `timeout`; `None` on timeout, or when the broker closed the
    /// connection (see [`RawClient::is_closed`]).
    pub fn recv(&mut self, timeout: Duration) -> Option<Packet> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self
                .codec
                .decode(&mut self.buf)
                .expect("broker sent a valid packet")
            {
                return Some(p);
            }
            match self.read_some(deadline) {
                ReadOutcome::Data => {}
                ReadOutcome::Closed | ReadOutcome::TimedOut => return None,
            }
        }
    }

    /// True once the broker has closed the connection (waits up to `timeout`).
    pub fn is_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.read_some(deadline) {
                ReadOutcome::Data => {}
                ReadOutcome::Closed => return true,
                ReadOutcome::TimedOut => return false,
            }
        }
    }

    /// Read what the broker sent into the buffer, waiting until `deadline` at most.
    fn read_some(&mut self, deadline: Instant) -> ReadOutcome {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return ReadOutcome::TimedOut;
        };
        self.stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => ReadOutcome::Closed,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                ReadOutcome::Data
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                ReadOutcome::TimedOut
            }
            Err(_) => ReadOutcome::Closed,
        }
    }
}

/// Path of a file in the test's own folder.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

pub mod clients;

/// The admin API of a test broker (see [`Broker::start_with_admin`]).
impl Broker {
    /// Start with the admin API on a free port of its own, and wait until it serves and the
    /// bootstrap key is written.
    pub fn start_with_admin(env: &[(&str, &str)], config: Option<&str>) -> Broker {
        let bind = format!("127.0.0.1:{}", free_port());
        let mut all = vec![("HOLDFAST_ADMIN__BIND", bind.as_str())];
        all.extend_from_slice(env);
        let b = Broker::start_with(&all, config);
        b.wait_for_admin();
        b
    }

    /// The admin port chosen by [`Broker::start_with_admin`] (the last such variable wins).
    pub fn admin_port(&self) -> u16 {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == "HOLDFAST_ADMIN__BIND")
            .and_then(|(_, v)| v.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("started with start_with_admin")
    }

    /// `http://127.0.0.1:<admin port>`.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port())
    }

    /// The bootstrap key from `<data_dir>/admin.key`.
    pub fn admin_key(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("admin.key"))
            .expect("admin.key")
            .trim()
            .to_string()
    }

    /// [`Broker::start_with_admin`] with the data dir at `data` (also given in `env`).
    pub fn start_with_admin_in(data: &Path, env: &[(&str, &str)]) -> Broker {
        let bind = format!("127.0.0.1:{}", free_port());
        let mut all = vec![("HOLDFAST_ADMIN__BIND", bind.as_str())];
        all.extend_from_slice(env);
        let b = Broker::start_with(&all, None);
        b.wait_for_admin_key_in(data);
        b
    }

    /// Wait until the admin port accepts connections and `data/admin.key` exists.
    pub fn wait_for_admin_key_in(&self, data: &Path) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let key = data.join("admin.key");
        while Instant::now() < deadline {
            if key.is_file() && TcpStream::connect(("127.0.0.1", self.admin_port())).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("admin API not ready within 15 s; log:\n{}", self.log());
    }

    /// Wait until the admin port accepts connections and the bootstrap key exists.
    pub fn wait_for_admin(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let key = self.data_dir().join("admin.key");
        while Instant::now() < deadline {
            if key.is_file() && TcpStream::connect(("127.0.0.1", self.admin_port())).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("admin API not ready within 15 s; log:\n{}", self.log());
    }
}

pub mod http;
