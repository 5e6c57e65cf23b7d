//! Write commands. A batch of commands is the unit of atomic change: the writer applies each
//! batch inside one redb write transaction (and a cluster will replicate the same batches).

use redb::{ReadableTable, WriteTransaction};

use crate::StoreError;
use crate::records::{
    self, DeliveryRecord, InflightRecord, RetainedRecord, SessionRecord, SubscriptionRecord,
};
use crate::schema::*;

/// One change to the store.
///
/// Serialized in command batches ([`crate::wire`], `docs/formats/commands.md`): postcard
/// writes a variant as its index in this declaration, so the order below is part of the
/// format. **Only append variants; never reorder, remove or change one** (that is a new batch
/// format version).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    /// Create or update a persistent session.
    PutSession {
        client: String,
        rec: SessionRecord,
    },
    /// Remove a session with its subscriptions, queued and in-flight messages.
    DeleteSession {
        client: String,
    },
    PutSubscription {
        client: String,
        filter: String,
        rec: SubscriptionRecord,
    },
    DeleteSubscription {
        client: String,
        filter: String,
    },
    /// Queue a delivery for an offline or busy session.
    Enqueue {
        client: String,
        seq: u64,
        rec: DeliveryRecord,
    },
    /// Forget a queued delivery (sent at QoS 0, expired, or moved in flight).
    Dequeue {
        client: String,
        seq: u64,
    },
    /// Record an outgoing in-flight message (or its state change).
    PutInflightOut {
        client: String,
        packet_id: u16,
        rec: InflightRecord,
    },
    /// The outgoing flow for this packet id is complete.
    DeleteInflightOut {
        client: String,
        packet_id: u16,
    },
    /// A QoS 2 PUBLISH from the client was received and PUBREC'd.
    PutInflightIn {
        client: String,
        packet_id: u16,
    },
    /// PUBREL arrived for that packet id.
    DeleteInflightIn {
        client: String,
        packet_id: u16,
    },
    PutRetained {
        topic: String,
        rec: RetainedRecord,
    },
    DeleteRetained {
        topic: String,
    },
    PutUser {
        username: String,
        rec: records::UserRecord,
    },
    DeleteUser {
        username: String,
    },
    PutAcl {
        id: u64,
        rec: records::AclRecord,
    },
    DeleteAcl {
        id: u64,
    },
    PutBanned {
        kind: u8,
        value: String,
        rec: records::BannedRecord,
    },
    DeleteBanned {
        kind: u8,
        value: String,
    },
    PutApiKey {
        key_id: String,
        rec: records::ApiKeyRecord,
    },
    DeleteApiKey {
        key_id: String,
    },
    /// Set a runtime setting (value is TOML text).
    PutConfig {
        key: String,
        value: String,
    },
    DeleteConfig {
        key: String,
    },
}

/// Apply a batch of commands inside `txn`.
pub(crate) fn apply(txn: &WriteTransaction, batch: &[Command]) -> Result<(), StoreError> {
    let mut sessions = txn.open_table(SESSIONS)?;
    let mut subs = txn.open_table(SUBSCRIPTIONS)?;
    let mut queued = txn.open_table(QUEUED)?;
    let mut inflight = txn.open_table(INFLIGHT)?;
    let mut retained = txn.open_table(RETAINED)?;
    let mut config = txn.open_table(CLUSTER_CONFIG)?;
    let mut users = txn.open_table(USERS)?;
    let mut acl = txn.open_table(ACL)?;
    let mut banned = txn.open_table(BANNED)?;
    let mut api_keys = txn.open_table(API_KEYS)?;
    // One encoding buffer for the whole batch.
    let mut buf = Vec::new();
    for cmd in batch {
        match cmd {
            Command::PutSession { client, rec } => {
                sessions.insert(client.as_str(), records::encode_into(rec, &mut buf))?;
            }
            Command::DeleteSession { client } => {
                let c = client.as_str();
                sessions.remove(c)?;
                let filters: Vec<String> = subs
                    .range((c, "")..)?
                    .map_while(|e| e.ok())
                    .take_while(|(k, _)| k.value().0 == c)
                    .map(|(k, _)| k.value().1.to_string())
                    .collect();
                for f in filters {
                    subs.remove((c, f.as_str()))?;
                }
                queued.retain_in((c, 0)..=(c, u64::MAX), |_, _| false)?;
                inflight.retain_in((c, 0, 0)..=(c, u8::MAX, u16::MAX), |_, _| false)?;
            }
            Command::PutSubscription {
                client,
                filter,
                rec,
            } => {
                subs.insert(
                    (client.as_str(), filter.as_str()),
                    records::encode_into(rec, &mut buf),
                )?;
            }
            Command::DeleteSubscription { client, filter } => {
                subs.remove((client.as_str(), filter.as_str()))?;
            }
            Command::Enqueue { client, seq, rec } => {
                queued.insert((client.as_str(), *seq), records::encode_into(rec, &mut buf))?;
            }
            Command::Dequeue { client, seq } => {
                queued.remove((client.as_str(), *seq))?;
            }
            Command::PutInflightOut {
                client,
                packet_id,
                rec,
            } => {
                inflight.insert(
                    (client.as_str(), DIR_OUT, *packet_id),
                    records::encode_into(rec, &mut buf),
                )?;
            }
            Command::DeleteInflightOut { client, packet_id } => {
                inflight.remove((client.as_str(), DIR_OUT, *packet_id))?;
            }
            Command::PutInflightIn { client, packet_id } => {
                inflight.insert((client.as_str(), DIR_IN, *packet_id), [].as_slice())?;
            }
            Command::DeleteInflightIn { client, packet_id } => {
                inflight.remove((client.as_str(), DIR_IN, *packet_id))?;
            }
            Command::PutRetained { topic, rec } => {
                retained.insert(topic.as_str(), records::encode_into(rec, &mut buf))?;
            }
            Command::DeleteRetained { topic } => {
                retained.remove(topic.as_str())?;
            }
            Command::PutUser { username, rec } => {
                users.insert(username.as_str(), records::encode_into(rec, &mut buf))?;
            }
            Command::DeleteUser { username } => {
                users.remove(username.as_str())?;
            }
            Command::PutAcl { id, rec } => {
                acl.insert(*id, records::encode_into(rec, &mut buf))?;
            }
            Command::DeleteAcl { id } => {
                acl.remove(*id)?;
            }
            Command::PutBanned { kind, value, rec } => {
                banned.insert((*kind, value.as_str()), records::encode_into(rec, &mut buf))?;
            }
            Command::DeleteBanned { kind, value } => {
                banned.remove((*kind, value.as_str()))?;
            }
            Command::PutApiKey { key_id, rec } => {
                api_keys.insert(key_id.as_str(), records::encode_into(rec, &mut buf))?;
            }
            Command::DeleteApiKey { key_id } => {
                api_keys.remove(key_id.as_str())?;
            }
            Command::PutConfig { key, value } => {
                config.insert(key.as_str(), value.as_bytes())?;
            }
            Command::DeleteConfig { key } => {
                config.remove(key.as_str())?;
            }
        }
    }
    Ok(())
}
