//! The broker process: tokio runtime pieces around `core` and `store`.
//!
//! - [`config`]: the typed configuration.
//! - [`Broker`](broker::Broker): shared state and cross-session operations.
//! - `connection`: one task per client connection.
//! - `listener`: TCP, TLS and WebSocket accept loops.
//! - [`auth`]: users, ACL rules, bans and API keys from the built-in tables.
//! - `sys`: `$SYS/broker/...` statistics.
//! - [`start`] binds every listener and returns a [`Running`] broker; [`Running::shutdown`]
//!   stops accepting, tells clients, waits for their tasks and flushes the store.

pub mod auth;
pub mod broker;
pub mod config;
mod connection;
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
    let loaded = store.load()?;
    let mut bound = Vec::new();
    let l = &config.listeners;
    if l.tcp.enabled {
        bound.push((
            "tcp",
            listener::bind("tcp", l.tcp.bind).await?,
            listener::Kind::Tcp,
        ));
    }
    if let Some(tls) = &l.tls {
        let acceptor = listener::tls_acceptor(tls)?;
        bound.push((
            "tls",
            listener::bind("tls", tls.bind).await?,
            listener::Kind::Tls(acceptor),
        ));
    }
    if let Some(ws) = &l.ws {
        bound.push((
            "ws",
            listener::bind("ws", ws.bind).await?,
            listener::ws_kind(ws),
        ));
    }
    let broker = Broker::new(config, store, loaded);
    broker.start_restored_timers();
    let tracker = TaskTracker::new();
    let mut addrs = Vec::new();
    for (name, sock, kind) in bound {
        let addr = sock.local_addr().map_err(|source| ServerError::Bind {
            name,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
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
    Ok(Running {
        broker,
        addrs,
        tracker,
    })
}

impl Running {
    /// Stop accepting, disconnect clients, wait for them (bounded) and flush the store.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.broker.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 10 s");
        }
        let store = self.broker.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| holdfast_store::StoreError::Engine(e.to_string()))??;
        Ok(())
    }
}
