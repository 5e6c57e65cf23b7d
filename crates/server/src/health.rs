//! Whether this node is ready to serve, for `GET /api/v1/health` and supervisors.
//!
//! A node is *starting* from the moment the broker exists until every MQTT listener accepts
//! (the admin API and its bootstrap key come first), *ready* while it serves, and
//! *shutting down* from the first signal. Independently of the phase, a store that cannot
//! write (`Store::writable`) makes the node unready until it can again.

use std::sync::atomic::{AtomicU8, Ordering};

const STARTING: u8 = 0;
const READY: u8 = 1;
const SHUTTING_DOWN: u8 = 2;

/// The node's readiness, shared by the listeners, the store writer and the admin API.
#[derive(Debug)]
pub struct Health {
    phase: AtomicU8,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            phase: AtomicU8::new(STARTING),
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
    /// The current readiness, given whether the store writes (shutting down wins over an
    /// unwritable store, which wins over starting).
    pub fn readiness(&self, store_writable: bool) -> Readiness {
        match self.phase.load(Ordering::Acquire) {
            SHUTTING_DOWN => Readiness::ShuttingDown,
            _ if !store_writable => Readiness::StoreUnwritable,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_store_state_combine() {
        let h = Health::default();
        assert_eq!(h.readiness(true), Readiness::Starting);
        h.set_ready();
        assert_eq!(h.readiness(true), Readiness::Ready);
        assert_eq!(h.readiness(false), Readiness::StoreUnwritable);
        h.set_shutting_down();
        h.set_ready();
        assert_eq!(h.readiness(false), Readiness::ShuttingDown);
    }
}
