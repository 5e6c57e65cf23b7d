//! Whether this node is ready to serve, for `GET /api/v1/health` and supervisors.
//!
//! A node is *starting* from the moment the broker exists until every MQTT listener accepts
//! (the admin API and its bootstrap key come first), *ready* while it serves, and
//! *shutting down* from the first signal. Independently of the phase, a store that cannot
//! write makes the node unready until it can again.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const STARTING: u8 = 0;
const READY: u8 = 1;
const SHUTTING_DOWN: u8 = 2;

/// The node's readiness, shared by the listeners, the store writer and the admin API.
#[derive(Debug)]
pub struct Health {
    phase: AtomicU8,
    store_writable: AtomicBool,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            phase: AtomicU8::new(STARTING),
            store_writable: AtomicBool::new(true),
        }
    }
}

/// Why the node is not ready, or that it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Starting,
    ShuttingDown,
    StoreUnwritable,
}

impl Readiness {
    /// A short machine-readable word (`ready`, `starting`, `shutting_down`, `store_unwritable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::Starting => "starting",
            Readiness::ShuttingDown => "shutting_down",
            Readiness::StoreUnwritable => "store_unwritable",
        }
    }

    /// A sentence for operators.
    pub fn reason(self) -> &'static str {
        match self {
            Readiness::Ready => "the node is serving",
            Readiness::Starting => "the node is starting: its MQTT listeners do not accept yet",
            Readiness::ShuttingDown => "the node is shutting down",
            Readiness::StoreUnwritable => {
                "the store cannot write (see the log; durable writes are refused until it can)"
            }
        }
    }
}

impl Health {
    /// The current readiness (shutting down wins over an unwritable store, which wins over
    /// starting).
    pub fn readiness(&self) -> Readiness {
        match self.phase.load(Ordering::Acquire) {
            SHUTTING_DOWN => Readiness::ShuttingDown,
            _ if !self.store_writable.load(Ordering::Acquire) => Readiness::StoreUnwritable,
            READY => Readiness::Ready,
            _ => Readiness::Starting,
        }
    }

    /// Every listener accepts.
    pub fn set_ready(&self) {
        // Never back from shutting down.
        let _ = self
            .phase
            .compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Shutdown began.
    pub fn set_shutting_down(&self) {
        self.phase.store(SHUTTING_DOWN, Ordering::Release);
    }

    /// Whether the store accepts writes now.
    pub fn store_writable(&self) -> bool {
        self.store_writable.load(Ordering::Acquire)
    }

    /// Record whether the store accepts writes; returns the previous value.
    pub fn set_store_writable(&self, writable: bool) -> bool {
        self.store_writable.swap(writable, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_store_state_combine() {
        let h = Health::default();
        assert_eq!(h.readiness(), Readiness::Starting);
        h.set_ready();
        assert_eq!(h.readiness(), Readiness::Ready);
        assert!(h.set_store_writable(false));
        assert_eq!(h.readiness(), Readiness::StoreUnwritable);
        h.set_store_writable(true);
        assert_eq!(h.readiness(), Readiness::Ready);
        h.set_shutting_down();
        h.set_ready();
        assert_eq!(h.readiness(), Readiness::ShuttingDown);
    }
}
