//! `fill`: build a large data set in a broker over MQTT, for backup benchmarks.
//!
//! Three phases, each over several parallel connections:
//! 1. **sessions**: N persistent sessions (`fill-<i>`; v5 `clean_start=false` with a long
//!    Session Expiry, or v3.1.1 `clean_session=0`) each subscribe at QoS 1 to their own topic
//!    `fill/q/<i>`, then disconnect;
//! 2. **queued**: M QoS 1 messages to those topics round-robin, so each offline session queues
//!    about M/N of them;
//! 3. **retained**: R retained QoS 1 messages to distinct topics `fill/r/<i>`, which no session
//!    subscribes to.
//!
//! Publishers keep a window of unacknowledged QoS 1 messages per connection and count a
//! message only once its PUBACK says it was accepted, so the final counts are what the broker
//! has taken on. The payload is a sequence number followed by hex digits of a pseudo-random
//! stream: about 2:1 compressible, like much telemetry, rather than all zeros.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::{BufMut, Bytes, BytesMut};
use holdfast_codec::{Packet, Publish, PublishAckReason, QoS};
use tokio::sync::Semaphore;

use crate::client::{self, Reader, SessionKind};

/// Options of `holdfast-bench fill`.
#[derive(Debug, Clone, clap::Args)]
pub struct FillOpts {
    /// Broker host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker port.
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// Persistent sessions, each subscribed at QoS 1 to its own topic.
    #[arg(long, default_value_t = 3_000)]
    pub sessions: u64,
    /// QoS 1 messages queued for those sessions (round-robin over their topics).
    #[arg(long, default_value_t = 15_000)]
    pub queued: u64,
    /// Retained messages, each to its own topic.
    #[arg(long, default_value_t = 10_000)]
    pub retained: u64,
    /// Payload bytes of queued and retained messages (at least 8).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Parallel connections in each phase.
    #[arg(long, default_value_t = 32)]
    pub connections: u64,
    /// Unacknowledged QoS 1 publishes per connection (at most the broker's Receive Maximum).
    #[arg(long, default_value_t = 32)]
    pub inflight: usize,
    /// MQTT protocol level of the sessions: 4 (3.1.1, clean_session=0) or 5.
    #[arg(long, default_value_t = 5)]
    pub version: u8,
    /// Session Expiry Interval asked for by v5 sessions.
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    pub expiry_secs: u32,
    /// The whole fill fails if it takes longer than this.
    #[arg(long, default_value_t = 7_200)]
    pub timeout_secs: u64,
    /// Seconds between progress lines on stderr.
    #[arg(long, default_value_t = 10)]
    pub progress_secs: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the broker accepted, and how long each phase took.
#[derive(Debug, serde::Serialize)]
pub struct FillReport {
    pub sessions: u64,
    pub subscriptions: u64,
    pub queued: u64,
    pub retained: u64,
    pub size: usize,
    pub connections: u64,
    pub inflight: usize,
    pub version: u8,
    pub sessions_s: f64,
    pub queued_s: f64,
    pub retained_s: f64,
    pub total_s: f64,
}

impl fmt::Display for FillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
        writeln!(
            f,
            "fill: {} connections, v{}, {} B payloads, {:.1} s in all",
            self.connections, self.version, self.size, self.total_s
        )?;
        writeln!(
            f,
            "  sessions  {:>10} ({} subscriptions) in {:>8.1} s  {:>9.0}/s",
            self.sessions,
            self.subscriptions,
            self.sessions_s,
            rate(self.sessions, self.sessions_s)
        )?;
        writeln!(
            f,
            "  queued    {:>10} in {:>8.1} s  {:>9.0}/s",
            self.queued,
            self.queued_s,
            rate(self.queued, self.queued_s)
        )?;
        write!(
            f,
            "  retained  {:>10} in {:>8.1} s  {:>9.0}/s",
            self.retained,
            self.retained_s,
            rate(self.retained, self.retained_s)
        )
    }
}

