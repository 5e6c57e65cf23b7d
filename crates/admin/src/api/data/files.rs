//! `/api/v1/data/files`: the archives in the node's backup dir. Viewers may list them; only
//! admins may download (archives hold credential hashes), upload or delete them.
//!
//! An upload streams the request body into a hidden `.<name>.<random>.upload` file (mode 0600),
//! refusing it past `admin.upload_bytes_max`, checks that it starts like an archive (the
//! full check is the import's), fsyncs it and links it under its name, which must be new.

use std::path::Path;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use super::{
    ArchiveFormat, UPLOAD_SUFFIX, background, backup_dir, blocking, check_name, ensure_backup_dir,
    existing_file,
};
use crate::auth::{Caller, require_admin};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{PathParam, QueryParams};
use crate::state::AppState;

/// An archive file in the backup dir.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    pub name: String,
    pub bytes: u64,
    /// Last modification, Unix milliseconds.
    pub modified_at_ms: u64,
    /// The form its name says (`.hfx` binary, `.json` JSON); null for other names.
    pub format: Option<ArchiveFormat>,
}

/// The backup dir and its archives.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileList {
    /// The backup dir on the node (`<data_dir>/backup`).
    pub dir: String,
    /// Its archive files, by name (temporary files of unfinished exports and uploads are
    /// left out).
    pub files: Vec<BackupFile>,
}

/// `POST /api/v1/data/files` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Name to store the archive under: 1 to 128 characters among `A-Z a-z 0-9 . _ -`, not
    /// starting with `.`; it must not exist yet.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]*$"
    )]
    pub name: String,
}

fn describe(name: String, meta: &std::fs::Metadata) -> BackupFile {
    let modified_at_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let format = if name.ends_with(".hfx") {
        Some(ArchiveFormat::Binary)
    } else if name.ends_with(".json") {
        Some(ArchiveFormat::Json)
    } else {
        None
    };
    BackupFile {
        name,
        bytes: meta.len(),
        modified_at_ms,
        format,
    }
}

/// List the archives in the backup dir.
#[utoipa::path(get, path = "/api/v1/data/files", operation_id = "list_data_files", tag = "data",
    responses((status = 200, description = "The backup dir and its archives", body = FileList)))]
pub async fn list(State(st): State<AppState>) -> Result<axum::Json<FileList>, ApiError> {
    let dir = backup_dir(&st);
    blocking(move || {
        let mut files = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => Some(e),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ApiError::Internal(format!(
                    "cannot list {}: {e}",
                    dir.display()
                )));
            }
        };
        for entry in entries.into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && check_name(&name).is_ok() {
                files.push(describe(name, &meta));
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(axum::Json(FileList {
            dir: dir.display().to_string(),
            files,
        }))
    })
    .await
}

/// Download an archive (admin keys only: archives hold credential hashes).
#[utoipa::path(get, path = "/api/v1/data/files/{name}", operation_id = "download_data_file", tag = "data",
    params(("name" = String, Path, description = "Archive file name", min_length = 1, max_length = 128)),
    responses(
        (status = 200, description = "The archive's bytes", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "Invalid file name", body = ErrorBody),
        (status = 403, description = "A viewer key may not download archives", body = ErrorBody),
        (status = 404, description = "No such archive", body = ErrorBody)))]
pub async fn download(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    require_admin(
        &caller,
        "downloading an archive (it holds credential hashes)",
    )?;
    let path = existing_file(&st, &name)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot open {}: {e}", path.display())))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::Internal(format!("cannot read {}: {e}", path.display())))?
        .len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, body).into_response())
}

