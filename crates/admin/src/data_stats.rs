//! [`DataStats`]: what the node's data jobs (export, import, snapshot) did since it started,
//! for `/metrics`. An operator alerts on a backup that stopped happening, for example
//! `time() - holdfast_data_last_success_timestamp_seconds{kind="export"} > 86400`, and on
//! `increase(holdfast_data_jobs_failed_total[1h]) > 0`.
//!
//! A job counts once it has run, synchronous or as an async job: a request refused before
//! it starts (a bad body, too many jobs) does not, and neither does an import's dry run,
//! which changes nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::jobs::JobKind;

/// The last successful run of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSuccess {
    /// When it finished, Unix milliseconds.
    pub finished_at_ms: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Bytes it wrote (the archive, the snapshot's files) or read (an import's archive).
    pub bytes: u64,
}

/// The figures of one kind of job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindFigures {
    pub succeeded: u64,
    pub failed: u64,
    pub last_success: Option<LastSuccess>,
}

#[derive(Debug, Default)]
struct Kind {
    succeeded: AtomicU64,
    failed: AtomicU64,
    last_success: Mutex<Option<LastSuccess>>,
}

/// Counts and last successes of the data jobs, per kind.
#[derive(Debug, Default)]
pub struct DataStats {
    export: Kind,
    import: Kind,
    snapshot: Kind,
}

impl DataStats {
    fn kind(&self, kind: JobKind) -> &Kind {
        match kind {
            JobKind::Export => &self.export,
            JobKind::Import => &self.import,
            JobKind::Snapshot => &self.snapshot,
        }
    }

    /// A job of `kind` succeeded.
    pub fn succeeded(&self, kind: JobKind, run: LastSuccess) {
        let k = self.kind(kind);
        k.succeeded.fetch_add(1, Ordering::Relaxed);
        *k.last_success.lock() = Some(run);
    }

    /// A job of `kind` failed.
    pub fn failed(&self, kind: JobKind) {
        self.kind(kind).failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures of `kind` now.
    pub fn figures(&self, kind: JobKind) -> KindFigures {
        let k = self.kind(kind);
        KindFigures {
            succeeded: k.succeeded.load(Ordering::Relaxed),
            failed: k.failed.load(Ordering::Relaxed),
            last_success: *k.last_success.lock(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_keeps_its_own_counts_and_last_success() {
        let s = DataStats::default();
        assert_eq!(s.figures(JobKind::Export), KindFigures::default());
        let first = LastSuccess {
            finished_at_ms: 1_000,
            duration_ms: 20,
            bytes: 300,
        };
        let second = LastSuccess {
            finished_at_ms: 2_000,
            duration_ms: 10,
            bytes: 400,
        };
        s.succeeded(JobKind::Export, first);
        s.succeeded(JobKind::Export, second);
        s.failed(JobKind::Import);
        let e = s.figures(JobKind::Export);
        assert_eq!((e.succeeded, e.failed), (2, 0));
        assert_eq!(e.last_success, Some(second), "the last one is kept");
        let i = s.figures(JobKind::Import);
        assert_eq!((i.succeeded, i.failed, i.last_success), (0, 1, None));
        assert_eq!(s.figures(JobKind::Snapshot), KindFigures::default());
    }
}
