//! The broker process: tokio runtime pieces around `core` and `store`.
//!
//! - [`config`]: the typed configuration.
//! - [`Broker`](broker::Broker): shared state and cross-session operations.
//! - `connection`: one task per client connection.
//! - `listener`: TCP, TLS and WebSocket accept loops.
//! - [`auth`]: users, ACL rules, bans and API keys from the built-in tables.
//! - `sys`: `$SYS/broker/...` statistics.
//! - [`health`]: starting, ready, shutting down, store writable.
//! - [`start`] binds every listener and returns a [`Running`] broker ([`prepare`] and
//!   [`Prepared::serve`] split it so the admin API comes up in between); [`Running::shutdown`]
//!   stops accepting, tells clients, waits for their tasks and flushes the store.

pub mod auth;
pub mod broker;
pub mod config;
mod connection;
pub mod health;
mod listener;
pub mod stats;
mod sys;
pub mod time;
mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use broker::Broker;
use holdfast_store::Store;
use tokio_util::task::TaskTracker;

use crate::config::BrokerConfig;

/// Starting or running the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} ({name} listener): {source}")]
    Bind {
        name: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS listener: {0}")]
    Tls(String),
    #[error(transparent)]
    Store(#[from] holdfast_store::StoreError),
}

/// A started broker.
#[derive(Debug)]
pub struct Running {
    pub broker: Arc<Broker>,
    /// The bound addresses, by listener name.
    pub addrs: Vec<(&'static str, SocketAddr)>,
    tracker: TaskTracker,
}

/// Load state from `store`, bind every listener and start serving.
pub async fn start(config: BrokerConfig, store: Store) -> Result<Running, ServerError> {
    Ok(prepare(config, store).await?.serve())
}

/// A broker whose listeners are bound (so their addresses are known and a busy port fails
/// here) but do not accept yet: a TCP connect to them is refused until [`Prepared::serve`].
/// The admin API and its bootstrap key come up in between.
pub struct Prepared {
    pub broker: Arc<Broker>,
    /// The bound addresses, by listener name.
    pub addrs: Vec<(&'static str, SocketAddr)>,
    sockets: Vec<(&'static str, tokio::net::TcpSocket, listener::Kind)>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

/// Load state from `store` and bind (without listening) every configured listener.
pub async fn prepare(config: BrokerConfig, store: Store) -> Result<Prepared, ServerError> {
    let loaded = store.load()?;
    let mut bound = Vec::new();
    let l = &config.listeners;
    if l.tcp.enabled {
        bound.push((
            "tcp",
            listener::bind("tcp", l.tcp.bind)?,
            listener::Kind::Tcp,
        ));
    }
    if let Some(tls) = &l.tls {
        let acceptor = listener::tls_acceptor(tls)?;
        bound.push((
            "tls",
            listener::bind("tls", tls.bind)?,
            listener::Kind::Tls(acceptor),
        ));
    }
    if let Some(ws) = &l.ws {
        bound.push(("ws", listener::bind("ws", ws.bind)?, listener::ws_kind(ws)));
    }
    let mut addrs = Vec::new();
    for (name, sock, _) in &bound {
        let addr = sock.local_addr().map_err(|source| ServerError::Bind {
            name,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        addrs.push((*name, addr));
    }
    let broker = Broker::new(config, store, loaded);
    Ok(Prepared {
        broker,
        addrs,
        sockets: bound,
    })
}

/// Submit every batch of a recorded command stream (`docs/formats/commands.md`, "Recorded
/// streams") through the broker's write seam as [`holdfast_store::Origin::Log`] entries, in
/// order, waiting for each: the views are built only by applying the committed batches, as a
/// follower builds them. Returns the number of batches.
pub async fn replay_commands(broker: &Broker, path: &std::path::Path) -> Result<u64, ServerError> {
    // Read at start-up, before any client is served: blocking is harmless here.
    let bytes = std::fs::read(path)
        .map_err(|e| holdfast_store::StoreError::Engine(format!("{}: {e}", path.display())))?;
    let mut rest = bytes.as_slice();
    let mut batches = 0u64;
    while !rest.is_empty() {
        let corrupt = |why: String| {
            holdfast_store::StoreError::Engine(format!(
                "{}: batch {}: {why}",
                path.display(),
                batches + 1
            ))
        };
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("truncated length".into()))?;
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len {
            return Err(corrupt(format!(
                "truncated: {len} bytes announced, {} left",
                tail.len()
            ))
            .into());
        }
        let batch =
            holdfast_store::wire::decode_batch(&tail[..len]).map_err(|e| corrupt(e.to_string()))?;
        rest = &tail[len..];
        broker.log().submit_from_log(batch).wait().await?;
        batches += 1;
    }
    Ok(batches)
}

impl Prepared {
    /// Listen on every bound socket, start the timers and the accept loops; the node is
    /// ready once this returns.
    pub fn serve(self) -> Running {
        let broker = self.broker;
        broker.start_restored_timers();
        let tracker = TaskTracker::new();
        let mut addrs = Vec::new();
        for ((name, sock, kind), (_, addr)) in self.sockets.into_iter().zip(self.addrs) {
            let sock = match sock.listen(listener::BACKLOG) {
                Ok(s) => s,
                Err(e) => {
                    // The port was bound a moment ago; listen(2) failing is an OS limit.
                    tracing::error!(listener = name, %addr, error = %e, "cannot listen");
                    continue;
                }
            };
            tracing::info!(listener = name, %addr, "listening");
            addrs.push((name, addr));
            tokio::spawn(listener::accept_loop(
                broker.clone(),
                sock,
                kind,
                tracker.clone(),
            ));
        }
        tokio::spawn(sys::run(broker.clone()));
        broker.health.set_ready();
        Running {
            broker,
            addrs,
            tracker,
        }
    }
}

impl Running {
    /// Stop accepting, disconnect clients, wait for them (bounded) and flush the store.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.broker.health.set_shutting_down();
        self.broker.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 10 s");
        }
        let broker = self.broker.clone();
        tokio::task::spawn_blocking(move || broker.close_store())
            .await
            .map_err(|e| holdfast_store::StoreError::Engine(e.to_string()))??;
        Ok(())
    }
}
