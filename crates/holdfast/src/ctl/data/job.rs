//! Running a data request (export, import, snapshot) as a job on the node and following it:
//! `POST /api/v1/data/...?async=true` answers 202 with a job at once, and
//! `GET /api/v1/data/jobs/{id}` is polled until it is done, drawing its progress (records and
//! bytes) on a terminal. The job's `result` is the synchronous request's answer, so callers
//! print it the same way.
//!
//! If `ctl` stops (Ctrl-C, a lost terminal), the job goes on on the node: its file or
//! snapshot is written all the same, and `holdfast ctl data files` lists it.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

use super::progress::Bar;
use crate::ctl::client::{Client, seg};

/// First wait between two polls: most jobs on small stores are done by then.
const POLL_FIRST: Duration = Duration::from_millis(40);
/// Longest wait between two polls.
const POLL_MAX: Duration = Duration::from_millis(100);

/// POST `body` to `path` as a job, follow it to the end, and return its result. `label`
/// names the work on the progress line (`exporting`).
pub fn run_job(c: &Client, path: &str, body: &Value, label: &str) -> anyhow::Result<Value> {
    let started = c.send("POST", &format!("{path}?async=true"), body)?;
    let id = started["id"]
        .as_str()
        .with_context(|| format!("POST {path}: the node's answer names no job: {started}"))?
        .to_string();
    let mut bar = Bar::new(label);
    let mut wait = POLL_FIRST;
    let mut job = started;
    loop {
        bar.draw(&job);
        if job["state"] != "running" {
            break;
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(POLL_MAX);
        job = c
            .get(&format!("/data/jobs/{}", seg(&id)))
            .with_context(|| {
                format!(
                    "lost track of job {id} on the node (it may still finish: see \
                     `holdfast ctl data files`)"
                )
            })?;
    }
    bar.clear();
    match job["state"].as_str() {
        Some("succeeded") => Ok(job["result"].clone()),
        Some("failed") => {
            let error = job["error"].as_str().unwrap_or("the job failed");
            match job["error_status"].as_u64() {
                Some(status) => bail!("{error} (HTTP {status})"),
                None => bail!("{error}"),
            }
        }
        other => Err(anyhow!("job {id} is in an unknown state {other:?}")),
    }
}
