//! `/api/v1/data/jobs`: the export, import and snapshot jobs of this node (see
//! [`crate::jobs`]), and how a request asks to run as one.
//!
//! A data request runs as a job when it carries `?async=true` or the RFC 7240 header
//! `Prefer: respond-async`; it is then answered `202 Accepted` with the [`Job`] and a
//! `Location` of `/api/v1/data/jobs/{id}`. Without either it answers when done, as scripts
//! expect.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody};
use crate::extract::PathParam;
use crate::jobs::{Job, JobProgress};
use crate::state::AppState;

/// `?async=true` on `POST /api/v1/data/{export,import,snapshot}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AsyncQuery {
    /// Run as a job: answer 202 with the job at once (as does `Prefer: respond-async`).
    #[serde(rename = "async")]
    pub run_async: Option<bool>,
}

/// The request asks to run as a job.
pub fn wants_async(q: &AsyncQuery, headers: &HeaderMap) -> bool {
    q.run_async.unwrap_or(false)
        || headers.get_all("prefer").iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
            })
        })
}

/// `202 Accepted` with the job, its `Location`, and `Preference-Applied`.
pub fn accepted(job: &Arc<JobProgress>) -> Response {
    let mut resp = (StatusCode::ACCEPTED, Json(job.view())).into_response();
    let location = format!("{}/data/jobs/{}", super::super::PREFIX, job.id());
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(
        "preference-applied",
        HeaderValue::from_static("respond-async"),
    );
    resp
}

/// The data jobs this node keeps: running ones and the last finished, oldest first.
#[utoipa::path(get, path = "/api/v1/data/jobs", operation_id = "list_data_jobs", tag = "data",
    responses((status = 200, description = "Running and recently finished jobs, oldest first", body = [Job])))]
pub async fn list(State(st): State<AppState>) -> Json<Vec<Job>> {
    Json(st.jobs.list())
}

/// One data job: its live counters while it runs, then its result or error.
#[utoipa::path(get, path = "/api/v1/data/jobs/{id}", operation_id = "get_data_job", tag = "data",
    params(("id" = String, Path, description = "The job id from the 202 answer")),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "No such job (ids are forgotten at restart and after the last finished jobs)", body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Job>, ApiError> {
    st.jobs.get(&id).map(Json).ok_or_else(|| {
        ApiError::not_found(format!(
            "no data job {id:?} (this node keeps running jobs and the last {} finished ones, \
             until it restarts; see GET /api/v1/data/jobs)",
            crate::jobs::JOBS_FINISHED_MAX
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_is_asked_by_query_or_prefer_header() {
        let mut h = HeaderMap::new();
        assert!(!wants_async(&AsyncQuery::default(), &h));
        let q = AsyncQuery {
            run_async: Some(true),
        };
        assert!(wants_async(&q, &h));
        h.insert("prefer", HeaderValue::from_static("wait=10, Respond-Async"));
        assert!(wants_async(&AsyncQuery::default(), &h));
        h.insert("prefer", HeaderValue::from_static("return=minimal"));
        assert!(!wants_async(&AsyncQuery::default(), &h));
    }
}
