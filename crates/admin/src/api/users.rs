//! `/api/v1/users`: MQTT users (username, argon2id password hash, superuser flag). Password
//! hashes never leave the broker; passwords are hashed on the blocking pool.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use holdfast_server::auth::password;
use holdfast_server::time::now_ms;
use holdfast_store::Command;
use holdfast_store::records::UserRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParam};
use crate::state::AppState;

/// Longest username accepted, in characters.
pub const USERNAME_CHARS_MAX: usize = 256;
/// Longest password accepted, in characters.
pub const PASSWORD_CHARS_MAX: usize = 1024;

/// A user as the API shows it (never with its password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    /// Superusers bypass every ACL rule.
    pub superuser: bool,
    /// Unix milliseconds.
    pub created_at_ms: u64,
}

/// `POST /api/v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 256 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub username: String,
    /// 1 to 1024 characters; stored as an argon2id hash.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
    #[serde(default)]
    pub superuser: bool,
}

/// `PUT`/`PATCH /api/v1/users/{username}`: the fields to change (at least one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// 1 to 1024 characters; stored as an argon2id hash.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: Option<String>,
    pub superuser: Option<bool>,
}

fn view(username: &str, rec: &UserRecord) -> User {
    User {
        username: username.to_string(),
        superuser: rec.superuser,
        created_at_ms: rec.created_at_ms,
    }
}

fn check_username(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > USERNAME_CHARS_MAX {
        return Err(ApiError::bad(format!(
            "username must be 1 to {USERNAME_CHARS_MAX} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "username must not contain control characters",
        ));
    }
    Ok(())
}

fn check_password(pw: &str) -> Result<(), ApiError> {
    if pw.is_empty() || pw.chars().count() > PASSWORD_CHARS_MAX {
        return Err(ApiError::bad(format!(
            "password must be 1 to {PASSWORD_CHARS_MAX} characters"
        )));
    }
    Ok(())
}

async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing task failed: {e}")))
}

/// List users, sorted by username.
#[utoipa::path(get, path = "/api/v1/users", operation_id = "list_users", tag = "users",
    responses((status = 200, description = "Every user", body = [User])))]
pub async fn list(State(st): State<AppState>) -> Json<Vec<User>> {
    let auth = st.broker.auth();
    Json(auth.users.iter().map(|(n, r)| view(n, r)).collect())
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", operation_id = "create_user", tag = "users", request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "Invalid body or value", body = ErrorBody),
        (status = 409, description = "The user exists", body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    check_username(&req.username)?;
    check_password(&req.password)?;
    let _w = st.writes.lock().await;
    if st.broker.auth().users.contains_key(&req.username) {
        return Err(ApiError::Conflict(format!(
            "user {:?} already exists (change it with PATCH /api/v1/users/{{username}})",
            req.username
        )));
    }
    let rec = UserRecord {
        password_hash: hash(req.password).await?,
        superuser: req.superuser,
        created_at_ms: now_ms(),
    };
    let out = view(&req.username, &rec);
    st.broker
        .apply_admin(vec![Command::PutUser {
            username: req.username.clone(),
            rec,
        }])
        .await?;
    tracing::info!(username = %req.username, superuser = req.superuser, "admin: user created");
    Ok((StatusCode::CREATED, Json(out)))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{username}", operation_id = "get_user", tag = "users",
    params(("username" = String, Path, description = "Username (percent-encoded)")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    PathParam(username): PathParam<String>,
) -> Result<Json<User>, ApiError> {
    let auth = st.broker.auth();
    let rec = auth
        .users
        .get(&username)
        .ok_or_else(|| no_user(&username))?;
    Ok(Json(view(&username, rec)))
}

fn no_user(username: &str) -> ApiError {
    ApiError::not_found(format!("no user {username:?}"))
}

/// Change a user's password and/or superuser flag (`PUT` and `PATCH` are the same).
#[utoipa::path(patch, path = "/api/v1/users/{username}", operation_id = "patch_user", tag = "users", request_body = UserUpdate,
    params(("username" = String, Path, description = "Username (percent-encoded)")),
    responses(
        (status = 200, description = "Updated", body = User),
        (status = 400, description = "Invalid body or value", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn patch(
    st: State<AppState>,
    username: PathParam<String>,
    body: JsonBody<UserUpdate>,
) -> Result<Json<User>, ApiError> {
    update(st, username, body).await
}

/// Change a user's password and/or superuser flag (`PUT` and `PATCH` are the same).
#[utoipa::path(put, path = "/api/v1/users/{username}", operation_id = "update_user", tag = "users", request_body = UserUpdate,
    params(("username" = String, Path, description = "Username (percent-encoded)")),
    responses(
        (status = 200, description = "Updated", body = User),
        (status = 400, description = "Invalid body or value", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn update(
    State(st): State<AppState>,
    PathParam(username): PathParam<String>,
    JsonBody(req): JsonBody<UserUpdate>,
) -> Result<Json<User>, ApiError> {
    if req.password.is_none() && req.superuser.is_none() {
        return Err(ApiError::bad(
            "nothing to change: give \"password\" and/or \"superuser\"",
        ));
    }
    if let Some(pw) = &req.password {
        check_password(pw)?;
    }
    let _w = st.writes.lock().await;
    let mut rec = st
        .broker
        .auth()
        .user(&username)
        .ok_or_else(|| no_user(&username))?;
    if let Some(pw) = req.password {
        rec.password_hash = hash(pw).await?;
    }
    if let Some(su) = req.superuser {
        rec.superuser = su;
    }
    let out = view(&username, &rec);
    st.broker
        .apply_admin(vec![Command::PutUser {
            username: username.clone(),
            rec,
        }])
        .await?;
    tracing::info!(%username, superuser = out.superuser, "admin: user changed");
    Ok(Json(out))
}

/// Delete a user (its connected clients stay connected until they reconnect).
#[utoipa::path(delete, path = "/api/v1/users/{username}", operation_id = "delete_user", tag = "users",
    params(("username" = String, Path, description = "Username (percent-encoded)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    PathParam(username): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    let _w = st.writes.lock().await;
    if !st.broker.auth().users.contains_key(&username) {
        return Err(no_user(&username));
    }
    st.broker
        .apply_admin(vec![Command::DeleteUser {
            username: username.clone(),
        }])
        .await?;
    tracing::info!(%username, "admin: user deleted");
    Ok(StatusCode::NO_CONTENT)
}
