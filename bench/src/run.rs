//! The load run: subscribers first, then publishers; warm-up, measured window, drain; then the
//! report.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use hdrhistogram::Histogram;
use holdfast_codec::{
    Packet, Publish, PublishAck, PublishAck2, PublishAck2Reason, PublishAckReason,
};
use tokio::sync::{Mutex, Semaphore};

use crate::client::{self, Reader, Writer};
use crate::{Opts, Topology, proc_stat};

/// Payload header: sequence (u64), send time in ns since the run's start (u64), publisher (u32).
pub const HEADER_BYTES: usize = 20;
/// Time allowed after publishing stops for the last messages to arrive.
const DRAIN: Duration = Duration::from_secs(2);
/// Publishes written per socket write at the maximum rate.
const BATCH: usize = 64;

/// The result of a load run.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub label: String,
    pub topology: Topology,
    pub qos: u8,
    pub version: u8,
    pub pubs: usize,
    pub subs: usize,
    pub size: usize,
    pub rate_per_pub: u64,
    pub duration_s: u64,
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub delivered_per_s: f64,
    pub latency_p50_us: u64,
    pub latency_p99_us: u64,
    pub latency_p999_us: u64,
    pub latency_max_us: u64,
    pub broker_cpu_us_per_msg: Option<f64>,
    pub bench_cpu_us_per_msg: Option<f64>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {:?} qos{} v{} {}→{} {} B rate {}/s/pub, {} s",
            self.label,
            self.topology,
            self.qos,
            self.version,
            self.pubs,
            self.subs,
            self.size,
            self.rate_per_pub,
            self.duration_s
        )?;
        writeln!(f, "  delivered   {:.0} msgs/s", self.delivered_per_s)?;
        writeln!(
            f,
            "  latency     p50 {} µs  p99 {} µs  p99.9 {} µs  max {} µs",
            self.latency_p50_us, self.latency_p99_us, self.latency_p999_us, self.latency_max_us
        )?;
        writeln!(
            f,
            "  messages    sent {} expected {} received {} lost {} duplicates {}",
            self.sent, self.expected, self.received, self.lost, self.duplicates
        )?;
        let cpu = |v: Option<f64>| v.map_or("n/a".to_string(), |c| format!("{c:.2} µs/msg"));
        write!(
            f,
            "  cpu         broker {}  bench {}",
            cpu(self.broker_cpu_us_per_msg),
            cpu(self.bench_cpu_us_per_msg)
        )
    }
}

/// What one subscriber saw.
#[derive(Default)]
struct SubStats {
    /// Per publisher: which sequence numbers arrived (one byte per message).
    seen: Vec<Vec<u8>>,
    received: u64,
    duplicates: u64,
}

struct Shared {
    start: Instant,
    window_start: Instant,
    window_end: Instant,
    in_window: AtomicU64,
    hist: std::sync::Mutex<Histogram<u64>>,
}