/// Delete an archive.
#[utoipa::path(delete, path = "/api/v1/data/files/{name}", operation_id = "delete_data_file", tag = "data",
    params(("name" = String, Path, description = "Archive file name", min_length = 1, max_length = 128)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid file name", body = ErrorBody),
        (status = 404, description = "No such archive", body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    let path = existing_file(&st, &name)?;
    // Off the async workers: unlinking a large archive whose pages are still cached takes
    // the kernel about 100 ms, and a worker held that long stalls every client it serves
    // (publish p99.9 of 96 to 130 ms while the benchmark deleted its exports).
    background("holdfast-delete", move || {
        std::fs::remove_file(&path)
            .map_err(|e| ApiError::Internal(format!("cannot delete {}: {e}", path.display())))
    })
    .await?;
    tracing::info!(file = %name, "admin: archive deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Upload an archive into the backup dir (the raw file as the body).
#[utoipa::path(post, path = "/api/v1/data/files", operation_id = "upload_data_file", tag = "data",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The archive file, as is"),
    responses(
        (status = 201, description = "Stored", body = BackupFile),
        (status = 400, description = "Invalid name, or not an archive", body = ErrorBody),
        (status = 409, description = "An archive of that name exists", body = ErrorBody),
        (status = 413, description = "Larger than admin.upload_bytes_max", body = ErrorBody)))]
pub async fn upload(
    State(st): State<AppState>,
    QueryParams(q): QueryParams<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<BackupFile>), ApiError> {
    check_name(&q.name)?;
    let max = st.broker.config.admin.upload_bytes_max;
    let too_large = || {
        ApiError::TooLarge(format!(
            "the archive is larger than admin.upload_bytes_max = {max} bytes; raise it in the \
             node's config, or copy the file into {} yourself",
            backup_dir(&st).display()
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let dir = backup_dir(&st);
    let final_path = dir.join(&q.name);
    let tmp = dir.join(format!(
        ".{}.{:016x}{UPLOAD_SUFFIX}",
        q.name,
        rand::random::<u64>()
    ));
    {
        let dir = dir.clone();
        blocking(move || ensure_backup_dir(&dir)).await?;
    }
    if final_path.exists() {
        return Err(exists(&q.name));
    }
    let mut file = create_private(&tmp).await?;
    let guard = RemoveOnDrop(Some(tmp.clone()));
    let mut received = 0u64;
    // The first bytes are checked as they arrive, so that a body that is not an archive is
    // refused at once rather than after it has all been read and stored.
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    let not_an_archive =
        |fault: holdfast_backup::ReadFault| ApiError::bad(format!("{}: {fault}", q.name));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad(format!("upload interrupted: {e}")))?;
        received += chunk.len() as u64;
        if received > max {
            return Err(too_large());
        }
        if let Some(h) = &mut head {
            let room = holdfast_backup::SNIFF_BYTES_MAX.saturating_sub(h.len());
            h.extend_from_slice(&chunk[..chunk.len().min(room)]);
            match holdfast_backup::sniff(h) {
                None => {}
                Some(Ok(_)) => head = None,
                Some(Err(fault)) => return Err(not_an_archive(fault)),
            }
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::Internal(format!("cannot write {}: {e}", tmp.display())))?;
    }
    file.sync_all()
        .await
        .map_err(|e| ApiError::Internal(format!("cannot fsync {}: {e}", tmp.display())))?;
    drop(file);
    let name = q.name.clone();
    let described = blocking(move || {
        holdfast_backup::Archive::open(&tmp)
            .map_err(|e| ApiError::bad(format!("{name}: {}", e.fault)))?;
        // A hard link never replaces an existing file.
        std::fs::hard_link(&tmp, &final_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(&name),
            _ => ApiError::Internal(format!("cannot store {}: {e}", final_path.display())),
        })?;
        let meta = std::fs::metadata(&final_path)
            .map_err(|e| ApiError::Internal(format!("{}: {e}", final_path.display())))?;
        Ok(describe(name, &meta))
    })
    .await?;
    drop(guard);
    tracing::info!(file = %described.name, bytes = described.bytes, "admin: archive uploaded");
    Ok((StatusCode::CREATED, axum::Json(described)))
}

fn exists(name: &str) -> ApiError {
    ApiError::Conflict(format!(
        "an archive named {name:?} already exists; upload under another name or delete it first"
    ))
}

async fn create_private(path: &Path) -> Result<tokio::fs::File, ApiError> {
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", path.display())))
}

/// Removes an upload's temporary file however the request ends.
struct RemoveOnDrop(Option<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
