//! `--idle N`: open N idle connections and report the broker's resident memory.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::{Opts, client, proc_stat};

/// The result of an idle-connections run.
#[derive(Debug, serde::Serialize)]
pub struct IdleReport {
    pub label: String,
    pub connections: usize,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
}

impl std::fmt::Display for IdleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kib =
            |v: Option<u64>| v.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        write!(
            f,
            "{} {} idle connections: broker RSS {} before, {} with them",
            self.label,
            self.connections,
            kib(self.rss_before_kib),
            kib(self.rss_after_kib)
        )
    }
}

pub async fn run(o: &Opts, n: usize) -> anyhow::Result<IdleReport> {
    let addr: SocketAddr = format!("{}:{}", o.host, o.port)
        .parse()
        .context("--host/--port")?;
    let before = o.broker_pid.and_then(proc_stat::rss_kib);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let c = client::connect(addr, &format!("bench-idle-{i}"), o.version)
            .await
            .with_context(|| format!("idle connection {i}"))?;
        conns.push(c);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = o.broker_pid.and_then(proc_stat::rss_kib);
    drop(conns);
    Ok(IdleReport {
        label: o.label.clone(),
        connections: n,
        rss_before_kib: before,
        rss_after_kib: after,
    })
}
