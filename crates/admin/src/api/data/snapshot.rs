//! `POST /api/v1/data/snapshot`: a hot, node-bound snapshot of this node into a dir on its
//! machine (see [`crate::snapshot`]): a consistent copy of the store taken while serving,
//! the identity, the bootstrap key file and the config file, with a checksummed manifest.
//! `holdfast restore-snapshot DIR --data-dir D` restores it offline.

use std::path::PathBuf;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{blocking, elapsed_ms};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::snapshot::{SnapshotError, SnapshotManifest, SnapshotSource, write_snapshot};
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
    request_body = SnapshotRequest,
    responses(
        (status = 201, description = "The snapshot is complete", body = SnapshotResult),
        (status = 400, description = "Invalid dir", body = ErrorBody),
        (status = 409, description = "The dir is not empty", body = ErrorBody)))]
pub async fn snapshot(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<serde_json::Value>,
) -> Result<(StatusCode, Json<SnapshotResult>), ApiError> {
    let req: SnapshotRequest = super::body_object(req)?;
    let dir = PathBuf::from(&req.dir);
    let started = Instant::now();
    let node = st.node.clone();
    let store = st.broker.store.clone();
    let result = blocking(move || {
        let src = SnapshotSource {
            store: &store,
            data_dir: &node.data_dir,
            config_file: node.config_file.as_deref(),
            node_id: &node.id,
            node_name: &node.name,
        };
        let manifest = write_snapshot(&src, &dir).map_err(|e| match e {
            SnapshotError::Dir { .. } => ApiError::bad(e.to_string()),
            SnapshotError::NotEmpty(_) => ApiError::Conflict(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        })?;
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
    Ok((StatusCode::CREATED, Json(result)))
}