pub async fn run(o: &Opts) -> anyhow::Result<Report> {
    let addr: SocketAddr = format!("{}:{}", o.host, o.port)
        .parse()
        .context("--host/--port")?;
    let pairs = o.pubs.min(o.subs);
    let (pubs, subs) = match o.topology {
        Topology::Pair => (pairs, pairs),
        Topology::Fanout => (o.pubs, o.subs),
    };
    let start = Instant::now();
    let mut sub_tasks = Vec::new();
    for i in 0..subs {
        let (mut r, mut w) = client::connect(addr, &format!("bench-sub-{i}"), o.version).await?;
        client::subscribe(&mut r, &mut w, &topic(o.topology, i), o.qos).await?;
        sub_tasks.push((r, w));
    }
    let mut pub_conns = Vec::new();
    for i in 0..pubs {
        pub_conns.push(client::connect(addr, &format!("bench-pub-{i}"), o.version).await?);
    }
    // The measured window starts after the warm-up, counted from now.
    let now = Instant::now();
    let shared = Arc::new(Shared {
        start,
        window_start: now + Duration::from_secs(o.warmup),
        window_end: now + Duration::from_secs(o.warmup + o.duration),
        in_window: AtomicU64::new(0),
        hist: std::sync::Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
    });
    let mut sub_handles = Vec::new();
    for (r, w) in sub_tasks {
        sub_handles.push(tokio::spawn(subscriber(r, w, shared.clone(), pubs)));
    }
    let mut pub_handles = Vec::new();
    for (i, (r, w)) in pub_conns.into_iter().enumerate() {
        let o = o.clone();
        let shared = shared.clone();
        pub_handles.push(tokio::spawn(
            async move { publisher(i, r, w, &o, shared).await },
        ));
    }
    // CPU samples at the window's edges.
    tokio::time::sleep_until(shared.window_start.into()).await;
    let b0 = o.broker_pid.and_then(|p| proc_stat::cpu_time(Some(p)));
    let s0 = proc_stat::cpu_time(None);
    tokio::time::sleep_until(shared.window_end.into()).await;
    let b1 = o.broker_pid.and_then(|p| proc_stat::cpu_time(Some(p)));
    let s1 = proc_stat::cpu_time(None);
    let mut sent = 0u64;
    for h in pub_handles {
        sent += h.await??;
    }
    let mut received = 0;
    let mut duplicates = 0;
    let mut unique = 0u64;
    // Subscribers stop by themselves a drain period after the window.
    for h in sub_handles {
        let s = h.await?;
        received += s.received;
        duplicates += s.duplicates;
        unique += s
            .seen
            .iter()
            .map(|v| v.iter().filter(|b| **b > 0).count() as u64)
            .sum::<u64>();
    }
    let per_msg_receivers = match o.topology {
        Topology::Pair => 1,
        Topology::Fanout => subs as u64,
    };
    let expected = sent * per_msg_receivers;
    let delivered = shared.in_window.load(Ordering::Relaxed);
    let hist = shared
        .hist
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock poisoned"))?;
    let per_msg = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) if delivered > 0 => Some((b - a).as_micros() as f64 / delivered as f64),
        _ => None,
    };
    Ok(Report {
        label: o.label.clone(),
        topology: o.topology,
        qos: o.qos,
        version: o.version,
        pubs,
        subs,
        size: o.size,
        rate_per_pub: o.rate,
        duration_s: o.duration,
        sent,
        expected,
        received,
        lost: expected.saturating_sub(unique),
        duplicates,
        delivered_per_s: delivered as f64 / o.duration as f64,
        latency_p50_us: hist.value_at_quantile(0.5),
        latency_p99_us: hist.value_at_quantile(0.99),
        latency_p999_us: hist.value_at_quantile(0.999),
        latency_max_us: hist.max(),
        broker_cpu_us_per_msg: per_msg(b0, b1),
        bench_cpu_us_per_msg: per_msg(s0, s1),
    })
}

fn topic(t: Topology, i: usize) -> String {
    match t {
        Topology::Pair => format!("bench/{i}"),
        Topology::Fanout => "bench/fan".to_string(),
    }
}

fn payload(seq: u64, sent_ns: u64, publisher: u32, size: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(size);
    b.put_u64_le(seq);
    b.put_u64_le(sent_ns);
    b.put_u32_le(publisher);
    b.resize(size, 0);
    b.freeze()
}

async fn subscriber(mut r: Reader, mut w: Writer, shared: Arc<Shared>, pubs: usize) -> SubStats {
    let mut stats = SubStats {
        seen: vec![Vec::new(); pubs],
        ..SubStats::default()
    };
    if let Err(e) = subscriber_loop(&mut r, &mut w, &shared, &mut stats).await {
        eprintln!("subscriber stopped early: {e:#}");
    }
    stats
}

