//! `holdfast ctl data verify FILE` and `holdfast ctl data inspect FILE`: read an archive
//! completely with `holdfast-backup`, offline. Both check every checksum and decode every
//! record (the manifest is only trusted once all it describes checks out); `verify` says so,
//! `inspect` prints the manifest and the per-table counts.

use std::path::Path;

use anyhow::Context;
use holdfast_backup::ArchiveSummary;
use serde_json::json;

use super::progress::{human_bytes, with_spinner};
use crate::ctl::output::Output;

fn read(file: &Path) -> anyhow::Result<(ArchiveSummary, u64)> {
    let started = std::time::Instant::now();
    let summary = with_spinner("verifying", || holdfast_backup::verify(file))
        .context("verification failed")?;
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok((summary, ms))
}

fn form(s: &ArchiveSummary) -> &'static str {
    match s.format {
        holdfast_backup::Format::Binary => "binary",
        holdfast_backup::Format::Json => "JSON",
    }
}

/// `verify FILE`.
pub fn verify(file: &Path, out: Output) -> anyhow::Result<()> {
    let (s, ms) = read(file)?;
    if out.json {
        let mut v = serde_json::to_value(&s)?;
        v["ok"] = json!(true);
        v["verify_ms"] = json!(ms);
        return out.print_json(&v);
    }
    let m = &s.manifest;
    println!(
        "OK: {} is a valid holdfast archive ({} form, format version {}): {} records in {} \
         tables, every checksum matches ({} ms)",
        file.display(),
        form(&s),
        m.format_version,
        s.records_total,
        m.tables.len(),
        ms
    );
    println!(
        "cut {} of node(s) {}, created {}",
        m.cut.batch_seq,
        node_list(m),
        m.created_at
    );
    Ok(())
}

/// `inspect FILE`.
pub fn inspect(file: &Path, out: Output) -> anyhow::Result<()> {
    let (s, _) = read(file)?;
    if out.json {
        return out.print_json(&serde_json::to_value(&s)?);
    }
    let m = &s.manifest;
    println!("archive         {}", file.display());
    println!(
        "form            {} ({})",
        form(&s),
        human_bytes(s.file_bytes)
    );
    println!("format version  {}", m.format_version);
    println!("written by      holdfast {}", m.broker_version);
    println!("created         {}", m.created_at);
    println!("cut             batch {}", m.cut.batch_seq);
    println!("source nodes    {}", node_list(m));
    let sets: Vec<&str> = m.sets.iter().map(|x| x.name()).collect();
    println!("sets            {}", sets.join(", "));
    let files: Vec<String> = m
        .config_files
        .iter()
        .map(|f| format!("{} ({} bytes)", f.name, f.bytes))
        .collect();
    println!(
        "config files    {}",
        if files.is_empty() {
            "-".to_string()
        } else {
            files.join(", ")
        }
    );
    println!();
    let rows = json!(
        m.tables
            .iter()
            .map(|t| json!({
                "table": t.name.name(),
                "set": t.set.name(),
                "records": t.records,
                "bytes": t.bytes,
                "blake3": t.blake3.get(..16).unwrap_or(&t.blake3),
            }))
            .collect::<Vec<_>>()
    );
    use crate::ctl::output::field;
    Output { json: false }.table(
        &rows,
        &[
            ("TABLE", &|r| field(r, "table")),
            ("SET", &|r| field(r, "set")),
            ("RECORDS", &|r| field(r, "records")),
            ("BYTES", &|r| field(r, "bytes")),
            ("BLAKE3", &|r| format!("{}…", field(r, "blake3"))),
        ],
    )?;
    println!("total           {} records", s.records_total);
    Ok(())
}

fn node_list(m: &holdfast_backup::Manifest) -> String {
    let ids: Vec<&str> = m.source_nodes.iter().map(|n| n.as_str()).collect();
    if ids.is_empty() {
        "-".into()
    } else {
        ids.join(", ")
    }
}
