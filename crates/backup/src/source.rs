//! Reading the rows of a table from one store read snapshot, as archive [`Key`]s and value
//! bytes, in key order.

use holdfast_store::StoreError;
use holdfast_store::schema::{
    ACL, API_KEYS, BANNED, CLUSTER_CONFIG, INFLIGHT, QUEUED, RETAINED, SESSIONS, SUBSCRIPTIONS,
    USERS,
};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::contents::Row;
use crate::key::{Key, KeyPart};
use crate::table::Table;

/// A visitor of rows: key and value bytes.
pub(crate) type RowFn<'a, E> = dyn FnMut(Key, &[u8]) -> Result<(), E> + 'a;

/// Call `f` with every row of `table` in `txn`, in key order.
pub(crate) fn for_each_row<E: From<StoreError>>(
    txn: &ReadTransaction,
    table: Table,
    f: &mut RowFn<'_, E>,
) -> Result<(), E> {
    use KeyPart::*;
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

fn rows<K: redb::Key + 'static, E: From<StoreError>>(
    txn: &ReadTransaction,
    def: TableDefinition<K, &[u8]>,
    key: impl for<'a> Fn(K::SelfType<'a>) -> Vec<KeyPart>,
    f: &mut RowFn<'_, E>,
) -> Result<(), E> {
    let t = txn.open_table(def).map_err(StoreError::from)?;
    for entry in t.iter().map_err(StoreError::from)? {
        let (k, v) = entry.map_err(StoreError::from)?;
        f(Key::new(key(k.value())), v.value())?;
    }
    Ok(())
}

/// Records in `table` in `txn`.
pub(crate) fn table_len(txn: &ReadTransaction, table: Table) -> Result<u64, StoreError> {
    fn len<K: redb::Key + 'static>(
        txn: &ReadTransaction,
        def: TableDefinition<K, &[u8]>,
    ) -> Result<u64, StoreError> {
        Ok(txn.open_table(def)?.len()?)
    }
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

/// Every row of `table` in a read snapshot, in key order, as an archive carries it. Restore
/// drills and tests compare stores with it.
pub fn table_rows(txn: &ReadTransaction, table: Table) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::new();
    for_each_row::<StoreError>(txn, table, &mut |k, v| {
        out.push((k, v.to_vec()));
        Ok(())
    })?;
    Ok(out)
}
