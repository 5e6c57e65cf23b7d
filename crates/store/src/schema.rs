//! Table definitions. Every table is documented in `docs/formats/store.md`; a change to a
//! table's key or record layout bumps [`SCHEMA_VERSION`] or the record's own version byte.

use redb::TableDefinition;

/// Version of the table layout as a whole, kept in `meta` under `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// Store-wide facts: `schema_version` (u32 LE), `created_at_ms` (u64 LE),
/// [`LAST_BATCH_SEQ`] (u64 LE).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// `meta` key: how many batches the store has committed, ever (u64 LE; absent = 0). Every
/// commit of the writer adds the number of batches in it, in the same write transaction, so a
/// read snapshot's value names exactly the cut it sees. Backup archives record it as their
/// cut; in a cluster the Raft log index takes its place.
pub const LAST_BATCH_SEQ: &str = "last_batch_seq";
/// Runtime-changeable settings: key → UTF-8 TOML value.
pub const CLUSTER_CONFIG: TableDefinition<&str, &[u8]> = TableDefinition::new("cluster_config");
/// Retained messages: topic → `RetainedRecord`.
pub const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
/// Persistent sessions: client id → `SessionRecord`.
pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// Subscriptions: (client id, filter as written) → `SubscriptionRecord`.
pub const SUBSCRIPTIONS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("subscriptions");
/// Queued deliveries: (client id, seq) → `DeliveryRecord`.
pub const QUEUED: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queued");
/// In-flight QoS 1/2 state: (client id, direction, packet id) → `InflightRecord`.
/// Direction 0 is broker→client (a `DeliveryRecord` plus state), 1 is client→broker
/// (a QoS 2 packet id awaiting PUBREL; the record is empty).
pub const INFLIGHT: TableDefinition<(&str, u8, u16), &[u8]> = TableDefinition::new("inflight");

/// Users: username → `UserRecord` (password hash only).
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// ACL rules: rule id (order of evaluation) → `AclRecord`.
pub const ACL: TableDefinition<u64, &[u8]> = TableDefinition::new("acl");
/// Banned clients: (kind, value) → `BannedRecord`. Kind 0: client id, 1: username,
/// 2: peer address (IP).
pub const BANNED: TableDefinition<(u8, &str), &[u8]> = TableDefinition::new("banned");
/// Admin API keys: key id → `ApiKeyRecord` (secret hash only).
pub const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");

/// Names of every table, in export order.
pub const TABLE_NAMES: &[&str] = &[
    "meta",
    "cluster_config",
    "users",
    "acl",
    "banned",
    "api_keys",
    "retained",
    "sessions",
    "subscriptions",
    "queued",
    "inflight",
];

/// `inflight` direction: broker → client.
pub const DIR_OUT: u8 = 0;
/// `inflight` direction: client → broker.
pub const DIR_IN: u8 = 1;
