//! Reading the rows of a table from one store [`Snapshot`], as archive [`Key`]s and value
//! bytes, in key order.

use holdfast_store::{Snapshot, StoreError, Table};

use crate::contents::Row;
use crate::key::Key;

/// A visitor of rows: key and value bytes.
pub(crate) type RowFn<'a, E> = dyn FnMut(Key, &[u8]) -> Result<(), E> + 'a;

/// Call `f` with every row of `table` in `snapshot`, in key order.
pub(crate) fn for_each_row<E: From<StoreError>>(
    snapshot: &Snapshot,
    table: Table,
    f: &mut RowFn<'_, E>,
) -> Result<(), E> {
    snapshot.for_each_row(table, &mut |parts, value| f(Key::new(parts), value))
}

/// Every row of `table` in a read snapshot, in key order, as an archive carries it. Restore
/// drills and tests compare stores with it.
pub fn table_rows(snapshot: &Snapshot, table: Table) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::new();
    for_each_row::<StoreError>(snapshot, table, &mut |k, v| {
        out.push((k, v.to_vec()));
        Ok(())
    })?;
    Ok(out)
}
