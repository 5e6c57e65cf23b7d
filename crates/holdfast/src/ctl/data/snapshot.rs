//! `holdfast ctl data snapshot -o DIR`: a hot, node-bound snapshot of the node, written by
//! the node itself into DIR on its machine (`POST /api/v1/data/snapshot`). Restore it with
//! `holdfast restore-snapshot DIR --data-dir D`, offline.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use super::job::run_job;
use super::progress::human_bytes;
use crate::ctl::client::Client;
use crate::ctl::output::{Output, field};

pub fn run(c: &Client, out: Output, dir: &Path) -> anyhow::Result<()> {
    let dir = std::path::absolute(dir)
        .with_context(|| format!("cannot make {} absolute", dir.display()))?;
    let body = json!({ "dir": dir.display().to_string() });
    let v = run_job(c, "/data/snapshot", &body, "snapshotting")?;
    if out.json {
        return out.print_json(&v);
    }
    let m = &v["manifest"];
    println!(
        "snapshot of node {} ({}) written to {} in {} ms: {}, cut batch {}",
        field(m, "node_id"),
        field(m, "node_name"),
        field(&v, "dir"),
        field(&v, "duration_ms"),
        human_bytes(v["bytes"].as_u64().unwrap_or(0)),
        m["batch_seq"]
    );
    for f in m["files"].as_array().map(Vec::as_slice).unwrap_or_default() {
        println!(
            "  {:<24} {:>10}  blake3 {}",
            field(f, "path"),
            f["bytes"],
            field(f, "blake3").get(..16).unwrap_or("")
        );
    }
    let records: u64 = m["tables"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["name"] != "meta")
                .filter_map(|t| t["records"].as_u64())
                .sum()
        })
        .unwrap_or(0);
    println!(
        "{records} records; restore offline with: holdfast restore-snapshot {} --data-dir DIR",
        field(&v, "dir")
    );
    Ok(())
}
