//! How a connection is told to end: [`Kick`], sent once through a [`KickSender`].

use parking_lot::Mutex;

/// Why a connection is told to go away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// Another connection took over the session (v5 reason 0x8E).
    TakenOver,
    /// An operator closed it (v5 reason 0x98).
    Administrative,
}

/// The one-time signal that ends a connection (taken over, kicked by an operator, banned,
/// replaced by an import). A oneshot, not a channel: each connection holds one, and 10 000
/// idle connections should cost little.
#[derive(Debug)]
pub struct KickSender(Mutex<Option<tokio::sync::oneshot::Sender<Kick>>>);

impl KickSender {
    /// A sender and the receiver its connection waits on.
    pub fn pair() -> (KickSender, tokio::sync::oneshot::Receiver<Kick>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (KickSender(Mutex::new(Some(tx))), rx)
    }

    /// Ask the connection to end; false when it has ended already (or was asked before).
    pub fn send(&self, kick: Kick) -> bool {
        self.0.lock().take().is_some_and(|tx| tx.send(kick).is_ok())
    }
}
