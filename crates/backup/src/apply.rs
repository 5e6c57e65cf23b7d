//! [`apply`]: carry out an import plan as ONE store batch. The store's writer applies a batch
//! in one write transaction of the engine, so whenever the process dies the store holds the
//! old state or the new one, never a mix.
//!
//! If the target store committed other batches since the plan's snapshot, the plan is made
//! again from a fresh snapshot first, so that `replace` removes what is there now. A write
//! that lands between that snapshot and the batch is kept, as in `merge`: to replace exactly,
//! import into a node that is not serving clients (the restore-into-a-fresh-node case).
//!
//! The store alone is written: a running broker's in-memory state (sessions, subscriptions,
//! retained index, auth cache) must be reloaded or mirrored by the caller.

use holdfast_store::Store;
use serde::Serialize;

use crate::error::ImportError;
use crate::plan::{Plan, TableCounts};

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The counts applied (those of the re-made plan, if it was re-made).
    pub tables: Vec<TableCounts>,
    /// Commands in the batch.
    pub commands: u64,
    /// The plan was made again because the store had changed since it was made.
    pub replanned: bool,
}

/// Apply `plan` to `store` and wait for the commit. Blocks: from async code call
/// [`apply_async`] or run this on a blocking thread.
pub fn apply(plan: Plan, store: &Store) -> Result<ApplyReport, ImportError> {
    let (plan, replanned) = refresh(plan, store)?;
    let report = report(&plan, replanned);
    if !plan.commands.is_empty() {
        store.submit(plan.commands).wait_blocking()?;
    }
    Ok(report)
}

/// [`apply`] for async callers.
pub async fn apply_async(plan: Plan, store: &Store) -> Result<ApplyReport, ImportError> {
    let (plan, replanned) = refresh(plan, store)?;
    let report = report(&plan, replanned);
    if !plan.commands.is_empty() {
        store.submit(plan.commands).wait().await?;
    }
    Ok(report)
}

/// The plan, made again if the store has moved on since its snapshot.
fn refresh(plan: Plan, store: &Store) -> Result<(Plan, bool), ImportError> {
    plan.refreshed(&store.snapshot()?)
}

fn report(plan: &Plan, replanned: bool) -> ApplyReport {
    ApplyReport {
        tables: plan.counts(),
        commands: plan.commands.len() as u64,
        replanned,
    }
}