async fn subscriber_loop(
    r: &mut Reader,
    w: &mut Writer,
    shared: &Shared,
    stats: &mut SubStats,
) -> anyhow::Result<()> {
    loop {
        let p = tokio::select! {
            p = r.next() => p?,
            _ = tokio::time::sleep_until((shared.window_end + DRAIN).into()) => return Ok(()),
        };
        match p {
            Packet::Publish(p) => {
                let now = Instant::now();
                if let Some(id) = p.packet_id {
                    match p.qos {
                        holdfast_codec::QoS::AtLeastOnce => w.push(Packet::PublishAck(ack(id)))?,
                        _ => w.push(Packet::PublishReceived(ack(id)))?,
                    }
                    w.flush().await?;
                }
                let b = &p.payload[..];
                if b.len() < HEADER_BYTES {
                    continue;
                }
                let seq = u64::from_le_bytes(b[0..8].try_into()?);
                let sent_ns = u64::from_le_bytes(b[8..16].try_into()?);
                let publisher = u32::from_le_bytes(b[16..20].try_into()?) as usize;
                stats.received += 1;
                if let Some(seen) = stats.seen.get_mut(publisher) {
                    let i = usize::try_from(seq)?;
                    if seen.len() <= i {
                        seen.resize(i + 1, 0);
                    }
                    if seen[i] > 0 {
                        stats.duplicates += 1;
                    }
                    seen[i] = 1;
                }
                if now >= shared.window_start && now < shared.window_end {
                    shared.in_window.fetch_add(1, Ordering::Relaxed);
                    let lat_us = (now - shared.start)
                        .as_nanos()
                        .saturating_sub(u128::from(sent_ns))
                        / 1000;
                    if let Ok(mut h) = shared.hist.lock() {
                        let _ = h.record(u64::try_from(lat_us)?.max(1));
                    }
                }
            }
            Packet::PublishRelease(a) => {
                w.push(Packet::PublishComplete(ack2(a.packet_id)))?;
                w.flush().await?;
            }
            _ => {}
        }
    }
}

fn ack(packet_id: NonZeroU16) -> PublishAck {
    PublishAck {
        packet_id,
        reason_code: PublishAckReason::Success,
        properties: Vec::new(),
        reason_string: None,
    }
}

fn ack2(packet_id: NonZeroU16) -> PublishAck2 {
    PublishAck2 {
        packet_id,
        reason_code: PublishAck2Reason::Success,
        properties: Vec::new(),
        reason_string: None,
    }
}

/// Publish until the window ends; returns how many messages were sent (and acknowledged, for
/// QoS 1/2).
async fn publisher(
    i: usize,
    mut r: Reader,
    w: Writer,
    o: &Opts,
    shared: Arc<Shared>,
) -> anyhow::Result<u64> {
    let q = client::qos(o.qos);
    let permits = Arc::new(Semaphore::new(if o.qos == 0 { 0 } else { o.inflight }));
    let w = Arc::new(Mutex::new(w));
    // Acknowledgements free window slots (and QoS 2 needs PUBREL from us).
    let acks = {
        let permits = permits.clone();
        let w = w.clone();
        tokio::spawn(async move {
            while let Ok(p) = r.next().await {
                match p {
                    Packet::PublishAck(_) | Packet::PublishComplete(_) => permits.add_permits(1),
                    Packet::PublishReceived(a) => {
                        let mut w = w.lock().await;
                        if w.push(Packet::PublishRelease(ack2(a.packet_id))).is_err()
                            || w.flush().await.is_err()
                        {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        })
    };
    let topic: bytestring::ByteString = topic(o.topology, i).into();
    let mut seq = 0u64;
    let mut pid: u16 = 0;
    let interval = (o.rate > 0).then(|| Duration::from_nanos(1_000_000_000 / o.rate));
    let mut next_at = Instant::now();
    while Instant::now() < shared.window_end {
        let batch = if interval.is_some() { 1 } else { BATCH };
        let mut guard = w.lock().await;
        for _ in 0..batch {
            let packet_id = if o.qos == 0 {
                None
            } else {
                match permits.try_acquire() {
                    Ok(p) => p.forget(),
                    Err(_) => {
                        // Window full: send what is buffered, then wait for an ack.
                        guard.flush().await?;
                        drop(guard);
                        permits.acquire().await?.forget();
                        guard = w.lock().await;
                    }
                }
                pid = pid.checked_add(1).unwrap_or(1);
                NonZeroU16::new(pid)
            };
            let sent_ns = u64::try_from(shared.start.elapsed().as_nanos())?;
            guard.push(Packet::Publish(Box::new(Publish {
                dup: false,
                retain: false,
                qos: q,
                topic: topic.clone(),
                packet_id,
                payload: payload(seq, sent_ns, u32::try_from(i)?, o.size),
                properties: None,
            })))?;
            seq += 1;
        }
        guard.flush().await?;
        drop(guard);
        if let Some(iv) = interval {
            next_at += iv;
            tokio::time::sleep_until(next_at.into()).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    if o.qos > 0 {
        // Wait (bounded) for the last acknowledgements.
        let _ = tokio::time::timeout(DRAIN, permits.acquire_many(u32::try_from(o.inflight)?)).await;
    }
    acks.abort();
    Ok(seq)
}
