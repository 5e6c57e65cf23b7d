//! `POST /api/v1/data/import`: verify an archive from the backup dir, plan it against the
//! store, and (unless `dry_run`) apply it as ONE batch that the running broker mirrors at
//! once (`Broker::apply_import`): imported users can log in, ACL rules and bans hold,
//! retained messages are served and sessions are there for their clients, without a restart.
//!
//! Order: verify everything (every checksum and record; with `restore_node_config`, that the
//! config file is a valid holdfast config) → plan → refuse a `replace` that would delete the
//! caller's own API key → commit → restore the node config file (previous kept as `.bak`).
//! Any failure before the commit changes nothing. If the store moved between the plan's
//! snapshot and the commit, the plan is made again at the commit (under the broker's connect
//! lock, after every earlier write has committed: `Broker::apply_import`), so `replace`
//! removes rows written in the meantime too; only acknowledgements that clients already
//! connected send during that re-plan can still land just before the batch.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use holdfast_backup::{Archive, ImportError, KeyPart, Mode, PlanOptions, Set, Table};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::export::CutView;
use super::jobs::{AsyncQuery, accepted, wants_async};
use super::{
    ArchiveFormat, SetName, background, blocking, counted, elapsed_ms, existing_file, node_config,
    set_names,
};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, QueryParams};
use crate::jobs::{Job, JobKind, JobPhase, JobProgress, JobResult};
use crate::state::AppState;

/// How an import treats local records the archive does not hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Archive records overwrite the same keys; local extras stay.
    #[default]
    Merge,
    /// The selected sets become equal to the archive.
    Replace,
}

impl From<ImportMode> for Mode {
    fn from(m: ImportMode) -> Mode {
        match m {
            ImportMode::Merge => Mode::Merge,
            ImportMode::Replace => Mode::Replace,
        }
    }
}

/// `POST /api/v1/data/import`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Archive file name in the backup dir (upload it first with `POST /api/v1/data/files`).
    #[schema(min_length = 1, max_length = 128)]
    pub file: String,
    /// `merge` (default) or `replace`.
    pub mode: Option<ImportMode>,
    /// Sets to import (default: every set the archive holds).
    #[schema(min_items = 1)]
    pub sets: Option<Vec<SetName>>,
    /// Only verify and plan; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Also replace the node's config file with the archive's (the previous one is kept as
    /// `<file>.bak`); its settings take effect at the next start.
    #[serde(default)]
    pub restore_node_config: bool,
}

/// The archive an import read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveInfo {
    pub format: ArchiveFormat,
    pub broker_version: String,
    pub created_at: String,
    pub cut: CutView,
    /// Ids of the nodes the state came from.
    pub source_nodes: Vec<String>,
    pub sets: Vec<String>,
    pub records_total: u64,
}

/// The change to one table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableChange {
    pub table: String,
    pub add: u64,
    pub change: u64,
    pub remove: u64,
    pub unchanged: u64,
}

/// What applying the plan did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// Store commands in the one batch.
    pub commands: u64,
    /// The store had moved since the plan was made, so the plan was made again at the
    /// commit (`plan` then reports the counts applied).
    pub replanned: bool,
    /// Sessions rebuilt from the store in the running broker.
    pub sessions_reloaded: u64,
    /// Connected clients disconnected because their session was replaced (they reconnect to
    /// the imported one).
    pub clients_disconnected: u64,
    /// Retained topics reloaded.
    pub retained_reloaded: u64,
    /// Auth and cluster-config records mirrored into the running broker.
    pub auth_changes: u64,
    /// How long connects and routing waited for the commit.
    pub paused_ms: u64,
}

/// The node config file an import restored (or would restore).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeConfigRestore {
    /// The node's config file.
    pub path: String,
    /// Where the previous file was kept (null in a dry run, or when there was none).
    pub previous: Option<String>,
    pub written: bool,
    /// Settings whose values differ from the file in use.
    pub changed_keys: Vec<String>,
}

/// What an import found, planned and did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportResult {
    pub file: String,
    pub dry_run: bool,
    pub mode: ImportMode,
    /// Sets imported.
    pub sets: Vec<String>,
    pub archive: ArchiveInfo,
    /// The target store's batch sequence the plan was made at.
    pub target_batch_seq: u64,
    /// Per table: records to add, change and remove.
    pub plan: Vec<TableChange>,
    /// Null in a dry run.
    pub applied: Option<Applied>,
    pub node_config: Option<NodeConfigRestore>,
    /// What takes effect only at the next start.
    pub restart_required: Vec<String>,
    pub verify_ms: u64,
    pub plan_ms: u64,
    pub duration_ms: u64,
}

