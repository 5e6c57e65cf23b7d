//! The broker core: everything about MQTT semantics that needs no I/O.
//!
//! - [`topic`]: topic name and filter validation, matching, `$share/` parsing.
//! - [`trie`]: the subscription trie that routes a topic to its subscribers.
//! - [`retained`]: the retained-message index served to new subscriptions.
//! - [`session`]: one client's session state: subscriptions, the outgoing queue, in-flight
//!   QoS 1/2 messages and packet identifiers.
//! - [`message`]: the application message as it travels through the broker.
//!
//! `server` owns the sockets and the store and drives these types; nothing here touches
//! tokio, files or the clock (callers pass `now`).

pub mod ids;
pub mod message;
pub mod retained;
pub mod session;
pub mod topic;
pub mod trie;

pub use ids::ClientId;
pub use message::{Delivery, Message, MessageProps};
pub use session::{Inflight, InflightState, Outgoing, SessionState, SubOptions};
