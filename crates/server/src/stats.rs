//! Broker counters, published under `$SYS/broker/` and (later) as Prometheus metrics.

use std::sync::atomic::AtomicU64;

/// Counters shared by every connection.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections currently attached to a session.
    pub connected: AtomicU64,
    /// PUBLISH packets received (including wills and `$SYS`).
    pub messages_received: AtomicU64,
    /// PUBLISH packets sent to clients.
    pub messages_sent: AtomicU64,
    /// Deliveries dropped because a session queue was full.
    pub messages_dropped: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
}