/// Verify, plan and (unless `dry_run`) apply an archive from the backup dir.
#[utoipa::path(post, path = "/api/v1/data/import", operation_id = "import_data", tag = "data",
    params(AsyncQuery,
        ("Prefer" = Option<String>, Header, description = "`respond-async`: run as a job, as `?async=true`")),
    request_body = ImportRequest,
    responses(
        (status = 200, description = "Planned, and applied unless dry_run", body = ImportResult),
        (status = 202, description = "Running as a job (`?async=true` or `Prefer: respond-async`): follow `Location`, `/api/v1/data/jobs/{id}`", body = Job,
            headers(("Location" = String, description = "The job: /api/v1/data/jobs/{id}"))),
        (status = 400, description = "The archive failed verification, or a bad request; nothing changed", body = ErrorBody),
        (status = 404, description = "No such archive", body = ErrorBody),
        (status = 409, description = "The import would delete the API key making the request (nothing changed), or too many data jobs are running", body = ErrorBody)))]
pub async fn import(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<AsyncQuery>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: ImportRequest = super::body_object(req)?;
    // Checked before a job starts, so that a wrong request fails at once either way.
    let checked = Checked::new(&st, req)?;
    if wants_async(&q, &headers) {
        let jobs = st.jobs.clone();
        let job = jobs.spawn(JobKind::Import, |progress| async move {
            run(st, caller, checked, progress)
                .await
                .map(|r| JobResult::Import(Box::new(r)))
        })?;
        return Ok(accepted(&job));
    }
    let result = run(st, caller, checked, JobProgress::detached(JobKind::Import)).await?;
    Ok(Json(result).into_response())
}

/// An import request whose file, sets and config destination are checked.
struct Checked {
    req: ImportRequest,
    path: std::path::PathBuf,
    mode: ImportMode,
    sets: Option<Vec<Set>>,
    config_dest: Option<std::path::PathBuf>,
}

impl Checked {
    fn new(st: &AppState, req: ImportRequest) -> Result<Checked, ApiError> {
        let path = existing_file(st, &req.file)?;
        let mode = req.mode.unwrap_or_default();
        let sets: Option<Vec<Set>> = match &req.sets {
            Some(s) if s.is_empty() => {
                return Err(ApiError::bad("sets must name at least one set"));
            }
            Some(s) => Some(s.iter().copied().map(Set::from).collect()),
            None => None,
        };
        let config_dest = match (req.restore_node_config, &st.node.config_file) {
            (false, _) => None,
            (true, Some(p)) => Some(p.clone()),
            (true, None) => {
                return Err(ApiError::bad(
                    "restore_node_config: this node was started without a config file, so \
                     there is none to replace; start it with --config PATH (the file may be \
                     empty) and retry",
                ));
            }
        };
        Ok(Checked {
            req,
            path,
            mode,
            sets,
            config_dest,
        })
    }
}

/// [`import_archive`], counted in the node's data-job figures with the archive's size, unless
/// it is a dry run (which changes nothing).
async fn run(
    st: AppState,
    caller: Caller,
    checked: Checked,
    progress: Arc<JobProgress>,
) -> Result<ImportResult, ApiError> {
    if checked.req.dry_run {
        return import_archive(st, caller, checked, progress).await;
    }
    let stats = st.data_stats.clone();
    let bytes = std::fs::metadata(&checked.path).map_or(0, |m| m.len());
    let work = import_archive(st, caller, checked, progress);
    counted(&stats, JobKind::Import, work, |_| bytes).await
}

