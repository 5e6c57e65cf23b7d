//! The broker's typed configuration. `holdfast` resolves it (file, environment, defaults);
//! every key, default and limit is listed in `docs/config.md`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything the server needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    pub node: NodeConfig,
    pub listeners: ListenersConfig,
    pub mqtt: MqttConfig,
    pub store: StoreConfig,
    pub acl: AclConfig,
    pub admin: AdminConfig,
}

/// `[node]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Where the store and node identity live. Resolved by `holdfast` when unset.
    pub data_dir: Option<PathBuf>,
}

/// `[listeners]`: one TCP listener always, TLS and WebSocket when configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenersConfig {
    pub tcp: TcpListenerConfig,
    pub tls: Option<TlsListenerConfig>,
    pub ws: Option<WsListenerConfig>,
}

/// `[listeners.tcp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcpListenerConfig {
    pub bind: SocketAddr,
    pub enabled: bool,
}

impl Default for TcpListenerConfig {
    fn default() -> Self {
        TcpListenerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 1883)),
            enabled: true,
        }
    }
}

/// `[listeners.tls]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsListenerConfig {
    pub bind: SocketAddr,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[listeners.ws]`: MQTT over WebSocket at `path`, subprotocol `mqtt`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsListenerConfig {
    pub bind: SocketAddr,
    #[serde(default = "default_ws_path")]
    pub path: String,
}

fn default_ws_path() -> String {
    "/mqtt".into()
}

/// `[mqtt]`: protocol limits and defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Largest packet accepted from a client (bytes); advertised as Maximum Packet Size.
    pub packet_bytes_max: u32,
    /// Largest keep-alive a client may use; a v5 client asking more gets Server Keep Alive.
    pub keepalive_secs_max: u16,
    /// Receive Maximum advertised: QoS 1/2 PUBLISHes a client may have unacknowledged
    /// (0: not advertised, 65,535). At the limit, QoS 1 PUBLISHes are back-pressured (the
    /// connection is not read until acknowledgements drain); QoS 2 beyond it is refused.
    pub receive_maximum: u16,
    /// Disconnect (0x93) a client whose unacknowledged QoS 1 and 2 PUBLISHes together exceed
    /// Receive Maximum, instead of back-pressuring QoS 1.
    pub receive_maximum_strict: bool,
    /// Topic Alias Maximum advertised to clients (aliases they may use toward the broker).
    pub topic_aliases_max: u16,
    /// Most levels a topic name or filter may have in PUBLISH, SUBSCRIBE and a will.
    #[serde(deserialize_with = "topic_levels_max")]
    pub topic_levels_max: u16,
    /// Deliveries that may wait per session; later ones are dropped (and counted).
    pub queued_messages_max: usize,
    /// Longest Session Expiry Interval granted (seconds); `u32::MAX`: no limit.
    pub session_expiry_secs_max: u32,
    /// Longest time to wait for CONNECT after a connection opens.
    pub connect_timeout_secs: u64,
    /// Interval of the `$SYS/broker/...` statistics; 0 turns them off.
    pub sys_interval_secs: u64,
    /// Allow clients without a username. Unset: allowed only while every listener binds a
    /// loopback address (the zero-config case), as Mosquitto 2 does.
    pub allow_anonymous: Option<bool>,
}

impl MqttConfig {
    /// Receive Maximum in force (the spec's 65,535 when none is advertised).
    pub fn receive_maximum_effective(&self) -> usize {
        match self.receive_maximum {
            0 => usize::from(u16::MAX),
            n => usize::from(n),
        }
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            packet_bytes_max: 1024 * 1024,
            keepalive_secs_max: u16::MAX,
            receive_maximum: 32,
            receive_maximum_strict: false,
            topic_aliases_max: 64,
            topic_levels_max: 128,
            queued_messages_max: 10_000,
            session_expiry_secs_max: u32::MAX,
            connect_timeout_secs: 10,
            sys_interval_secs: 10,
            allow_anonymous: None,
        }
    }
}

fn topic_levels_max<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let v = u16::deserialize(d)?;
    if v == 0 {
        return Err(serde::de::Error::custom(
            "mqtt.topic_levels_max must be 1 to 65535, not 0",
        ));
    }
    Ok(v)
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sync`: fsync every group commit before acknowledging (default);
    /// `periodic`: fsync every `flush_interval_ms`.
    pub durability: DurabilityMode,
    pub flush_interval_ms: u64,
    /// MiB of memory the storage engine may keep for cached and dirty pages
    /// (`STORE_CACHE_MB_RANGE`).
    #[serde(deserialize_with = "cache_mb")]
    pub cache_mb: u32,
}

/// The allowed values of `store.cache_mb`.
pub const STORE_CACHE_MB_RANGE: std::ops::RangeInclusive<u32> = 1..=65_536;

fn cache_mb<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if STORE_CACHE_MB_RANGE.contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "store.cache_mb must be {} to {} (MiB), not {v}",
            STORE_CACHE_MB_RANGE.start(),
            STORE_CACHE_MB_RANGE.end()
        )))
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            durability: DurabilityMode::Sync,
            flush_interval_ms: 1000,
            cache_mb: (holdfast_store::DEFAULT_CACHE_BYTES >> 20) as u32,
        }
    }
}

/// See [`StoreConfig::durability`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityMode {
    Sync,
    Periodic,
}

/// `[acl]`: static rules from the config file, checked in order before the `acl` table; the
/// first match decides.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AclConfig {
    pub rules: Vec<AclRule>,
    /// Decision when no rule matches. Unset: the `acl.default` cluster config value, else allow.
    pub default: Option<Permission>,
}

/// One `[[acl.rules]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    pub permission: Permission,
    pub action: AclAction,
    /// Topic filter the rule covers (matched against the subscribed filter or published topic).
    pub topic: String,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Allow,
    Deny,
}

/// What a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclAction {
    Publish,
    Subscribe,
    All,
}

/// `[admin]`: the admin HTTP API (`/api/v1`, `/metrics`), served by `holdfast-admin`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the admin API at all.
    pub enabled: bool,
    /// Address of the admin HTTP listener (loopback by default: it manages credentials).
    pub bind: SocketAddr,
    /// `/metrics` answers without an API key (for Prometheus scrapers).
    pub metrics_public: bool,
    /// Largest backup archive accepted by `POST /api/v1/data/files` (upload), in bytes.
    pub upload_bytes_max: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 18083)),
            metrics_public: true,
            upload_bytes_max: 4 << 30,
        }
    }
}
