//! [`Jobs`]: long data operations (export, import, snapshot) run as jobs on the node, so that
//! a client can start one, go away, and watch it: `POST /api/v1/data/export?async=true`
//! answers 202 with a job id at once, and `GET /api/v1/data/jobs/{id}` reports its live
//! counters (records done of the total at the cut, bytes written), then its result or error.
//!
//! The work itself reports through a [`JobProgress`], which the synchronous form of the same
//! endpoints also passes (a detached one nobody reads), so both forms run the same code.
//!
//! Jobs live in memory only: a restart forgets them (the archive or snapshot a finished job
//! wrote stays on disk). The registry is bounded: at most [`JOBS_RUNNING_MAX`] run at once
//! (another start is refused with 409) and the last [`JOBS_FINISHED_MAX`] finished ones are
//! kept for their state, result and error; older ones are forgotten (404).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use holdfast_server::time::now_ms;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::data::export::ExportResult;
use crate::api::data::import::ImportResult;
use crate::api::data::snapshot::SnapshotResult;
use crate::error::ApiError;

/// Jobs that may run at once (each holds a store read snapshot and a blocking thread).
pub const JOBS_RUNNING_MAX: usize = 4;
/// Finished jobs kept for `GET /api/v1/data/jobs/{id}`; older ones are forgotten.
pub const JOBS_FINISHED_MAX: usize = 32;

/// A job's id: 16 hex digits, random, so that an id from before a restart is never taken
/// for another job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    fn random() -> JobId {
        JobId(format!("{:016x}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Export,
    Import,
    Snapshot,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    /// Done: `result` holds what the synchronous request would have answered.
    Succeeded,
    /// Done: `error` says why, `error_status` is the HTTP status the synchronous request
    /// would have answered with.
    Failed,
}

/// The step a job is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobPhase {
    /// Accepted, not yet at work.
    Starting,
    /// Export: taking the read snapshot and reading the tables (the JSON form reads them
    /// once for its manifest before writing).
    Reading,
    /// Export: writing records into the archive (`records_done` of `records_total`), then
    /// its manifest, fsync and rename.
    Writing,
    /// Import: checking every checksum and record of the archive.
    Verifying,
    /// Import: diffing the archive against a store snapshot.
    Planning,
    /// Import: waiting for another import or admin write to finish.
    Waiting,
    /// Import: committing the one batch and reloading the running broker.
    Applying,
    /// Snapshot: copying the store from one read transaction.
    Copying,
    /// Snapshot: hashing every file for its manifest (`bytes` of `bytes_total`).
    Hashing,
    /// Finished, either way.
    Done,
}

/// What a succeeded job produced: the answer of the synchronous request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum JobResult {
    Export(ExportResult),
    Import(Box<ImportResult>),
    Snapshot(SnapshotResult),
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub state: JobState,
    pub phase: JobPhase,
    /// Records written (export), applied (import) or copied (snapshot) so far.
    pub records_done: u64,
    /// Records the job handles in all: for an export, the selected tables' records at the
    /// cut (known once the read snapshot is taken); for an import, the archive's. Null
    /// while unknown.
    pub records_total: Option<u64>,
    /// Bytes written so far: the archive (export, compressed for `binary`), the files hashed
    /// (snapshot).
    pub bytes: u64,
    /// Bytes in all, when known beforehand (import: the archive file; snapshot: while
    /// hashing).
    pub bytes_total: Option<u64>,
    /// Unix milliseconds.
    pub started_at_ms: u64,
    pub finished_at_ms: Option<u64>,
    /// Time since the start (until the end, once finished).
    pub elapsed_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// The HTTP status the synchronous request would have failed with.
    pub error_status: Option<u16>,
    /// What it produced, once succeeded.
    pub result: Option<JobResult>,
}

/// The counters a job's work updates.
#[derive(Debug, Clone)]
struct Counters {
    phase: JobPhase,
    records_done: u64,
    records_total: Option<u64>,
    bytes: u64,
    bytes_total: Option<u64>,
    finished: Option<Finished>,
}

