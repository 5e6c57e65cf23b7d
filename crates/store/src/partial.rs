//! [`Store::load_part`]: the rows of some clients' sessions and some retained topics, read
//! from one snapshot. After an import batch the broker rebuilds exactly what the batch
//! touched from it, instead of reloading the whole store.

use std::collections::BTreeSet;

use redb::ReadTransaction;

use crate::StoreError;
use crate::records;
use crate::records::RetainedRecord;
use crate::schema::*;
use crate::store::{Loaded, Store};

impl Store {
    /// The session, subscription, queued and in-flight rows of `clients`, and the retained
    /// messages on `topics`, as of one read snapshot (the other fields of [`Loaded`] stay
    /// empty). A client or topic without rows is simply absent.
    pub fn load_part(
        &self,
        clients: &BTreeSet<String>,
        topics: &BTreeSet<String>,
    ) -> Result<Loaded, StoreError> {
        let txn = self.read()?;
        let mut out = Loaded::default();
        for client in clients {
            load_client(&txn, client, &mut out)?;
        }
        let retained = txn.open_table(RETAINED)?;
        for topic in topics {
            if let Some(v) = retained.get(topic.as_str())? {
                let rec: RetainedRecord = records::decode("retained", topic, v.value())?;
                out.retained.push((topic.clone(), rec));
            }
        }
        Ok(out)
    }
}

/// Append every row of one client's session to `out`.
fn load_client(txn: &ReadTransaction, c: &str, out: &mut Loaded) -> Result<(), StoreError> {
    if let Some(v) = txn.open_table(SESSIONS)?.get(c)? {
        out.sessions
            .push((c.to_string(), records::decode("sessions", &c, v.value())?));
    }
    for e in txn.open_table(SUBSCRIPTIONS)?.range((c, "")..)? {
        let (k, v) = e?;
        let (client, filter) = k.value();
        if client != c {
            break;
        }
        let rec = records::decode("subscriptions", &format!("{c}/{filter}"), v.value())?;
        out.subscriptions
            .push((c.to_string(), filter.to_string(), rec));
    }
    for e in txn.open_table(QUEUED)?.range((c, 0u64)..=(c, u64::MAX))? {
        let (k, v) = e?;
        let (_, seq) = k.value();
        let rec = records::decode("queued", &format!("{c}/{seq}"), v.value())?;
        out.queued.push((c.to_string(), seq, rec));
    }
    for e in txn
        .open_table(INFLIGHT)?
        .range((c, 0u8, 0u16)..=(c, u8::MAX, u16::MAX))?
    {
        let (k, v) = e?;
        let (_, dir, pid) = k.value();
        if dir == DIR_OUT {
            let rec = records::decode("inflight", &format!("{c}/out/{pid}"), v.value())?;
            out.inflight_out.push((c.to_string(), pid, rec));
        } else {
            out.inflight_in.push((c.to_string(), pid));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{MessageRecord, SessionRecord, SubscriptionRecord};
    use crate::{Command, Durability, StoreOptions};

    fn session() -> SessionRecord {
        SessionRecord {
            expiry_secs: 60,
            protocol: 5,
            created_at_ms: 1,
            disconnected_at_ms: None,
            will: None,
        }
    }

    #[test]
    fn loads_only_the_named_clients_and_topics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(
            &dir.path().join("s.redb"),
            StoreOptions {
                durability: Durability::Sync,
            },
        )
        .expect("open");
        let sub = SubscriptionRecord {
            qos: 1,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
            sub_id: None,
        };
        let mut batch = Vec::new();
        // "a" is a prefix of "ab": ranges must not spill from one client into the next.
        for c in ["a", "ab", "b"] {
            batch.push(Command::PutSession {
                client: c.into(),
                rec: session(),
            });
            batch.push(Command::PutSubscription {
                client: c.into(),
                filter: "x/#".into(),
                rec: sub,
            });
            batch.push(Command::PutInflightIn {
                client: c.into(),
                packet_id: 3,
            });
        }
        batch.push(Command::PutRetained {
            topic: "t/1".into(),
            rec: RetainedRecord {
                msg: MessageRecord {
                    topic: "t/1".into(),
                    payload: b"p".to_vec(),
                    qos: 1,
                    retain: true,
                    payload_utf8: false,
                    content_type: None,
                    response_topic: None,
                    correlation_data: None,
                    user_properties: vec![],
                    expires_at_ms: None,
                },
                stored_at_ms: 1,
            },
        });
        store.submit(batch).wait_blocking().expect("commit");
        let clients: BTreeSet<String> = ["a".to_string(), "zz".to_string()].into();
        let topics: BTreeSet<String> = ["t/1".to_string(), "t/2".to_string()].into();
        let part = store.load_part(&clients, &topics).expect("load");
        assert_eq!(part.sessions.len(), 1);
        assert_eq!(part.sessions[0].0, "a");
        assert_eq!(part.subscriptions.len(), 1);
        assert_eq!(part.inflight_in, [("a".to_string(), 3)]);
        assert_eq!(part.retained.len(), 1);
        assert!(part.users.is_empty());
    }
}
