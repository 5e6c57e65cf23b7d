//! `$SYS/broker/...`: broker statistics published as retained messages every
//! `mqtt.sys_interval_secs`. They are not written to the store (they are rebuilt each start).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use holdfast_codec::QoS;
use holdfast_core::Message;

use crate::Broker;

/// Publish the statistics until shutdown.
pub async fn run(broker: Arc<Broker>) {
    let secs = broker.config.mqtt.sys_interval_secs;
    if secs == 0 {
        return;
    }
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = tick.tick() => publish_stats(&broker, started),
        }
    }
}

fn publish_stats(broker: &Broker, started: Instant) {
    let s = &broker.stats;
    let stats: [(&str, String); 10] = [
        ("version", format!("holdfast {}", env!("CARGO_PKG_VERSION"))),
        ("uptime", format!("{} seconds", started.elapsed().as_secs())),
        (
            "clients/connected",
            s.connected.load(Ordering::Relaxed).to_string(),
        ),
        ("clients/total", broker.session_count().to_string()),
        (
            "messages/received",
            s.messages_received.load(Ordering::Relaxed).to_string(),
        ),
        (
            "messages/sent",
            s.messages_sent.load(Ordering::Relaxed).to_string(),
        ),
        (
            "messages/dropped",
            s.messages_dropped.load(Ordering::Relaxed).to_string(),
        ),
        (
            "subscriptions/count",
            broker.subscription_count().to_string(),
        ),
        (
            "retained messages/count",
            broker.retained_count().to_string(),
        ),
        (
            "bytes/received",
            s.bytes_received.load(Ordering::Relaxed).to_string(),
        ),
    ];
    for (name, value) in stats {
        let msg = Message {
            topic: format!("$SYS/broker/{name}").into(),
            payload: Bytes::from(value),
            qos: QoS::AtMostOnce,
            retain: true,
            props: Default::default(),
            expires_at_ms: None,
        };
        // Routed like any message but never stored: `$SYS` state is rebuilt at start.
        broker.publish_sys(Arc::new(msg));
    }
}