/// How and when a job ended.
#[derive(Debug, Clone)]
struct Finished {
    at: Instant,
    at_ms: u64,
    /// The result, or the HTTP status and message of the error.
    outcome: Result<JobResult, (u16, String)>,
}

/// The live state of one job, shared by its work (which writes it) and the API (which reads
/// it).
#[derive(Debug)]
pub struct JobProgress {
    id: JobId,
    kind: JobKind,
    started: Instant,
    started_at_ms: u64,
    counters: Mutex<Counters>,
}

impl JobProgress {
    fn new(kind: JobKind) -> JobProgress {
        JobProgress {
            id: JobId::random(),
            kind,
            started: Instant::now(),
            started_at_ms: now_ms(),
            counters: Mutex::new(Counters {
                phase: JobPhase::Starting,
                records_done: 0,
                records_total: None,
                bytes: 0,
                bytes_total: None,
                finished: None,
            }),
        }
    }

    /// Progress that nobody watches: the synchronous form of a request.
    pub fn detached(kind: JobKind) -> Arc<JobProgress> {
        Arc::new(JobProgress::new(kind))
    }

    pub fn id(&self) -> &JobId {
        &self.id
    }

    pub fn phase(&self, phase: JobPhase) {
        self.counters.lock().phase = phase;
    }

    /// Records done of a total (the total may become known only now).
    pub fn records(&self, done: u64, total: Option<u64>) {
        let mut c = self.counters.lock();
        c.records_done = done;
        if total.is_some() {
            c.records_total = total;
        }
    }

    /// Bytes done, of a total when known.
    pub fn bytes(&self, done: u64, total: Option<u64>) {
        let mut c = self.counters.lock();
        c.bytes = done;
        if total.is_some() {
            c.bytes_total = total;
        }
    }

    fn finish(&self, outcome: Result<JobResult, ApiError>) {
        let outcome = outcome.map_err(|e| (e.status().as_u16(), e.to_string()));
        let mut c = self.counters.lock();
        c.phase = JobPhase::Done;
        c.finished = Some(Finished {
            at: Instant::now(),
            at_ms: now_ms(),
            outcome,
        });
    }

    fn is_finished(&self) -> bool {
        self.counters.lock().finished.is_some()
    }

    /// The job as the API shows it.
    pub fn view(&self) -> Job {
        let c = self.counters.lock().clone();
        let (state, finished_at_ms, elapsed, error, error_status, result) = match c.finished {
            None => (
                JobState::Running,
                None,
                self.started.elapsed(),
                None,
                None,
                None,
            ),
            Some(Finished {
                at,
                at_ms,
                outcome: Ok(r),
            }) => (
                JobState::Succeeded,
                Some(at_ms),
                at - self.started,
                None,
                None,
                Some(r),
            ),
            Some(Finished {
                at,
                at_ms,
                outcome: Err((status, msg)),
            }) => (
                JobState::Failed,
                Some(at_ms),
                at - self.started,
                Some(msg),
                Some(status),
                None,
            ),
        };
        Job {
            id: self.id.clone(),
            kind: self.kind,
            state,
            phase: c.phase,
            records_done: c.records_done,
            records_total: c.records_total,
            bytes: c.bytes,
            bytes_total: c.bytes_total,
            started_at_ms: self.started_at_ms,
            finished_at_ms,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            error,
            error_status,
            result,
        }
    }
}

/// Marks its job failed if the work ends without reporting (a panic, a cancelled task), so
/// that no job stays `running` forever.
struct FinishOnDrop(Arc<JobProgress>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.finish(Err(ApiError::Internal(
                "the job stopped before finishing (see the node's log)".into(),
            )));
        }
    }
}

/// The node's data jobs, running and recently finished, oldest first.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Mutex<VecDeque<Arc<JobProgress>>>,
}

