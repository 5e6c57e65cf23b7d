//! [`Snapshot`]: one consistent read cut across every table, taken with [`Store::snapshot`].
//!
//! It is how readers above the store (export, import planning, restore drills) see the data:
//! rows by [`Table`] in key order, keys as [`KeyPart`]s and values as stored record bytes,
//! so they never name the engine's types. `copy` adds [`Snapshot::copy_to`].
//!
//! [`Store::snapshot`]: crate::Store::snapshot

use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::StoreError;
use crate::key_part::KeyPart;
use crate::schema::{
    ACL, API_KEYS, BANNED, CLUSTER_CONFIG, INFLIGHT, LAST_BATCH_SEQ, META, QUEUED, RETAINED,
    SESSIONS, SUBSCRIPTIONS, USERS,
};
use crate::store::decode_batch_seq;
use crate::table::Table;

/// A visitor of rows: the key's parts and the value's bytes.
pub type RowFn<'a, E> = dyn FnMut(Vec<KeyPart>, &[u8]) -> Result<(), E> + 'a;

/// A read snapshot of the store. Every read through it sees the same cut, however much is
/// committed meanwhile.
pub struct Snapshot {
    /// The engine's read transaction, which holds the cut for as long as the snapshot lives.
    txn: ReadTransaction,
}

impl Snapshot {
    pub(crate) fn new(txn: ReadTransaction) -> Snapshot {
        Snapshot { txn }
    }

    pub(crate) fn txn(&self) -> &ReadTransaction {
        &self.txn
    }

    /// The cut this snapshot sees: how many batches had been committed when it was taken
    /// (`meta/last_batch_seq`; 0 for a store that has committed none).
    pub fn batch_seq(&self) -> Result<u64, StoreError> {
        let meta = self.txn.open_table(META)?;
        match meta.get(LAST_BATCH_SEQ)? {
            Some(v) => decode_batch_seq(v.value()),
            None => Ok(0),
        }
    }

    /// Records in `table`.
    pub fn len(&self, table: Table) -> Result<u64, StoreError> {
        let txn = &self.txn;
        match table {
            Table::ClusterConfig => len(txn, CLUSTER_CONFIG),
            Table::Users => len(txn, USERS),
            Table::Acl => len(txn, ACL),
            Table::Banned => len(txn, BANNED),
            Table::ApiKeys => len(txn, API_KEYS),
            Table::Retained => len(txn, RETAINED),
            Table::Sessions => len(txn, SESSIONS),
            Table::Subscriptions => len(txn, SUBSCRIPTIONS),
            Table::Queued => len(txn, QUEUED),
            Table::Inflight => len(txn, INFLIGHT),
        }
    }

    /// Call `f` with every row of `table`, in key order. The key's parts are those of
    /// [`Table::key_parts`]; the value is the stored record's bytes.
    pub fn for_each_row<E: From<StoreError>>(
        &self,
        table: Table,
        f: &mut RowFn<'_, E>,
    ) -> Result<(), E> {
        use KeyPart::*;
        let txn = &self.txn;
        match table {
            Table::ClusterConfig => rows(txn, CLUSTER_CONFIG, |k| vec![Str(k.into())], f),
            Table::Users => rows(txn, USERS, |k| vec![Str(k.into())], f),
            Table::Acl => rows(txn, ACL, |k| vec![U64(k)], f),
            Table::Banned => rows(txn, BANNED, |(a, b)| vec![U8(a), Str(b.into())], f),
            Table::ApiKeys => rows(txn, API_KEYS, |k| vec![Str(k.into())], f),
            Table::Retained => rows(txn, RETAINED, |k| vec![Str(k.into())], f),
            Table::Sessions => rows(txn, SESSIONS, |k| vec![Str(k.into())], f),
            Table::Subscriptions => rows(
                txn,
                SUBSCRIPTIONS,
                |(a, b)| vec![Str(a.into()), Str(b.into())],
                f,
            ),
            Table::Queued => rows(txn, QUEUED, |(a, b)| vec![Str(a.into()), U64(b)], f),
            Table::Inflight => rows(
                txn,
                INFLIGHT,
                |(a, b, c)| vec![Str(a.into()), U8(b), U16(c)],
                f,
            ),
        }
    }
}

fn rows<K: redb::Key + 'static, E: From<StoreError>>(
    txn: &ReadTransaction,
    def: TableDefinition<K, &[u8]>,
    key: impl for<'a> Fn(K::SelfType<'a>) -> Vec<KeyPart>,
    f: &mut RowFn<'_, E>,
) -> Result<(), E> {
    let t = txn.open_table(def).map_err(StoreError::from)?;
    for entry in t.iter().map_err(StoreError::from)? {
        let (k, v) = entry.map_err(StoreError::from)?;
        f(key(k.value()), v.value())?;
    }
    Ok(())
}

fn len<K: redb::Key + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, &[u8]>,
) -> Result<u64, StoreError> {
    Ok(txn.open_table(def)?.len()?)
}
