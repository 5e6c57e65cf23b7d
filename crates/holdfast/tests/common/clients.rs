//! Third-party client helpers: rumqttc (v3.1.1 and v5) driven on a tokio task whose events
//! are forwarded to a channel, so a test can wait for them with a timeout, disconnect
//! cleanly, or drop the socket abruptly (abort the task), and the mosquitto CLIs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test watches for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(700);

/// An event from the client task: a packet or the end of the connection.
enum Ev<P> {
    Packet(P),
    Closed(String),
}

macro_rules! client_impl {
    ($name:ident, $client:ty, $connack:ty, $publish:ty, $suback:ty) => {
        /// A connected rumqttc client.
        pub struct $name {
            pub client: $client,
            pub connack: $connack,
            pub id: String,
            /// Why the connection ended, once it has.
            pub closed: Option<String>,
            events: mpsc::UnboundedReceiver<Ev<Packet>>,
            task: JoinHandle<()>,
        }

        impl $name {
            /// Wait for the next incoming packet matching `pick`, skipping others.
            pub async fn next_matching<T>(
                &mut self,
                timeout: Duration,
                mut pick: impl FnMut(Packet) -> Option<T>,
            ) -> Option<T> {
                let deadline = tokio::time::Instant::now() + timeout;
                loop {
                    let ev = tokio::time::timeout_at(deadline, self.events.recv())
                        .await
                        .ok()??;
                    match ev {
                        Ev::Packet(p) => {
                            if let Some(t) = pick(p) {
                                return Some(t);
                            }
                        }
                        Ev::Closed(e) => {
                            self.closed = Some(e);
                            return None;
                        }
                    }
                }
            }

            /// The next PUBLISH within `timeout`.
            pub async fn next_publish(&mut self, timeout: Duration) -> Option<$publish> {
                self.next_matching(timeout, |p| match p {
                    Packet::Publish(p) => Some(p),
                    _ => None,
                })
                .await
            }

            /// The next PUBLISH within [`WAIT`]; panics if none arrives.
            pub async fn expect_publish(&mut self) -> $publish {
                match self.next_publish(WAIT).await {
                    Some(p) => p,
                    None => panic!("{}: no PUBLISH within {WAIT:?}", self.id),
                }
            }

            /// Asserts no PUBLISH arrives within `quiet` (and the connection stays open).
            pub async fn expect_no_publish(&mut self, quiet: Duration) {
                if let Some(p) = self.next_publish(quiet).await {
                    panic!("{}: unexpected PUBLISH {p:?}", self.id);
                }
                if let Some(e) = &self.closed {
                    panic!("{}: connection closed: {e}", self.id);
                }
            }

            /// Waits for the SUBACK; panics on timeout.
            pub async fn expect_suback(&mut self) -> $suback {
                match self
                    .next_matching(WAIT, |p| match p {
                        Packet::SubAck(a) => Some(a),
                        _ => None,
                    })
                    .await
                {
                    Some(a) => a,
                    None => panic!("{}: no SUBACK within {WAIT:?}", self.id),
                }
            }

            /// Subscribes and waits for the SUBACK.
            pub async fn sub(&mut self, filter: &str, qos: QoS) -> $suback {
                self.client
                    .subscribe(filter, qos)
                    .await
                    .expect("subscribe request");
                self.expect_suback().await
            }

            /// Waits for the packet that completes an outgoing QoS 1/2 publish.
            pub async fn expect_pub_done(&mut self, qos: QoS) {
                let done = self
                    .next_matching(WAIT, |p| match (qos, p) {
                        (QoS::AtLeastOnce, Packet::PubAck(_)) => Some(()),
                        (QoS::ExactlyOnce, Packet::PubComp(_)) => Some(()),
                        _ => None,
                    })
                    .await;
                assert!(done.is_some(), "{}: publish not completed", self.id);
            }

            /// Clean DISCONNECT; waits until the connection is closed.
            pub async fn disconnect(mut self) {
                self.client.disconnect().await.expect("disconnect request");
                let deadline = tokio::time::Instant::now() + WAIT;
                while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.events.recv()).await
                {
                    if matches!(ev, Ev::Closed(_)) {
                        break;
                    }
                }
                self.task.abort();
                let _ = self.task.await;
            }

            /// Abrupt close: the socket is dropped without a DISCONNECT.
            pub async fn kill(self) {
                self.task.abort();
                let _ = self.task.await;
            }
        }
    };
}

