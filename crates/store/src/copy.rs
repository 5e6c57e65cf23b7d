//! [`Store::copy_to`] and [`Snapshot::copy_to`]: a consistent copy of the whole store in a new
//! database file, made while the broker keeps writing (the hot snapshot, BACKUP.md §4).
//!
//! redb has no online backup call, so the copy is made the way its own guarantees allow: every
//! table, `meta` included, is read from ONE read transaction (one consistent cut) and written
//! into a fresh database in ONE write transaction, committed durably. The live file is never
//! copied byte by byte, so a copy can never catch a half-written page.
//!
//! The copy runs beside live traffic, so it yields the CPU every few records
//! ([`crate::courtesy`]).

use std::fs::OpenOptions;
use std::path::Path;

use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::StoreError;
use crate::courtesy::Courtesy;
use crate::schema::*;
use crate::snapshot::Snapshot;
use crate::store::Store;

/// What a copy holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCopy {
    /// The cut: batches the source had committed at the snapshot (`meta/last_batch_seq`).
    pub batch_seq: u64,
    /// Records per table, in [`TABLE_NAMES`] order (`meta` first).
    pub tables: Vec<(&'static str, u64)>,
}

impl Store {
    /// Copy one consistent cut of the store into a new database file at `dest` (created with
    /// mode 0600; it must not exist).
    pub fn copy_to(&self, dest: &Path) -> Result<StoreCopy, StoreError> {
        self.snapshot()?.copy_to(dest)
    }
}

impl Snapshot {
    /// Copy every table of this snapshot, `meta` included, into a new database file at
    /// `dest` (created with mode 0600; it must not exist).
    pub fn copy_to(&self, dest: &Path) -> Result<StoreCopy, StoreError> {
        copy(self, dest)
    }
}

fn copy(snapshot: &Snapshot, dest: &Path) -> Result<StoreCopy, StoreError> {
    let batch_seq = snapshot.batch_seq()?;
    let txn = snapshot.txn();
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    // Created empty first, so that it is new (never an existing file or a planted symlink)
    // and private before redb writes anything into it.
    drop(opts.open(dest).map_err(|e| {
        StoreError::Engine(format!("cannot create the copy {}: {e}", dest.display()))
    })?);
    let db = Database::create(dest).map_err(|e| StoreError::Open {
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    let w = db.begin_write()?;
    let c = &mut Courtesy::default();
    let tables = vec![
        ("meta", copy_table(txn, &w, META, c)?),
        ("cluster_config", copy_table(txn, &w, CLUSTER_CONFIG, c)?),
        ("users", copy_table(txn, &w, USERS, c)?),
        ("acl", copy_table(txn, &w, ACL, c)?),
        ("banned", copy_table(txn, &w, BANNED, c)?),
        ("api_keys", copy_table(txn, &w, API_KEYS, c)?),
        ("retained", copy_table(txn, &w, RETAINED, c)?),
        ("sessions", copy_table(txn, &w, SESSIONS, c)?),
        ("subscriptions", copy_table(txn, &w, SUBSCRIPTIONS, c)?),
        ("queued", copy_table(txn, &w, QUEUED, c)?),
        ("inflight", copy_table(txn, &w, INFLIGHT, c)?),
    ];
    // Redb's default durability: the commit is fsynced before it returns.
    w.commit()?;
    drop(db);
    Ok(StoreCopy { batch_seq, tables })
}

fn copy_table<K: redb::Key + 'static>(
    txn: &ReadTransaction,
    w: &WriteTransaction,
    def: TableDefinition<K, &[u8]>,
    courtesy: &mut Courtesy,
) -> Result<u64, StoreError> {
    let src = txn.open_table(def)?;
    let mut dst = w.open_table(def)?;
    let mut n = 0u64;
    for e in src.iter()? {
        let (k, v) = e?;
        let v = v.value();
        dst.insert(k.value(), v)?;
        courtesy.record(v.len());
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, StoreOptions};

    #[test]
    fn a_copy_opens_with_the_same_rows_and_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = StoreOptions::default();
        let store = Store::open(&dir.path().join("s.redb"), opts.clone()).expect("open");
        for i in 0..3u64 {
            store
                .submit(vec![Command::PutConfig {
                    key: format!("k{i}"),
                    value: "1".into(),
                }])
                .wait_blocking()
                .expect("commit");
        }
        let dest = dir.path().join("copy.redb");
        let copy = store.copy_to(&dest).expect("copy");
        assert_eq!(copy.batch_seq, 3);
        assert!(copy.tables.contains(&("cluster_config", 3)));
        assert!(store.copy_to(&dest).is_err(), "an existing file is refused");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let copied = Store::open(&dest, opts).expect("the copy opens");
        assert_eq!(copied.load().expect("load").cluster_config.len(), 3);
        let snapshot = copied.snapshot().expect("snapshot");
        assert_eq!(snapshot.batch_seq().expect("seq"), 3);
    }
}
