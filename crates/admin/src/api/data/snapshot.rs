//! `POST /api/v1/data/snapshot`: a hot, node-bound snapshot of this node into a dir on its
//! machine (see [`crate::snapshot`]): a consistent copy of the store taken while serving,
//! the identity, the bootstrap key file and the config file, with a checksummed manifest.
//! `holdfast restore-snapshot DIR --data-dir D` restores it offline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::jobs::{AsyncQuery, accepted, wants_async};
use super::{background, blocking, counted, elapsed_ms};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::jobs::{Job, JobKind, JobPhase, JobProgress, JobResult};
use crate::snapshot::{
    SnapshotError, SnapshotManifest, SnapshotSource, SnapshotStep, prepare_dir, write_snapshot,
};
use crate::state::AppState;

/// `POST /api/v1/data/snapshot`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRequest {
    /// Absolute path, on the node's machine, of a new dir (its parent must exist) or an empty
    /// one.
    #[schema(min_length = 2, pattern = "^/")]
    pub dir: String,
}

/// A finished snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotResult {
    pub dir: String,
    pub duration_ms: u64,
    /// Total size of the snapshot's files.
    pub bytes: u64,
    /// What `SNAPSHOT.json` says.
    pub manifest: SnapshotManifest,
}

/// Write a hot snapshot of this node into a dir on its machine.
#[utoipa::path(post, path = "/api/v1/data/snapshot", operation_id = "snapshot_data", tag = "data",
    params(AsyncQuery,
        ("Prefer" = Option<String>, Header, description = "`respond-async`: run as a job, as `?async=true`")),
    request_body = SnapshotRequest,
    responses(
        (status = 201, description = "The snapshot is complete", body = SnapshotResult),
        (status = 202, description = "Running as a job (`?async=true` or `Prefer: respond-async`): follow `Location`, `/api/v1/data/jobs/{id}`", body = Job,
            headers(("Location" = String, description = "The job: /api/v1/data/jobs/{id}"))),
        (status = 400, description = "Invalid dir", body = ErrorBody),
        (status = 409, description = "The dir is not empty, or too many data jobs are running", body = ErrorBody)))]
pub async fn snapshot(
    State(st): State<AppState>,
    QueryParams(q): QueryParams<AsyncQuery>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: SnapshotRequest = super::body_object(req)?;
    let dir = PathBuf::from(&req.dir);
    if wants_async(&q, &headers) {
        // A dir that cannot take the snapshot is refused before a job starts.
        let target = dir.clone();
        blocking(move || prepare_dir(&target).map_err(snapshot_error)).await?;
        let jobs = st.jobs.clone();
        let job = jobs.spawn(JobKind::Snapshot, |progress| async move {
            run(st, dir, progress).await.map(JobResult::Snapshot)
        })?;
        return Ok(accepted(&job));
    }
    let result = run(st, dir, JobProgress::detached(JobKind::Snapshot)).await?;
    Ok((StatusCode::CREATED, Json(result)).into_response())
}

/// [`write`], counted in the node's data-job figures.
async fn run(
    st: AppState,
    dir: PathBuf,
    progress: Arc<JobProgress>,
) -> Result<SnapshotResult, ApiError> {
    let stats = st.data_stats.clone();
    counted(&stats, JobKind::Snapshot, write(st, dir, progress), |r| {
        r.bytes
    })
    .await
}

/// Write the snapshot, reporting its steps to `progress`.
async fn write(
    st: AppState,
    dir: PathBuf,
    progress: Arc<JobProgress>,
) -> Result<SnapshotResult, ApiError> {
    let started = Instant::now();
    let node = st.node.clone();
    let store = st.broker.log_handle();
    // At the lowest priority, like an export: the node keeps serving.
    let result = background("holdfast-snapshot", move || {
        let src = SnapshotSource {
            store: &*store,
            data_dir: &node.data_dir,
            config_file: node.config_file.as_deref(),
            node_id: &node.id,
            node_name: &node.name,
        };
        let mut on_step = |step| match step {
            SnapshotStep::Copying => progress.phase(JobPhase::Copying),
            SnapshotStep::Copied { records } => progress.records(records, Some(records)),
            SnapshotStep::Hashing { bytes, bytes_total } => {
                progress.phase(JobPhase::Hashing);
                progress.bytes(bytes, Some(bytes_total));
            }
        };
        let manifest = write_snapshot(&src, &dir, &mut on_step).map_err(snapshot_error)?;
        Ok(SnapshotResult {
            dir: dir.display().to_string(),
            duration_ms: elapsed_ms(started),
            bytes: manifest.files.iter().map(|f| f.bytes).sum(),
            manifest,
        })
    })
    .await?;
    tracing::info!(
        dir = %result.dir,
        bytes = result.bytes,
        cut = result.manifest.batch_seq,
        duration_ms = result.duration_ms,
        "admin: snapshot written"
    );
    Ok(result)
}

fn snapshot_error(e: SnapshotError) -> ApiError {
    match e {
        SnapshotError::Dir { .. } => ApiError::bad(e.to_string()),
        SnapshotError::NotEmpty(_) => ApiError::Conflict(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}