/// Runs an event loop on a task, forwarding incoming packets; the first is the CONNACK.
macro_rules! connect_impl {
    ($name:ident, $el:expr, $client:expr, $id:expr) => {{
        let (tx, mut events) = mpsc::unbounded_channel();
        let mut el = $el;
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(p)) => {
                        if tx.send(Ev::Packet(p)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(e) => {
                        let _ = tx.send(Ev::Closed(e.to_string()));
                        return;
                    }
                }
            }
        });
        let id: String = $id;
        let connack = match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Some(Ev::Packet(Packet::ConnAck(a)))) => a,
            Ok(Some(Ev::Packet(p))) => panic!("{id}: expected CONNACK, got {p:?}"),
            Ok(Some(Ev::Closed(e))) => panic!("{id}: connect failed: {e}"),
            Ok(None) => panic!("{id}: client task ended"),
            Err(_) => panic!("{id}: no CONNACK within {WAIT:?}"),
        };
        $name {
            client: $client,
            connack,
            id,
            closed: None,
            events,
            task,
        }
    }};
}

pub mod v4 {
    use super::*;
    #[allow(unused_imports)]
    pub use rumqttc::{
        AsyncClient, ConnAck, Event, LastWill, MqttOptions, Packet, Publish, QoS, SubAck,
    };

    client_impl!(V4Client, AsyncClient, ConnAck, Publish, SubAck);

    /// Options for `id` on the broker at `addr` (keep-alive 30 s).
    pub fn options(addr: SocketAddr, id: &str) -> MqttOptions {
        let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Connects and waits for the CONNACK (which must accept the connection).
    pub async fn connect(o: MqttOptions) -> V4Client {
        let id = o.client_id();
        let (client, el) = AsyncClient::new(o, 100);
        connect_impl!(V4Client, el, client, id)
    }

    /// Connects `id` with a clean session.
    pub async fn connect_id(addr: SocketAddr, id: &str) -> V4Client {
        connect(options(addr, id)).await
    }
}

pub mod v5 {
    use super::*;
    #[allow(unused_imports)]
    pub use rumqttc::v5::mqttbytes::QoS;
    #[allow(unused_imports)]
    pub use rumqttc::v5::mqttbytes::v5::{
        ConnAck, Filter, LastWill, LastWillProperties, Packet, PubAckReason, Publish,
        PublishProperties, RetainForwardRule, SubAck, SubscribeProperties,
    };
    #[allow(unused_imports)]
    pub use rumqttc::v5::{AsyncClient, Event, MqttOptions};

    client_impl!(V5Client, AsyncClient, ConnAck, Publish, SubAck);

    /// Options for `id` on the broker at `addr` (keep-alive 30 s).
    pub fn options(addr: SocketAddr, id: &str) -> MqttOptions {
        let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Connects and waits for the CONNACK (which must accept the connection).
    pub async fn connect(o: MqttOptions) -> V5Client {
        let id = o.client_id();
        let (client, el) = AsyncClient::new(o, 100);
        connect_impl!(V5Client, el, client, id)
    }

    /// Connects `id` with a clean start and no session expiry.
    pub async fn connect_id(addr: SocketAddr, id: &str) -> V5Client {
        connect(options(addr, id)).await
    }

    impl V5Client {
        /// Subscribes with the given filters and properties; waits for the SUBACK.
        pub async fn sub_with(
            &mut self,
            filters: Vec<Filter>,
            props: Option<SubscribeProperties>,
        ) -> SubAck {
            match props {
                Some(p) => self.client.subscribe_many_with_properties(filters, p).await,
                None => self.client.subscribe_many(filters).await,
            }
            .expect("subscribe request");
            self.expect_suback().await
        }
    }
}

/// The mosquitto command-line clients (`/usr/bin/mosquitto_pub`, `mosquitto_sub`).
pub mod mosq {
    use super::*;
    use std::sync::mpsc as std_mpsc;

    /// Runs `cmd` to completion within `timeout`; panics if it takes longer.
    pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mosquitto client");
        let pid = child.id();
        let (tx, rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(timeout) {
            Ok(out) => out.expect("wait for mosquitto client"),
            Err(_) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
                    nix::sys::signal::Signal::SIGKILL,
                );
                panic!("{cmd:?} did not finish within {timeout:?}");
            }
        }
    }