/// The import itself, reporting its phases to `progress`: the archive's bytes and records
/// once verified, then waiting for other writes, planning, and the commit.
async fn import_archive(
    st: AppState,
    caller: Caller,
    checked: Checked,
    progress: Arc<JobProgress>,
) -> Result<ImportResult, ApiError> {
    let started = Instant::now();
    let Checked {
        req,
        path,
        mode,
        sets,
        config_dest,
    } = checked;
    let archive_bytes = std::fs::metadata(&path).map(|m| m.len()).ok();
    progress.phase(JobPhase::Verifying);
    progress.bytes(0, archive_bytes);
    // Verify and plan at the lowest priority, like an export: the node keeps serving.
    let archive = background("holdfast-import", move || {
        Archive::open(&path)
            .and_then(Archive::verify)
            .map_err(|e| ApiError::bad(format!("{e}; nothing was imported")))
    })
    .await?;
    let verify_ms = elapsed_ms(started);
    let m = archive.manifest();
    progress.records(m.records_total(), Some(m.records_total()));
    progress.bytes(archive_bytes.unwrap_or(0), None);
    let info = ArchiveInfo {
        format: archive.format().into(),
        broker_version: m.broker_version.clone(),
        created_at: m.created_at.clone(),
        cut: CutView {
            batch_seq: m.cut.batch_seq,
        },
        source_nodes: m.source_nodes.iter().map(|n| n.to_string()).collect(),
        sets: set_names(&m.sets),
        records_total: m.records_total(),
    };
    let config = match &config_dest {
        Some(dest) => {
            let file = node_config::pick(&archive, dest)?;
            node_config::check(file).map_err(|r| {
                ApiError::bad(format!(
                    "config file {}: {r}; nothing was imported",
                    file.name
                ))
            })?;
            let current = std::fs::read_to_string(dest).ok();
            let changed = node_config::changed_keys(current.as_deref(), &file.bytes);
            Some((dest.clone(), file.name.clone(), changed))
        }
        None => None,
    };
    // One import or admin write at a time, from the plan to the commit.
    progress.phase(JobPhase::Waiting);
    let _writes = st.writes.lock().await;
    progress.phase(JobPhase::Planning);
    let plan_started = Instant::now();
    let store = st.broker.log_handle();
    let (archive, plan) = background("holdfast-import", move || {
        let opts = PlanOptions {
            mode: mode.into(),
            sets: sets.as_deref(),
            config_check: None,
        };
        let snapshot = store.snapshot()?;
        let plan = holdfast_backup::plan(&archive, &snapshot, &opts).map_err(import_error)?;
        Ok((archive, plan))
    })
    .await?;
    let plan_ms = elapsed_ms(plan_started);
    check_caller_kept(&plan, &caller)?;
    let mut result = ImportResult {
        file: req.file.clone(),
        dry_run: req.dry_run,
        mode,
        sets: set_names(plan.sets()),
        archive: info,
        target_batch_seq: plan.batch_seq(),
        plan: table_changes(&plan),
        applied: None,
        node_config: config.as_ref().map(|(dest, _, changed)| NodeConfigRestore {
            path: dest.display().to_string(),
            previous: None,
            written: false,
            changed_keys: changed.clone(),
        }),
        restart_required: Vec::new(),
        verify_ms,
        plan_ms,
        duration_ms: 0,
    };
    if !req.dry_run {
        progress.phase(JobPhase::Applying);
        let broker = st.broker.clone();
        let store = st.broker.log_handle();
        let (effect, (applied_plan, replanned, commands)) = blocking(move || {
            // Made again (under the broker's connect lock, after every earlier write has
            // committed) if the store moved since the plan: `replace` then removes what is
            // there at the commit, not what was there at the plan.
            let mut made = None;
            let effect = broker.apply_import(|| -> Result<_, ApiError> {
                let (mut plan, replanned) =
                    plan.refreshed(&store.snapshot()?).map_err(import_error)?;
                check_caller_kept(&plan, &caller)?;
                let commands = plan.take_commands();
                made = Some((plan, replanned, commands.len() as u64));
                Ok(commands)
            })?;
            let made = made.expect("apply_import makes the batch before it commits");
            Ok((effect, made))
        })
        .await?;
        if replanned {
            result.plan = table_changes(&applied_plan);
        }
        result.applied = Some(Applied {
            commands,
            replanned,
            sessions_reloaded: effect.sessions_reloaded,
            clients_disconnected: effect.clients_disconnected,
            retained_reloaded: effect.retained_reloaded,
            auth_changes: effect.auth_changes,
            paused_ms: effect.paused_ms,
        });
        if let Some((dest, name, _)) = &config {
            let (dest, name) = (dest.clone(), name.clone());
            let restored = blocking(move || {
                holdfast_backup::restore_node_config(&archive, &name, &dest).map_err(|e| {
                    ApiError::Internal(format!(
                        "the data was imported, but the node config file was not restored: {e}"
                    ))
                })
            })
            .await?;
            if let (Some(r), Some(nc)) = (restored, result.node_config.as_mut()) {
                nc.written = true;
                nc.previous = r.previous.map(|p| p.display().to_string());
            }
        }
    }
    if let Some(nc) = &result.node_config {
        for key in &nc.changed_keys {
            result
                .restart_required
                .push(format!("{key} (node config file; read at start)"));
        }
    }
    result.duration_ms = elapsed_ms(started);
    tracing::info!(
        file = %result.file,
        dry_run = result.dry_run,
        mode = ?result.mode,
        commands = result.applied.as_ref().map_or(0, |a| a.commands),
        duration_ms = result.duration_ms,
        "admin: import"
    );
    Ok(result)
}

/// A `replace` of the auth set must not delete the key the operator is using: they would be
/// locked out of the node they are restoring.
fn check_caller_kept(plan: &holdfast_backup::Plan, caller: &Caller) -> Result<(), ApiError> {
    let own = [KeyPart::Str(caller.key_id.clone())];
    let removes_own = plan
        .tables()
        .any(|(t, p)| t == Table::ApiKeys && p.remove.iter().any(|k| k.parts() == own));
    if removes_own {
        return Err(ApiError::Conflict(format!(
            "this replace would delete API key {} that makes the request, locking you out; \
             import in merge mode, or with an admin key the archive holds; nothing was imported",
            caller.key_id
        )));
    }
    Ok(())
}

/// The plan's counts per table, as reported.
fn table_changes(plan: &holdfast_backup::Plan) -> Vec<TableChange> {
    plan.counts()
        .into_iter()
        .map(|c| TableChange {
            table: c.table.name().to_string(),
            add: c.add,
            change: c.change,
            remove: c.remove,
            unchanged: c.unchanged,
        })
        .collect()
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::Store(s) => ApiError::Store(s),
        other => ApiError::bad(other.to_string()),
    }
}