/// Run the three phases, bounded by `--timeout-secs`.
pub async fn run(o: &FillOpts) -> anyhow::Result<FillReport> {
    anyhow::ensure!(o.size >= 8, "--size must be at least 8");
    anyhow::ensure!(o.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(
        (1..=u16::MAX as usize / 2).contains(&o.inflight),
        "--inflight must be 1 to 32767"
    );
    anyhow::ensure!(o.version == 4 || o.version == 5, "--version must be 4 or 5");
    anyhow::ensure!(
        o.sessions > 0 || o.queued == 0,
        "queued messages need at least one session"
    );
    let addr: SocketAddr = format!("{}:{}", o.host, o.port)
        .parse()
        .context("--host/--port")?;
    let limit = Duration::from_secs(o.timeout_secs);
    tokio::time::timeout(limit, phases(addr, o))
        .await
        .with_context(|| {
            format!(
                "fill did not finish within --timeout-secs {}",
                o.timeout_secs
            )
        })?
}

async fn phases(addr: SocketAddr, o: &FillOpts) -> anyhow::Result<FillReport> {
    let start = Instant::now();
    let sessions = Phase::new("sessions", o.sessions, o.progress_secs);
    let (subscribed, sessions_s) = sessions.run(connect_sessions(addr, o, &sessions)).await?;
    let queued = Phase::new("queued", o.queued, o.progress_secs);
    let (queued_n, queued_s) = queued
        .run(publish_all(addr, o, &queued, Target::Queued))
        .await?;
    let retained = Phase::new("retained", o.retained, o.progress_secs);
    let (retained_n, retained_s) = retained
        .run(publish_all(addr, o, &retained, Target::Retained))
        .await?;
    Ok(FillReport {
        sessions: subscribed,
        subscriptions: subscribed,
        queued: queued_n,
        retained: retained_n,
        size: o.size,
        connections: o.connections,
        inflight: o.inflight,
        version: o.version,
        sessions_s,
        queued_s,
        retained_s,
        total_s: start.elapsed().as_secs_f64(),
    })
}

/// One phase: its name, size and progress counter.
struct Phase {
    name: &'static str,
    total: u64,
    /// Items the broker has acknowledged so far, shared with the workers.
    done: Arc<AtomicU64>,
    /// Time between progress lines.
    progress: Duration,
}

impl Phase {
    fn new(name: &'static str, total: u64, progress_secs: u64) -> Self {
        Phase {
            name,
            total,
            done: Arc::new(AtomicU64::new(0)),
            progress: Duration::from_secs(progress_secs.max(1)),
        }
    }

    /// Run `work`, printing progress lines meanwhile; fail unless every item was acknowledged.
    /// Returns the count and the seconds it took.
    async fn run<F: Future<Output = anyhow::Result<u64>>>(
        &self,
        work: F,
    ) -> anyhow::Result<(u64, f64)> {
        let t0 = Instant::now();
        let mut work = std::pin::pin!(work);
        let mut tick = tokio::time::interval_at((t0 + self.progress).into(), self.progress);
        let n = loop {
            tokio::select! {
                r = &mut work => break r?,
                _ = tick.tick() => {
                    let d = self.done.load(Ordering::Relaxed);
                    eprintln!(
                        "fill {}: {d}/{} ({:.0}/s)",
                        self.name,
                        self.total,
                        d as f64 / t0.elapsed().as_secs_f64()
                    );
                }
            }
        };
        let secs = t0.elapsed().as_secs_f64();
        eprintln!("fill {}: {n}/{} in {secs:.1} s", self.name, self.total);
        if n != self.total {
            bail!(
                "fill {}: the broker acknowledged {n} of {}",
                self.name,
                self.total
            );
        }
        Ok((n, secs))
    }
}

fn session_topic(i: u64) -> String {
    format!("fill/q/{i}")
}

/// Phase 1: connect, subscribe and leave, for every session; `connections` at a time.
async fn connect_sessions(addr: SocketAddr, o: &FillOpts, phase: &Phase) -> anyhow::Result<u64> {
    let kind = SessionKind::Persistent {
        expiry_secs: o.expiry_secs,
    };
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..o.connections.min(o.sessions.max(1)) {
        let (step, total, level) = (o.connections, o.sessions, o.version);
        let done = phase.done.clone();
        workers.spawn(async move {
            let mut i = w;
            while i < total {
                let id = format!("fill-{i}");
                let (mut r, mut wr) = client::connect_as(addr, &id, level, kind)
                    .await
                    .with_context(|| format!("session {id}"))?;
                client::subscribe(&mut r, &mut wr, &session_topic(i), 1)
                    .await
                    .with_context(|| format!("session {id}: subscribe"))?;
                client::disconnect(wr).await?;
                done.fetch_add(1, Ordering::Relaxed);
                i += step;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = workers.join_next().await {
        r??;
    }
    Ok(phase.done.load(Ordering::Relaxed))
}

/// Which messages a publishing phase sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// QoS 1 to `fill/q/<k mod sessions>`: queued for the offline sessions.
    Queued,
    /// Retained QoS 1 to `fill/r/<k>`.
    Retained,
}

/// Phases 2 and 3: `phase.total` messages over `connections` clean connections, each with a
/// window of `inflight` unacknowledged messages.
async fn publish_all(
    addr: SocketAddr,
    o: &FillOpts,
    phase: &Phase,
    target: Target,
) -> anyhow::Result<u64> {
    let conns = o.connections.min(phase.total.max(1));
    let mut workers = tokio::task::JoinSet::new();
    for c in 0..conns {
        let o = o.clone();
        let done = phase.done.clone();
        let total = phase.total;
        workers.spawn(async move { publisher(addr, &o, c, conns, total, target, done).await });
    }
    while let Some(r) = workers.join_next().await {
        r??;
    }
    Ok(phase.done.load(Ordering::Relaxed))
}

/// One publishing connection: messages `c, c + step, ...` below `total`.
async fn publisher(
    addr: SocketAddr,
    o: &FillOpts,
    c: u64,
    step: u64,
    total: u64,
    target: Target,
    done: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let id = format!("fill-pub-{}-{c}", target.prefix());
    let (r, mut w) = client::connect(addr, &id, o.version).await?;
    let window = Arc::new(Semaphore::new(o.inflight));
    let mut acks = tokio::spawn(read_acks(r, window.clone(), done, target));
    let mut pid: u16 = 0;
    let mut k = c;
    while k < total {
        match window.try_acquire() {
            Ok(p) => p.forget(),
            Err(_) => {
                // Window full: send what is buffered, then wait for an acknowledgement.
                w.flush().await?;
                tokio::select! {
                    p = window.acquire() => p?.forget(),
                    r = &mut acks => {
                        r??;
                        bail!("{id}: the acknowledgement reader stopped");
                    }
                }
            }
        }
        pid = pid.checked_add(1).unwrap_or(1);
        w.push(Packet::Publish(Box::new(Publish {
            dup: false,
            retain: target == Target::Retained,
            qos: QoS::AtLeastOnce,
            topic: target.topic(k, o.sessions).into(),
            packet_id: NonZeroU16::new(pid),
            payload: payload(k, o.size),
            properties: None,
        })))?;
        k += step;
    }
    w.flush().await?;
    // Every slot back means every message was acknowledged.
    tokio::select! {
        p = window.acquire_many(u32::try_from(o.inflight)?) => p?.forget(),
        r = &mut acks => {
            r??;
            bail!("{id}: the acknowledgement reader stopped");
        }
    }
    acks.abort();
    client::disconnect(w).await?;
    Ok(())
}

/// Count PUBACKs and free window slots; a refused message or a lost connection ends it with
/// an error.
async fn read_acks(
    mut r: Reader,
    window: Arc<Semaphore>,
    done: Arc<AtomicU64>,
    target: Target,
) -> anyhow::Result<()> {
    loop {
        match r.next().await? {
            Packet::PublishAck(a) => {
                let accepted = a.reason_code == PublishAckReason::Success
                    || (target == Target::Retained
                        && a.reason_code == PublishAckReason::NoMatchingSubscribers);
                if !accepted {
                    bail!("message refused: PUBACK {:?}", a.reason_code);
                }
                done.fetch_add(1, Ordering::Relaxed);
                window.add_permits(1);
            }
            Packet::Disconnect(d) => bail!("broker disconnected: {:?}", d.reason_code),
            _ => {}
        }
    }
}

impl Target {
    fn prefix(self) -> &'static str {
        match self {
            Target::Queued => "q",
            Target::Retained => "r",
        }
    }

    fn topic(self, k: u64, sessions: u64) -> String {
        match self {
            Target::Queued => session_topic(k % sessions.max(1)),
            Target::Retained => format!("fill/r/{k}"),
        }
    }
}

/// `size` bytes: `k` (u64 LE), then hex digits of a xorshift stream seeded by `k`.
fn payload(k: u64, size: usize) -> Bytes {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = BytesMut::with_capacity(size);
    b.put_u64_le(k);
    let mut x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while b.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for shift in (0..64).step_by(4) {
            if b.len() == size {
                break;
            }
            b.put_u8(HEX[((x >> shift) & 0xF) as usize]);
        }
    }
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_size_and_the_sequence() {
        let p = payload(42, 256);
        assert_eq!(p.len(), 256);
        assert_eq!(u64::from_le_bytes(p[..8].try_into().expect("8 bytes")), 42);
        assert!(p[8..].iter().all(u8::is_ascii_hexdigit));
        assert_ne!(payload(1, 256), payload(2, 256));
    }

    #[test]
    fn queued_topics_go_round_robin_over_the_sessions() {
        assert_eq!(Target::Queued.topic(0, 3), "fill/q/0");
        assert_eq!(Target::Queued.topic(4, 3), "fill/q/1");
        assert_eq!(Target::Retained.topic(4, 3), "fill/r/4");
    }
}
