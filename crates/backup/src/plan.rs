//! [`plan`]: what an import would change, table by table, and the one batch of store
//! commands that makes the change.
//!
//! - `merge`: the archive's records are written over the same keys; local records the archive
//!   does not hold stay.
//! - `replace`: the selected sets become equal to the archive: local records it does not hold
//!   are removed.
//!
//! In the batch every removal comes before every write. Removing a session also removes that
//! client's subscriptions, queued and in-flight rows (`Command::DeleteSession`), so the plan
//! writes back every archive row of such a client, changed or not.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use holdfast_store::courtesy::Courtesy;
use holdfast_store::{Command, Set, Snapshot, Table};
use serde::{Deserialize, Serialize};

use crate::archive::{Archive, Verified};
use crate::contents::Contents;
use crate::error::ImportError;
use crate::key::Key;
use crate::manifest::ConfigFile;
use crate::source;
use crate::value;

/// How an import treats local records the archive does not hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Keep them.
    #[default]
    Merge,
    /// Remove them: the selected sets become equal to the archive.
    Replace,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Merge => "merge",
            Mode::Replace => "replace",
        })
    }
}

/// A mode name other than `merge` or `replace`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown import mode {0:?}: use merge or replace")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Mode, UnknownMode> {
        match s {
            "merge" => Ok(Mode::Merge),
            "replace" => Ok(Mode::Replace),
            other => Err(UnknownMode(other.to_string())),
        }
    }
}

/// A check of the archive's node config files by the caller (the server's config parser:
/// listeners and limits sane). Its error is reported with the file name.
pub type ConfigCheck<'a> = &'a dyn Fn(&ConfigFile) -> Result<(), String>;

/// How to import.
#[derive(Clone, Copy, Default)]
pub struct PlanOptions<'a> {
    pub mode: Mode,
    /// Sets to import; `None`: every set the archive holds.
    pub sets: Option<&'a [Set]>,
    /// Extra validation of the node config files, run before planning.
    pub config_check: Option<ConfigCheck<'a>>,
}

/// Keys kept per kind in a [`TablePlan`]'s `add` and `change` lists (the counts are exact):
/// a plan of millions of rows does not copy millions of keys for a report of the first few.
pub const PLAN_KEYS_KEPT: usize = 1000;

/// The change to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TablePlan {
    /// The first [`PLAN_KEYS_KEPT`] keys the archive holds and the store does not.
    pub add: Vec<Key>,
    /// How many keys the archive holds and the store does not.
    pub adds: u64,
    /// The first [`PLAN_KEYS_KEPT`] keys both hold, with different values.
    pub change: Vec<Key>,
    /// How many keys both hold with different values.
    pub changes: u64,
    /// Keys only the store holds (replace mode only), all of them.
    pub remove: Vec<Key>,
    /// Keys both hold with the same value.
    pub unchanged: u64,
}

/// Counts of one table's change, for printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TableCounts {
    pub table: Table,
    pub add: u64,
    pub change: u64,
    pub remove: u64,
    pub unchanged: u64,
}

/// What an import will do. Built from one read snapshot of the target store.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) mode: Mode,
    pub(crate) sets: Vec<Set>,
    pub(crate) tables: Vec<(Table, TablePlan)>,
    pub(crate) commands: Vec<Command>,
    /// The target store's batch sequence at the snapshot the plan was made from.
    pub(crate) batch_seq: u64,
    pub(crate) archive: Arc<Contents>,
}

impl Plan {
    /// This plan if the store `snapshot` is still at the plan's batch sequence, or the plan
    /// made again from `snapshot` (same archive, mode and sets); the flag says which.
    pub fn refreshed(self, snapshot: &Snapshot) -> Result<(Plan, bool), ImportError> {
        if snapshot.batch_seq()? == self.batch_seq {
            return Ok((self, false));
        }
        let fresh = plan_contents(self.archive, snapshot, self.mode, self.sets)?;
        Ok((fresh, true))
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn sets(&self) -> &[Set] {
        &self.sets
    }

    /// The change to each selected table, in archive order.
    pub fn tables(&self) -> impl Iterator<Item = (Table, &TablePlan)> {
        self.tables.iter().map(|(t, p)| (*t, p))
    }

    /// Counts per table.
    pub fn counts(&self) -> Vec<TableCounts> {
        self.tables
            .iter()
            .map(|(t, p)| TableCounts {
                table: *t,
                add: p.adds,
                change: p.changes,
                remove: p.remove.len() as u64,
                unchanged: p.unchanged,
            })
            .collect()
    }

    /// True when applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The batch that applies the plan, in order. A caller that keeps caches of the tables
    /// (the broker's auth cache) applies it through its own path and mirrors it.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// Take the batch out of the plan, to submit it without a copy (the plan keeps its
    /// counts; [`Plan::commands`] is empty afterwards).
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// The target store's batch sequence the plan was made at.
    pub fn batch_seq(&self) -> u64 {
        self.batch_seq
    }

    /// A printable account of the plan (`--dry-run`), listing at most `keys_max` keys of
    /// each kind per table (and never more than [`PLAN_KEYS_KEPT`] added or changed ones).
    pub fn report(&self, keys_max: usize) -> PlanReport {
        let keys = |k: &[Key]| k.iter().take(keys_max).cloned().collect();
        PlanReport {
            mode: self.mode,
            sets: self.sets.clone(),
            target_batch_seq: self.batch_seq,
            tables: self
                .tables
                .iter()
                .zip(self.counts())
                .map(|((_, p), counts)| TableReport {
                    counts,
                    added: keys(&p.add),
                    changed: keys(&p.change),
                    removed: keys(&p.remove),
                })
                .collect(),
        }
    }
}

/// A printable account of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub mode: Mode,
    pub sets: Vec<Set>,
    /// The target store's batch sequence the plan was made at.
    pub target_batch_seq: u64,
    pub tables: Vec<TableReport>,
}

