//! [`Store::load_part`]: the rows of some clients' sessions and some retained topics, read
//! from one snapshot. After an import batch the broker rebuilds exactly what the batch
//! touched from it, instead of reloading the whole store.

use redb::{ReadOnlyTable, ReadTransaction, ReadableTableMetadata};

use crate::records;
use crate::records::RetainedRecord;
use crate::schema::*;
use crate::store::{Loaded, Store};
use crate::{Command, StoreError};

impl Store {
    /// The session, subscription, queued and in-flight rows of `clients`, and the retained
    /// messages on `topics`, as of one read snapshot (the other fields of [`Loaded`] stay
    /// empty). A client or topic without rows is simply absent. Both lists are sorted and
    /// without duplicates.
    ///
    /// A few clients are looked up one by one; many (a quarter of the sessions or more) are
    /// read in one pass over the tables' key range, keeping the rows of those asked for.
    /// Topics are looked up one by one.
    pub fn load_part(&self, clients: &[String], topics: &[String]) -> Result<Loaded, StoreError> {
        debug_assert!(clients.is_sorted() && topics.is_sorted());
        let txn = self.read()?;
        let mut out = Loaded::default();
        let tables = ClientTables::open(&txn)?;
        if let (Some(first), Some(last)) = (clients.first(), clients.last()) {
            if is_dense(clients.len(), tables.sessions.len()?) {
                tables.load(first, last, Some(clients), &mut out)?;
            } else {
                for c in clients {
                    tables.load(c, c, None, &mut out)?;
                }
            }
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

impl Store {
    /// Which of `clients` (sorted, without duplicates) have any row in the session tables
    /// (sessions, subscriptions, queued, in-flight) as of now, sorted. Keys only: nothing is
    /// decoded.
    pub fn clients_with_rows(&self, clients: &[String]) -> Result<Vec<String>, StoreError> {
        debug_assert!(clients.is_sorted());
        let txn = self.read()?;
        let tables = ClientTables::open(&txn)?;
        let mut found = Vec::new();
        let (Some(first), Some(last)) = (clients.first(), clients.last()) else {
            return Ok(found);
        };
        if is_dense(clients.len(), tables.sessions.len()?) {
            tables.present(first, last, Some(clients), &mut found)?;
            found.sort_unstable();
            found.dedup();
        } else {
            // `present` pushes a client once, however many rows it has.
            for c in clients {
                tables.present(c, c, None, &mut found)?;
            }
        }
        Ok(found)
    }
}

impl Loaded {
    /// Take the rows a committed batch wrote (sessions, subscriptions, queued, in-flight and
    /// retained puts), except those of the clients in `skip` (sorted), moving their records.
    /// For a client that had no rows before the batch, and for retained topics, these are
    /// exactly the rows the store now holds.
    pub fn absorb_puts(&mut self, batch: Vec<Command>, skip: &[String]) {
        let keep = |c: &String| skip.binary_search(c).is_err();
        // Room for every row first: growing by doubling would copy millions of records
        // (the reference set's import moves 3.1 M of them here).
        let mut counts = [0usize; 6];
        for cmd in &batch {
            let kind = match cmd {
                Command::PutSession { .. } => 0,
                Command::PutSubscription { .. } => 1,
                Command::Enqueue { .. } => 2,
                Command::PutInflightOut { .. } => 3,
                Command::PutInflightIn { .. } => 4,
                Command::PutRetained { .. } => 5,
                _ => continue,
            };
            counts[kind] += 1;
        }
        self.sessions.reserve(counts[0]);
        self.subscriptions.reserve(counts[1]);
        self.queued.reserve(counts[2]);
        self.inflight_out.reserve(counts[3]);
        self.inflight_in.reserve(counts[4]);
        self.retained.reserve(counts[5]);
        for cmd in batch {
            match cmd {
                Command::PutSession { client, rec } if keep(&client) => {
                    self.sessions.push((client, rec));
                }
                Command::PutSubscription {
                    client,
                    filter,
                    rec,
                } if keep(&client) => self.subscriptions.push((client, filter, rec)),
                Command::Enqueue { client, seq, rec } if keep(&client) => {
                    self.queued.push((client, seq, rec));
                }
                Command::PutInflightOut {
                    client,
                    packet_id,
                    rec,
                } if keep(&client) => self.inflight_out.push((client, packet_id, rec)),
                Command::PutInflightIn { client, packet_id } if keep(&client) => {
                    self.inflight_in.push((client, packet_id));
                }
                Command::PutRetained { topic, rec } => self.retained.push((topic, rec)),
                _ => {}
            }
        }
    }
}

/// Whether `asked` keys out of a table of `held` rows are better read in one pass.
fn is_dense(asked: usize, held: u64) -> bool {
    (asked as u64).saturating_mul(4) >= held
}

/// Membership test for keys visited in ascending order: one walk along the sorted set
/// (`None`: every key is a member).
struct Members<'a> {
    next: Option<std::iter::Peekable<std::slice::Iter<'a, String>>>,
}

impl<'a> Members<'a> {
    fn new(set: Option<&'a [String]>) -> Members<'a> {
        Members {
            next: set.map(|s| s.iter().peekable()),
        }
    }

    /// Whether `key` is in the set; keys must be asked in ascending (byte) order, as redb
    /// iterates them.
    fn contains(&mut self, key: &str) -> bool {
        let Some(next) = &mut self.next else {
            return true;
        };
        while let Some(n) = next.peek() {
            match n.as_str().cmp(key) {
                std::cmp::Ordering::Less => {
                    next.next();
                }
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Greater => return false,
            }
        }
        false
    }
}

/// The tables a session's rows live in, opened once for many clients.
struct ClientTables {
    sessions: ReadOnlyTable<&'static str, &'static [u8]>,
    subscriptions: ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    queued: ReadOnlyTable<(&'static str, u64), &'static [u8]>,
    inflight: ReadOnlyTable<(&'static str, u8, u16), &'static [u8]>,
}

impl ClientTables {
    fn open(txn: &ReadTransaction) -> Result<ClientTables, StoreError> {
        Ok(ClientTables {
            sessions: txn.open_table(SESSIONS)?,
            subscriptions: txn.open_table(SUBSCRIPTIONS)?,
            queued: txn.open_table(QUEUED)?,
            inflight: txn.open_table(INFLIGHT)?,
        })
    }

    /// Append to `out` the client id of every row of the clients from `lo` to `hi`
    /// (inclusive) that are in `only` (all of them if `None`); repeats are not removed.
    fn present(
        &self,
        lo: &str,
        hi: &str,
        only: Option<&[String]>,
        out: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let mut push = |members: &mut Members<'_>, c: &str| {
            if members.contains(c) && out.last().is_none_or(|l| l != c) {
                out.push(c.to_string());
            }
        };
        let mut members = Members::new(only);
        for e in self.sessions.range(lo..=hi)? {
            push(&mut members, e?.0.value());
        }
        let mut members = Members::new(only);
        for e in self.subscriptions.range((lo, "")..)? {
            let (k, _) = e?;
            let (c, _) = k.value();
            if c > hi {
                break;
            }
            push(&mut members, c);
        }
        let mut members = Members::new(only);
        for e in self.queued.range((lo, 0u64)..=(hi, u64::MAX))? {
            push(&mut members, e?.0.value().0);
        }
        let mut members = Members::new(only);
        for e in self
            .inflight
            .range((lo, 0u8, 0u16)..=(hi, u8::MAX, u16::MAX))?
        {
            push(&mut members, e?.0.value().0);
        }
        Ok(())
    }

    /// Append to `out` every row of the clients from `lo` to `hi` (inclusive) that are in
    /// `only` (all of them if `None`).
    fn load(
        &self,
        lo: &str,
        hi: &str,
        only: Option<&[String]>,
        out: &mut Loaded,
    ) -> Result<(), StoreError> {
        let mut members = Members::new(only);
        for e in self.sessions.range(lo..=hi)? {
            let (k, v) = e?;
            let c = k.value();
            if members.contains(c) {
                let rec = records::decode("sessions", &c, v.value())?;
                out.sessions.push((c.to_string(), rec));
            }
        }
        let mut members = Members::new(only);
        for e in self.subscriptions.range((lo, "")..)? {
            let (k, v) = e?;
            let (c, filter) = k.value();
            if c > hi {
                break;
            }
            if members.contains(c) {
                let rec =
                    records::decode("subscriptions", &format_args!("{c}/{filter}"), v.value())?;
                out.subscriptions
                    .push((c.to_string(), filter.to_string(), rec));
            }
        }
        let mut members = Members::new(only);
        for e in self.queued.range((lo, 0u64)..=(hi, u64::MAX))? {
            let (k, v) = e?;
            let (c, seq) = k.value();
            if members.contains(c) {
                let rec = records::decode("queued", &format_args!("{c}/{seq}"), v.value())?;
                out.queued.push((c.to_string(), seq, rec));
            }
        }
        let mut members = Members::new(only);
        for e in self
            .inflight
            .range((lo, 0u8, 0u16)..=(hi, u8::MAX, u16::MAX))?
        {
            let (k, v) = e?;
            let (c, dir, pid) = k.value();
            if !members.contains(c) {
                continue;
            }
            if dir == DIR_OUT {
                let rec = records::decode("inflight", &format_args!("{c}/out/{pid}"), v.value())?;
                out.inflight_out.push((c.to_string(), pid, rec));
            } else {
                out.inflight_in.push((c.to_string(), pid));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{MessageRecord, SessionRecord, SubscriptionRecord};
    use crate::{Command, StoreOptions};

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
        let store = Store::open(&dir.path().join("s.redb"), StoreOptions::default()).expect("open");
        let sub = SubscriptionRecord {
            qos: 1,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
            sub_id: None,
        };
        let mut batch = Vec::new();
        // "a" is a prefix of "ab": ranges must not spill from one client into the next. The
        // 20 others make a query for two clients a sparse one (looked up one by one).
        let others: Vec<String> = (0..20).map(|i| format!("c{i:02}")).collect();
        for c in ["a", "ab", "b"]
            .into_iter()
            .chain(others.iter().map(String::as_str))
        {
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
        let batch = store
            .submit_returning(batch)
            .wait_blocking()
            .expect("commit");
        // The batch comes back whole; its puts, but those of skipped clients, are absorbed.
        let mut absorbed = Loaded::default();
        absorbed.absorb_puts(batch, &["ab".to_string()]);
        assert_eq!(absorbed.sessions.len(), 22);
        assert!(absorbed.sessions.iter().all(|(c, _)| c != "ab"));
        assert_eq!(absorbed.inflight_in.len(), 22);
        assert_eq!(absorbed.retained.len(), 1);
        let clients = ["a".to_string(), "zz".to_string()];
        let topics = ["t/1".to_string(), "t/2".to_string()];
        let part = store.load_part(&clients, &topics).expect("load");
        assert_eq!(part.sessions.len(), 1);
        assert_eq!(part.sessions[0].0, "a");
        assert_eq!(part.subscriptions.len(), 1);
        assert_eq!(part.inflight_in, [("a".to_string(), 3)]);
        assert_eq!(part.retained.len(), 1);
        assert!(part.users.is_empty());

        // Every client but "ab": read in one pass, "ab"'s rows skipped.
        let dense: Vec<String> = ["a", "b"]
            .into_iter()
            .map(String::from)
            .chain(others.iter().cloned())
            .collect();
        let part = store.load_part(&dense, &[]).expect("load");
        let names: Vec<&str> = part.sessions.iter().map(|(c, _)| c.as_str()).collect();
        let expected: Vec<&str> = dense.iter().map(String::as_str).collect();
        assert_eq!(names, expected);
        assert_eq!(part.subscriptions.len(), dense.len());
        assert!(part.subscriptions.iter().all(|(c, _, _)| c != "ab"));
        assert_eq!(part.inflight_in.len(), dense.len());
        assert!(part.retained.is_empty());

        // Which clients have rows: looked up one by one (few asked), then in one pass.
        let few = ["a".to_string(), "c05".to_string(), "nobody".to_string()];
        assert_eq!(store.clients_with_rows(&few).expect("rows"), ["a", "c05"]);
        let mut many: Vec<String> = others.clone();
        many.extend(["a".to_string(), "ab".to_string(), "zz".to_string()]);
        many.sort();
        let mut expected = many.clone();
        expected.retain(|c| c != "zz");
        assert_eq!(store.clients_with_rows(&many).expect("rows"), expected);
        assert!(store.clients_with_rows(&[]).expect("rows").is_empty());
    }
}
