//! `POST /api/v1/data/export`: write one consistent cut of the store (the selected sets) and
//! the node's config file into `<data_dir>/backup/holdfast-export-<UTC time>.<hfx|json>`.
//!
//! The library reads every table from one store read snapshot while the broker keeps
//! serving, writes `<file>.tmp` (mode 0600), fsyncs and renames it. The request returns when
//! the file is complete; its answer names the file, its size, the cut and the counts. Run as
//! a job (`?async=true`), it answers at once and the job reports the records written of the
//! total at the cut and the archive bytes written (the library's progress callback).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use holdfast_backup::{
    ConfigFile, ExportError, ExportOptions, NodeId, Progress, Set, default_file_name,
};
use holdfast_server::time::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::jobs::{AsyncQuery, accepted, wants_async};
use super::{
    ArchiveFormat, SetName, TableCount, background, backup_dir, counted, elapsed_ms,
    ensure_backup_dir, set_names, table_counts,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::jobs::{Job, JobKind, JobPhase, JobProgress, JobResult};
use crate::state::AppState;

/// `POST /api/v1/data/export`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Sets to export (default: all four).
    #[schema(min_items = 1)]
    pub sets: Option<Vec<SetName>>,
    /// `binary` (default, `.hfx`) or `json`.
    pub format: Option<ArchiveFormat>,
}

/// The cut an archive holds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CutView {
    /// Batches the store had committed at the snapshot: every table shows exactly those.
    pub batch_seq: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportResult {
    /// File name in the backup dir (for `/api/v1/data/files/{name}` and import).
    pub name: String,
    /// Full path on the node.
    pub path: String,
    pub format: ArchiveFormat,
    /// Size of the archive file.
    pub bytes: u64,
    pub duration_ms: u64,
    pub cut: CutView,
    /// Export start, Unix milliseconds, and the same in RFC 3339 (UTC).
    pub created_at_ms: u64,
    pub created_at: String,
    pub sets: Vec<String>,
    pub tables: Vec<TableCount>,
    pub records_total: u64,
    /// Node config files included.
    pub config_files: Vec<String>,
}

/// Export the store to an archive in the node's backup dir.
#[utoipa::path(post, path = "/api/v1/data/export", operation_id = "export_data", tag = "data",
    params(AsyncQuery,
        ("Prefer" = Option<String>, Header, description = "`respond-async`: run as a job, as `?async=true`")),
    request_body = ExportRequest,
    responses(
        (status = 201, description = "The archive is written and complete", body = ExportResult),
        (status = 202, description = "Running as a job (`?async=true` or `Prefer: respond-async`): follow `Location`, `/api/v1/data/jobs/{id}`", body = Job,
            headers(("Location" = String, description = "The job: /api/v1/data/jobs/{id}"))),
        (status = 400, description = "Invalid sets or format", body = ErrorBody),
        (status = 409, description = "Too many data jobs are running", body = ErrorBody)))]
pub async fn export(
    State(st): State<AppState>,
    QueryParams(q): QueryParams<AsyncQuery>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: ExportRequest = super::body_object(req)?;
    let sets: Vec<Set> = match req.sets {
        Some(s) if s.is_empty() => return Err(ApiError::bad("sets must name at least one set")),
        Some(s) => s.into_iter().map(Set::from).collect(),
        None => Set::ALL.to_vec(),
    };
    let format = req.format.unwrap_or_default();
    if wants_async(&q, &headers) {
        let jobs = st.jobs.clone();
        let job = jobs.spawn(JobKind::Export, |progress| async move {
            run(st, sets, format, progress).await.map(JobResult::Export)
        })?;
        return Ok(accepted(&job));
    }
    let result = run(st, sets, format, JobProgress::detached(JobKind::Export)).await?;
    Ok((StatusCode::CREATED, Json(result)).into_response())
}

/// [`write`], counted in the node's data-job figures.
async fn run(
    st: AppState,
    sets: Vec<Set>,
    format: ArchiveFormat,
    progress: Arc<JobProgress>,
) -> Result<ExportResult, ApiError> {
    let stats = st.data_stats.clone();
    let work = write(st, sets, format, progress);
    counted(&stats, JobKind::Export, work, |r| r.bytes).await
}

/// Write the archive, reporting records and bytes to `progress` as it goes.
async fn write(
    st: AppState,
    sets: Vec<Set>,
    format: ArchiveFormat,
    progress: Arc<JobProgress>,
) -> Result<ExportResult, ApiError> {
    let source =
        NodeId::new(st.node.id.clone()).map_err(|e| ApiError::Internal(format!("node id: {e}")))?;
    let dir = backup_dir(&st);
    let config_file = st.node.config_file.clone();
    let store = st.broker.log_handle();
    let result = background("holdfast-export", move || {
        ensure_backup_dir(&dir)?;
        let created_at_ms = now_ms();
        let name = default_file_name(created_at_ms, format.into());
        progress.phase(JobPhase::Reading);
        let mut on_progress = |p: Progress| {
            progress.phase(JobPhase::Writing);
            progress.records(p.records, Some(p.records_total));
            progress.bytes(p.archive_bytes, None);
        };
        let opts = ExportOptions {
            sets,
            format: format.into(),
            config_files: read_config_file(config_file.as_deref())?,
            source_nodes: vec![source],
            created_at_ms: Some(created_at_ms),
            progress: Some(&mut on_progress),
            ..ExportOptions::default()
        };
        let started = Instant::now();
        // The name is reserved atomically: exports started in the same second each get
        // their own file (`<name>-1.hfx`, ...), and each report describes its own.
        let report =
            holdfast_backup::export_new(&*store, opts, &dir, &name).map_err(export_error)?;
        let m = &report.manifest;
        progress.records(m.records_total(), Some(m.records_total()));
        progress.bytes(report.archive_bytes, Some(report.archive_bytes));
        Ok(ExportResult {
            name: file_name(&report.path),
            path: report.path.display().to_string(),
            format: report.format.into(),
            bytes: report.archive_bytes,
            duration_ms: elapsed_ms(started),
            cut: CutView {
                batch_seq: m.cut.batch_seq,
            },
            created_at_ms: m.created_at_ms,
            created_at: m.created_at.clone(),
            sets: set_names(&m.sets),
            tables: table_counts(m),
            records_total: m.records_total(),
            config_files: m.config_files.iter().map(|f| f.name.clone()).collect(),
        })
    })
    .await?;
    tracing::info!(
        file = %result.name,
        bytes = result.bytes,
        records = result.records_total,
        cut = result.cut.batch_seq,
        duration_ms = result.duration_ms,
        "admin: export written"
    );
    Ok(result)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The node's config file, to carry in the archive (none when the node runs without one).
fn read_config_file(path: Option<&Path>) -> Result<Vec<ConfigFile>, ApiError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let bytes = std::fs::read(path).map_err(|e| {
        ApiError::Internal(format!(
            "cannot read the node config file {}: {e}",
            path.display()
        ))
    })?;
    Ok(vec![ConfigFile {
        name: file_name(path),
        bytes,
    }])
}

fn export_error(e: ExportError) -> ApiError {
    match e {
        ExportError::Exists(_) => ApiError::Conflict(e.to_string()),
        ExportError::Option(_) => ApiError::bad(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}
