//! The endpoints, one module per resource, and the router that mounts them.

pub mod acl;
pub mod api_keys;
pub mod banned;
pub mod clients;
pub mod config;
pub mod data;
pub mod metrics;
pub mod node;
pub mod retained;
pub mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, put};

use crate::auth::require_key;
use crate::error::ApiError;
use crate::openapi::openapi_json;
use crate::state::AppState;

/// Prefix of every API path.
pub const PREFIX: &str = "/api/v1";

/// Every route: `/api/v1/...` behind an API key (except the OpenAPI document and the health
/// probe), and
/// `/metrics` (behind a key unless `admin.metrics_public`).
pub fn router(st: AppState) -> Router {
    let api = Router::new()
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{username}",
            get(users::get)
                .put(users::update)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/acl", get(acl::list).post(acl::create))
        .route("/acl/{id}", delete(acl::delete))
        .route("/banned", get(banned::list).post(banned::create))
        .route("/banned/{kind}/{value}", delete(banned::delete))
        .route("/api_keys", get(api_keys::list).post(api_keys::create))
        .route("/api_keys/{key_id}", delete(api_keys::delete))
        .route("/config", get(config::list))
        .route("/config/{key}", put(config::put).delete(config::delete))
        .route("/clients", get(clients::list))
        .route("/clients/{client_id}", delete(clients::kick))
        .route("/subscriptions", get(clients::subscriptions))
        .route("/retained", get(retained::list))
        .route(
            "/retained/{*topic}",
            get(retained::get).delete(retained::delete),
        )
        .route("/data/export", post(data::export::export))
        .route("/data/import", post(data::import::import))
        .route("/data/snapshot", post(data::snapshot::snapshot))
        .route("/data/jobs", get(data::jobs::list))
        .route("/data/jobs/{id}", get(data::jobs::get))
        .route(
            "/data/files",
            get(data::files::list)
                // Uploads stream to disk under their own limit, admin.upload_bytes_max.
                .post(data::files::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/data/files/{name}",
            get(data::files::download).delete(data::files::delete),
        )
        .route("/node", get(node::node))
        .route("/stats", get(node::stats))
        .route_layer(from_fn_with_state(st.clone(), require_key))
        // Added after the key check: the document and the readiness probe are public.
        .route("/openapi.json", get(openapi_json))
        .route("/health", get(node::health));
    let mut metrics = Router::new().route("/metrics", get(metrics::metrics));
    if !st.metrics_public {
        metrics = metrics.route_layer(from_fn_with_state(st.clone(), require_key));
    }
    Router::new()
        .nest(PREFIX, api)
        .merge(metrics)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(st)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint {} (see {PREFIX}/openapi.json)",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut resp = ApiError::bad(format!(
        "{method} is not allowed on {} (see {PREFIX}/openapi.json)",
        uri.path()
    ))
    .into_response();
    *resp.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    resp
}