    /// `mosquitto_pub -p PORT ARGS...`, which must succeed.
    pub fn publish(port: u16, args: &[&str]) {
        let out = run(
            Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(args),
            WAIT,
        );
        assert!(
            out.status.success(),
            "mosquitto_pub {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `mosquitto_sub -p PORT ARGS...` run to completion; its message lines (`-F` format
    /// `TOPIC|QOS|RETAIN|PAYLOAD`).
    pub fn subscribe_until_done(port: u16, args: &[&str]) -> Vec<String> {
        let out = run(
            Command::new("mosquitto_sub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["-F", FORMAT])
                .args(args),
            Duration::from_secs(15),
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("MSG|").map(str::to_string))
            .collect()
    }

    const FORMAT: &str = "MSG|%t|%q|%r|%p";

    /// A running `mosquitto_sub`, subscribed (its SUBACK seen) when returned.
    pub struct Sub {
        child: Child,
        lines: std_mpsc::Receiver<String>,
    }

    impl Sub {
        pub fn start(port: u16, args: &[&str]) -> Sub {
            // Line-buffered, so the SUBACK debug line is seen as it happens.
            let mut child = Command::new("stdbuf")
                .args(["-oL", "mosquitto_sub"])
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-d"])
                .args(["-F", FORMAT])
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn mosquitto_sub");
            let out = child.stdout.take().expect("stdout");
            let (tx, lines) = std_mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            let deadline = Instant::now() + WAIT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match lines.recv_timeout(left) {
                    Ok(l) if l.contains("SUBACK") => break,
                    Ok(_) => {}
                    Err(_) => panic!("mosquitto_sub {args:?}: no SUBACK within {WAIT:?}"),
                }
            }
            Sub { child, lines }
        }

        /// The next message line (`TOPIC|QOS|RETAIN|PAYLOAD`) within `timeout`.
        pub fn message(&self, timeout: Duration) -> Option<String> {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.checked_duration_since(Instant::now())?;
                match self.lines.recv_timeout(left) {
                    Ok(l) => {
                        if let Some(m) = l.strip_prefix("MSG|") {
                            return Some(m.to_string());
                        }
                    }
                    Err(_) => return None,
                }
            }
        }

        /// The next message line within [`WAIT`]; panics if none arrives.
        pub fn expect_message(&self) -> String {
            self.message(WAIT)
                .unwrap_or_else(|| panic!("mosquitto_sub: no message within {WAIT:?}"))
        }
    }

    impl Drop for Sub {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// paho-mqtt (Python) and MQTT.js (npm), installed pinned under `target/` by
/// `scripts/test-clients.sh` (which `scripts/test.sh` runs); the scripts they run live in
/// `tests/clients/`.
pub mod scripted {
    use super::*;
    use std::path::PathBuf;

    fn target_dir() -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
    }

    fn script(name: &str) -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/clients")
            .join(name)
    }

    fn installed(p: PathBuf) -> PathBuf {
        assert!(
            p.exists(),
            "{} is missing: run scripts/test-clients.sh (scripts/test.sh does)",
            p.display()
        );
        p
    }

    /// Runs a client script and parses its one JSON line.
    fn run_json(cmd: &mut Command, timeout: Duration) -> serde_json::Value {
        let out = super::mosq::run(cmd, timeout);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{cmd:?} failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// `paho_window.py`: `count` QoS 1 publishes with `window` in flight.
    pub fn paho_window(
        port: u16,
        topic: &str,
        count: usize,
        window: usize,
        v5: bool,
    ) -> serde_json::Value {
        let py = installed(target_dir().join("py-clients/bin/python"));
        run_json(
            Command::new(py).arg(script("paho_window.py")).args([
                port.to_string(),
                topic.to_string(),
                count.to_string(),
                window.to_string(),
                (if v5 { "5" } else { "311" }).to_string(),
                "60".to_string(),
            ]),
            Duration::from_secs(90),
        )
    }

    /// `mqttjs_burst.js`: `count` QoS 1 publishes at once to `url` (`mqtt://` or `ws://`).
    pub fn mqttjs_burst(url: &str, topic: &str, count: usize, v5: bool) -> serde_json::Value {
        let modules = installed(target_dir().join("js-clients/node_modules"));
        run_json(
            Command::new("node")
                .env("NODE_PATH", modules)
                .arg(script("mqttjs_burst.js"))
                .args([
                    url.to_string(),
                    topic.to_string(),
                    count.to_string(),
                    (if v5 { "5" } else { "4" }).to_string(),
                    "60".to_string(),
                ]),
            Duration::from_secs(90),
        )
    }
}
