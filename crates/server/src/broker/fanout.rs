//! [`Fanout`]: what routing one message produced, and how it is submitted; `$SYS` publishing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use holdfast_core::Message;
use holdfast_store::{Command, CommandLog};

use super::{Broker, Slot};

impl Broker {
    /// Route a `$SYS` message: retained in memory and delivered, never stored.
    pub fn publish_sys(&self, msg: Arc<Message>) {
        let mut fanout = self.publish(msg, None);
        // The retained copy of a `$SYS` topic is kept in memory only.
        fanout
            .commands
            .retain(|c| !matches!(c, Command::PutRetained { .. }));
        fanout.submit_detached(&*self.log);
        self.stats.messages_received.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What routing one message produced: store writes, and sessions to wake.
#[derive(Debug, Default)]
#[must_use = "a fanout must be submitted, or its subscribers are never woken"]
pub struct Fanout {
    pub commands: Vec<Command>,
    pub(super) wake: Vec<Arc<Slot>>,
    /// Sessions the message matched.
    pub matched: usize,
    /// How to put the retained index back if the commit fails.
    pub(super) retained_undo: Option<RetainedUndo>,
}

/// A retained topic's message before and after one PUBLISH changed it.
#[derive(Debug)]
pub struct RetainedUndo {
    pub(super) topic: String,
    pub(super) before: Option<Arc<Message>>,
    pub(super) after: Option<Arc<Message>>,
}

impl Fanout {
    /// A fanout that starts with some writes of its own.
    pub fn with_commands(commands: Vec<Command>) -> Fanout {
        Fanout {
            commands,
            wake: Vec::new(),
            matched: 0,
            retained_undo: None,
        }
    }

    /// What to undo in the retained index if this fanout's commit fails.
    pub fn take_retained_undo(&mut self) -> Option<RetainedUndo> {
        self.retained_undo.take()
    }

    /// Submit the writes, then wake the subscribers. In this order, so that a subscriber's
    /// own later writes for a delivery (`Dequeue`, `PutInflightOut`) always reach the writer
    /// after the delivery's `Enqueue`. Returns the commit ticket, if there was anything to write.
    pub fn submit(self, store: &dyn CommandLog) -> Option<holdfast_store::CommitTicket> {
        let ticket = (!self.commands.is_empty()).then(|| store.submit(self.commands));
        for slot in self.wake {
            slot.notify.notify_one();
        }
        ticket
    }

    /// Submit without waiting for the commit.
    pub fn submit_detached(self, store: &dyn CommandLog) {
        if !self.commands.is_empty() {
            store.submit_detached(self.commands);
        }
        for slot in self.wake {
            slot.notify.notify_one();
        }
    }
}
