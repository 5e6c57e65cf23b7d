//! [`AppState`]: what every handler shares.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use holdfast_server::Broker;

use crate::auth::KeyCache;
use crate::data_stats::DataStats;
use crate::jobs::Jobs;

/// Facts about this node that the broker itself does not hold.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node id kept in the data dir (32 hex digits).
    pub id: String,
    /// The node name (`holdfast@<hostname at first start>` by default).
    pub name: String,
    /// The MQTT listeners, by name (`tcp`, `tls`, `ws`), as bound.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The data dir: backups go to its `backup/` dir, the identity is its `node.toml`.
    pub data_dir: PathBuf,
    /// The node's config file, if it was started with one (exported with the data, restored
    /// by an import only when asked).
    pub config_file: Option<PathBuf>,
}

/// Shared by every request handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub broker: Arc<Broker>,
    pub node: Arc<NodeInfo>,
    /// The admin listener's bound address.
    pub admin_addr: SocketAddr,
    /// Recently verified API keys.
    pub keys: Arc<KeyCache>,
    /// Held across each write's check-then-apply (duplicate user check, next ACL id), so
    /// that two concurrent requests cannot both pass the check.
    pub writes: Arc<tokio::sync::Mutex<()>>,
    /// Data jobs (export, import, snapshot run with `?async=true`), running and recent.
    pub jobs: Arc<Jobs>,
    /// What the data jobs did since the node started, for `/metrics`.
    pub data_stats: Arc<DataStats>,
    /// When the node started serving, for uptime.
    pub started: Instant,
    /// The same, Unix milliseconds.
    pub started_at_ms: u64,
    /// `/metrics` answers without a key.
    pub metrics_public: bool,
}
