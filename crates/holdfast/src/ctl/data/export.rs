//! `holdfast ctl data export [-o FILE] [--sets ...] [--format json]`: ask the node for an
//! export (`POST /api/v1/data/export`, run as a job whose records and bytes are drawn as a
//! progress bar on a terminal), print where it went, its size, cut, counts and
//! duration; with `-o`, download it to FILE (mode 0600, never over an existing file),
//! verify the downloaded copy, and only then give it its name.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use holdfast_backup::Set;
use serde_json::{Value, json};

use super::job::run_job;
use super::progress::{human_bytes, with_spinner};
use super::{FormatArg, set_names};
use crate::ctl::client::{Client, seg};
use crate::ctl::output::{Output, field};

pub fn run(
    c: &Client,
    out: Output,
    output: Option<&Path>,
    sets: &[Set],
    format: FormatArg,
) -> anyhow::Result<()> {
    if let Some(dest) = output
        && dest.exists()
    {
        bail!(
            "{} already exists; choose another file (exports never overwrite)",
            dest.display()
        );
    }
    let mut body = json!({
        "format": match format {
            FormatArg::Binary => "binary",
            FormatArg::Json => "json",
        }
    });
    if let Some(names) = set_names(sets) {
        body["sets"] = json!(names);
    }
    let mut v = run_job(c, "/data/export", &body, "exporting")?;
    let name = field(&v, "name");
    if let Some(dest) = output {
        let bytes = with_spinner("downloading", || download(c, &name, dest))?;
        v["saved_to"] = json!(dest.display().to_string());
        v["saved_bytes"] = json!(bytes);
    }
    if out.json {
        return out.print_json(&v);
    }
    print_report(&v);
    if let Some(dest) = output {
        println!(
            "saved to {} (downloaded and verified; a copy stays in the node's backup dir as {name})",
            dest.display()
        );
    }
    Ok(())
}

fn print_report(v: &Value) {
    let bytes = v.get("bytes").and_then(Value::as_u64).unwrap_or(0);
    println!(
        "exported {} ({}, {}) in {} ms",
        field(v, "name"),
        field(v, "format"),
        human_bytes(bytes),
        field(v, "duration_ms")
    );
    println!("path     {}", field(v, "path"));
    println!(
        "cut      batch {}  (every table as of one read snapshot)",
        v["cut"]["batch_seq"]
    );
    println!("created  {}", field(v, "created_at"));
    let configs = v["config_files"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    if !configs.is_empty() {
        println!("config   {configs}");
    }
    println!();
    let _ = Output { json: false }.table(
        &v["tables"],
        &[
            ("TABLE", &|r| field(r, "table")),
            ("SET", &|r| field(r, "set")),
            ("RECORDS", &|r| field(r, "records")),
            ("BYTES", &|r| field(r, "bytes")),
        ],
    );
    println!("total    {} records", field(v, "records_total"));
}

/// Download the archive `name` to `dest`: written to `<dest>.download` (new, 0600), fsynced,
/// verified, then renamed. Returns its size.
fn download(c: &Client, name: &str, dest: &Path) -> anyhow::Result<u64> {
    let mut part = dest.as_os_str().to_os_string();
    part.push(".download");
    let part = PathBuf::from(part);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(&part)
        .with_context(|| format!("cannot create {}", part.display()))?;
    let result = (|| {
        let bytes = c.download(&format!("/data/files/{}", seg(name)), &mut file)?;
        file.flush()?;
        file.sync_all()
            .with_context(|| format!("cannot fsync {}", part.display()))?;
        holdfast_backup::verify(&part).context("the downloaded copy does not verify")?;
        if dest.exists() {
            bail!("{} appeared meanwhile; not overwritten", dest.display());
        }
        std::fs::rename(&part, dest)
            .with_context(|| format!("cannot rename {} into place", part.display()))?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}
