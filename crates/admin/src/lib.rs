//! The admin HTTP API of a Holdfast node: axum on `admin.bind` (127.0.0.1:18083 by default),
//! with the endpoints under `/api/v1`, an OpenAPI document at `/api/v1/openapi.json` and
//! Prometheus metrics at `/metrics`.
//!
//! It sits between `server` (whose [`Broker`] it reads and changes) and the `holdfast`
//! binary (which starts it beside the MQTT listeners and whose `ctl` command is its client).
//! Every write is a batch of store `Command`s handed to [`Broker::apply_admin`], which
//! commits it and then updates the broker's in-memory tables, so a change takes effect at
//! once and survives a restart. Requests are authenticated by API key ([`auth`]); a node with
//! no key gets a bootstrap admin key in `<data_dir>/admin.key` ([`bootstrap`]).
//!
//! - [`api`]: one module per resource, and the router; `api::data` is backup and restore
//!   (export, archive files, import, snapshot) on top of `holdfast-backup`.
//! - [`snapshot`]: the node-bound hot snapshot's layout, writer and checker.
//! - [`jobs`]: long data operations run as jobs whose progress the API reports.
//! - [`openapi`]: the utoipa document.
//! - [`error`]: `{"error": ...}` answers, and start-up errors.

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod data_stats;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod keys;
pub mod leftovers;
pub mod openapi;
pub mod snapshot;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdfast_server::Broker;
use holdfast_server::time::now_ms;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::{AdminError, ApiError};
pub use state::NodeInfo;

/// How long shutdown waits for requests in progress.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// The admin listener, bound but not yet serving (bind before the broker starts, so that a
/// busy port stops the node before anything else runs).
#[derive(Debug)]
pub struct AdminListener {
    listener: TcpListener,
    addr: SocketAddr,
}

/// Bind the admin listener.
pub async fn bind(addr: SocketAddr) -> Result<AdminListener, AdminError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| AdminError::Bind { addr, source })?;
    Ok(AdminListener { listener, addr })
}

impl AdminListener {
    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// What the server needs besides the broker.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    pub node: NodeInfo,
    /// `/metrics` answers without a key.
    pub metrics_public: bool,
}

/// A serving admin API.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Serve the API on `listener` until [`AdminServer::shutdown`].
pub fn serve(listener: AdminListener, broker: Arc<Broker>, opts: AdminOptions) -> AdminServer {
    let st = state::AppState {
        broker,
        node: Arc::new(opts.node),
        admin_addr: listener.addr,
        keys: Arc::default(),
        writes: Arc::default(),
        jobs: Arc::default(),
        data_stats: Arc::default(),
        started: Instant::now(),
        started_at_ms: now_ms(),
        metrics_public: opts.metrics_public,
    };
    let app = api::router(st);
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener.listener, app)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "admin API server failed");
        }
    });
    AdminServer {
        addr: listener.addr,
        stop,
        task,
    }
}

impl AdminServer {
    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, and wait (at most [`SHUTDOWN_WAIT`]) for requests in progress.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_WAIT, &mut task)
            .await
            .is_err()
        {
            tracing::warn!("admin API requests did not finish within 5 s; dropping them");
            task.abort();
        }
    }
}