/// One table of a [`PlanReport`].
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    #[serde(flatten)]
    pub counts: TableCounts,
    /// The first keys added, changed and removed (up to the report's `keys_max`).
    pub added: Vec<Key>,
    pub changed: Vec<Key>,
    pub removed: Vec<Key>,
}

/// Plan importing `archive` into the store `snapshot` was read from.
pub fn plan(
    archive: &Archive<Verified>,
    snapshot: &Snapshot,
    opts: &PlanOptions<'_>,
) -> Result<Plan, ImportError> {
    let contents = archive.contents();
    if let Some(check) = opts.config_check {
        for f in &contents.config_files {
            check(f).map_err(|reason| ImportError::Config {
                name: f.name.clone(),
                reason,
            })?;
        }
    }
    let sets = select_sets(&contents, opts.sets)?;
    plan_contents(contents, snapshot, opts.mode, sets)
}

/// The sets to import: those asked for, each of which the archive must hold.
fn select_sets(contents: &Contents, asked: Option<&[Set]>) -> Result<Vec<Set>, ImportError> {
    let held = &contents.manifest.sets;
    let Some(asked) = asked else {
        return Ok(held.clone());
    };
    let asked = Set::normalize(asked);
    if let Some(missing) = asked.iter().find(|s| !held.contains(s)) {
        return Err(ImportError::SetNotInArchive {
            set: *missing,
            available: held.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(asked)
}

pub(crate) fn plan_contents(
    contents: Arc<Contents>,
    snapshot: &Snapshot,
    mode: Mode,
    sets: Vec<Set>,
) -> Result<Plan, ImportError> {
    let batch_seq = snapshot.batch_seq()?;
    let mut tables = Vec::new();
    let mut deletes = Vec::new();
    // The archive rows to write, as runs of consecutive rows of one table.
    let mut runs: Vec<Run> = Vec::new();
    let mut removed_clients = BTreeSet::new();
    // Archive rows left unwritten because they equal the store's; written back if their
    // client's session is removed.
    let mut unchanged_rows: Vec<(Table, &Key, &[u8])> = Vec::new();
    // Planning runs beside traffic: a yield every few rows.
    let mut courtesy = Courtesy::default();

    for table in Table::of_sets(&sets) {
        let mut local: BTreeMap<Key, Vec<u8>> = BTreeMap::new();
        source::for_each_row::<ImportError>(snapshot, table, &mut |k, v| {
            courtesy.record(v.len());
            local.insert(k, v.to_vec());
            Ok(())
        })?;
        let mut tp = TablePlan::default();
        for (index, (key, value)) in contents.rows(table).iter().enumerate() {
            courtesy.record(value.len());
            match local.remove(key) {
                None => {
                    tp.adds += 1;
                    if tp.add.len() < PLAN_KEYS_KEPT {
                        tp.add.push(key.clone());
                    }
                }
                Some(v) if v != *value => {
                    tp.changes += 1;
                    if tp.change.len() < PLAN_KEYS_KEPT {
                        tp.change.push(key.clone());
                    }
                }
                Some(_) => {
                    tp.unchanged += 1;
                    if table.set() == Set::Sessions && table != Table::Sessions {
                        unchanged_rows.push((table, key, value));
                    }
                    continue;
                }
            }
            match runs.last_mut() {
                Some(run) if run.table == table && run.rows.end == index => run.rows.end += 1,
                _ => runs.push(Run {
                    table,
                    rows: index..index + 1,
                }),
            }
        }
        if mode == Mode::Replace {
            for key in local.into_keys() {
                deletes.push(delete(table, &key)?);
                if table == Table::Sessions {
                    removed_clients.insert(
                        key.str(0)
                            .map_err(|r| record_err(table, &key, r))?
                            .to_string(),
                    );
                }
                tp.remove.push(key);
            }
        }
        tables.push((table, tp));
    }
    let mut commands = deletes;
    put_runs(&contents, &runs, &mut commands)?;
    for (table, key, value) in unchanged_rows {
        let client = key.str(0).map_err(|r| record_err(table, key, r))?;
        if removed_clients.contains(client) {
            commands.push(put(table, key, value)?);
        }
    }
    Ok(Plan {
        mode,
        sets,
        tables,
        commands,
        batch_seq,
        archive: contents.clone(),
    })
}

/// Consecutive rows of one table in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    table: Table,
    rows: Range<usize>,
}

/// Rows to write at or above which the plan decodes them on two threads. Decoding is most
/// of a plan's time: 3.8 to 4.8 s for the 3.1 M rows of the reference set on one thread.
const PARALLEL_PUTS_MIN: usize = 1 << 16;

/// Append the command that writes each row of `runs` to `out`, in order. A large batch is
/// decoded in two halves at once, the second on a thread of its own.
fn put_runs(contents: &Contents, runs: &[Run], out: &mut Vec<Command>) -> Result<(), ImportError> {
    let total: usize = runs.iter().map(|r| r.rows.len()).sum();
    out.reserve(total);
    if total < PARALLEL_PUTS_MIN {
        return put_each(contents, runs, out);
    }
    let (first, second) = split_runs(runs, total / 2);
    let tail = std::thread::scope(|s| {
        let other = std::thread::Builder::new()
            .name("import-plan".into())
            .spawn_scoped(s, || {
                let mut tail = Vec::with_capacity(total - total / 2);
                put_each(contents, &second, &mut tail).map(|()| tail)
            });
        let head = put_each(contents, &first, out);
        let tail = match other {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: decode the second half here.
            Err(_) => {
                let mut tail = Vec::new();
                put_each(contents, &second, &mut tail).map(|()| tail)
            }
        };
        // The first bad row in archive order is the one reported.
        head.and(tail)
    })?;
    out.extend(tail);
    Ok(())
}

fn put_each(contents: &Contents, runs: &[Run], out: &mut Vec<Command>) -> Result<(), ImportError> {
    let mut courtesy = Courtesy::default();
    for run in runs {
        for (key, value) in &contents.rows(run.table)[run.rows.clone()] {
            courtesy.record(value.len());
            out.push(put(run.table, key, value)?);
        }
    }
    Ok(())
}

/// Split `runs` after their first `at` rows.
fn split_runs(runs: &[Run], at: usize) -> (Vec<Run>, Vec<Run>) {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut left = at;
    for run in runs {
        let n = run.rows.len();
        if left >= n {
            first.push(run.clone());
            left -= n;
        } else if left == 0 {
            second.push(run.clone());
        } else {
            let mid = run.rows.start + left;
            first.push(Run {
                table: run.table,
                rows: run.rows.start..mid,
            });
            second.push(Run {
                table: run.table,
                rows: mid..run.rows.end,
            });
            left = 0;
        }
    }
    (first, second)
}

fn put(table: Table, key: &Key, value: &[u8]) -> Result<Command, ImportError> {
    // Only verified archives are planned (`Archive<Verified>`): every value was checked in
    // full when it was read.
    value::put_command_verified(table, key, value).map_err(|r| record_err(table, key, r))
}

fn delete(table: Table, key: &Key) -> Result<Command, ImportError> {
    value::delete_command(table, key).map_err(|r| record_err(table, key, r))
}

fn record_err(table: Table, key: &Key, reason: String) -> ImportError {
    ImportError::Record {
        table,
        key: key.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(table: Table, rows: Range<usize>) -> Run {
        Run { table, rows }
    }

    #[test]
    fn runs_split_after_the_given_number_of_rows() {
        let runs = [
            run(Table::Users, 0..3),
            run(Table::Retained, 5..10),
            run(Table::Retained, 12..13),
        ];
        let rows = |rs: &[Run]| rs.iter().map(|r| r.rows.len()).sum::<usize>();
        for at in 0..=9 {
            let (first, second) = split_runs(&runs, at);
            assert_eq!(rows(&first), at, "at {at}");
            assert_eq!(rows(&second), 9 - at, "at {at}");
            // Put back together, they are the runs, row by row.
            let flat = |rs: &[Run]| {
                rs.iter()
                    .flat_map(|r| r.rows.clone().map(move |i| (r.table, i)))
                    .collect::<Vec<_>>()
            };
            let mut joined = flat(&first);
            joined.extend(flat(&second));
            assert_eq!(joined, flat(&runs), "at {at}");
        }
        let (first, second) = split_runs(&runs, 4);
        assert_eq!(first, [run(Table::Users, 0..3), run(Table::Retained, 5..6)]);
        assert_eq!(
            second,
            [run(Table::Retained, 6..10), run(Table::Retained, 12..13)]
        );
    }
}