impl Jobs {
    /// Start `work` as a job of `kind` on the runtime; returns the job at once. Refused
    /// (409) when [`JOBS_RUNNING_MAX`] jobs are running.
    pub fn spawn<F, Fut>(&self, kind: JobKind, work: F) -> Result<Arc<JobProgress>, ApiError>
    where
        F: FnOnce(Arc<JobProgress>) -> Fut,
        Fut: Future<Output = Result<JobResult, ApiError>> + Send + 'static,
    {
        let job = Arc::new(JobProgress::new(kind));
        {
            let mut jobs = self.jobs.lock();
            let running = jobs.iter().filter(|j| !j.is_finished()).count();
            if running >= JOBS_RUNNING_MAX {
                return Err(ApiError::Conflict(format!(
                    "{running} data jobs are running, the most this node runs at once; wait \
                     for one to finish (GET /api/v1/data/jobs)"
                )));
            }
            jobs.push_back(job.clone());
            prune(&mut jobs);
        }
        let fut = work(job.clone());
        let guard = FinishOnDrop(job.clone());
        tokio::spawn(async move {
            let outcome = fut.await;
            if let Err(e) = &outcome {
                tracing::warn!(job = %guard.0.id, kind = ?guard.0.kind, error = %e, "admin: data job failed");
            }
            guard.0.finish(outcome);
        });
        Ok(job)
    }

    /// A job by id, running or among the last finished.
    pub fn get(&self, id: &str) -> Option<Job> {
        let jobs = self.jobs.lock();
        jobs.iter().find(|j| j.id.as_str() == id).map(|j| j.view())
    }

    /// Every job kept, oldest first.
    pub fn list(&self) -> Vec<Job> {
        let mut jobs = self.jobs.lock();
        prune(&mut jobs);
        jobs.iter().map(|j| j.view()).collect()
    }
}

/// Forget the oldest finished jobs beyond [`JOBS_FINISHED_MAX`].
fn prune(jobs: &mut VecDeque<Arc<JobProgress>>) {
    let mut finished = jobs.iter().filter(|j| j.is_finished()).count();
    jobs.retain(|j| {
        if finished > JOBS_FINISHED_MAX && j.is_finished() {
            finished -= 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(kind: JobKind) -> Arc<JobProgress> {
        let j = Arc::new(JobProgress::new(kind));
        j.finish(Err(ApiError::bad("no")));
        j
    }

    #[test]
    fn only_the_last_finished_jobs_are_kept() {
        let mut jobs: VecDeque<_> = (0..JOBS_FINISHED_MAX + 5)
            .map(|_| failed(JobKind::Export))
            .collect();
        let running = Arc::new(JobProgress::new(JobKind::Import));
        jobs.push_front(running.clone());
        let newest = jobs.back().expect("jobs").id.clone();
        prune(&mut jobs);
        assert_eq!(jobs.len(), JOBS_FINISHED_MAX + 1);
        assert_eq!(
            jobs.front().expect("jobs").id,
            running.id,
            "running jobs stay"
        );
        assert_eq!(jobs.back().expect("jobs").id, newest);
    }

    #[test]
    fn a_view_shows_counters_then_the_outcome() {
        let j = JobProgress::new(JobKind::Export);
        j.phase(JobPhase::Writing);
        j.records(10, Some(40));
        j.records(20, None);
        j.bytes(512, None);
        let v = j.view();
        assert_eq!(
            (v.state, v.phase, v.records_done, v.records_total, v.bytes),
            (JobState::Running, JobPhase::Writing, 20, Some(40), 512)
        );
        j.finish(Err(ApiError::Conflict("taken".into())));
        let v = j.view();
        assert_eq!((v.state, v.phase), (JobState::Failed, JobPhase::Done));
        assert_eq!(v.error_status, Some(409));
        assert_eq!(v.error.as_deref(), Some("taken"));
        assert!(v.finished_at_ms.is_some() && v.result.is_none());
    }

    #[test]
    fn ids_are_16_hex_digits() {
        let id = JobId::random();
        assert_eq!(id.as_str().len(), 16);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
