//! `holdfast ctl data import FILE [--mode merge|replace] [--sets ...] [--dry-run]
//! [--restore-node-config]`: bring FILE to the node's backup dir (uploaded, unless it is
//! already there), then `POST /api/v1/data/import` and print the plan and what took effect.
//!
//! The node verifies the whole archive before the first write; a refusal is printed with
//! the node's message and a non-zero exit, and nothing changes. An archive uploaded for a
//! dry run or a failed import is deleted again from the backup dir.

use std::path::Path;

use anyhow::{Context, bail};
use holdfast_backup::Set;
use serde_json::{Value, json};

use super::job::run_job;
use super::progress::with_spinner;
use super::{ModeArg, set_names};
use crate::ctl::client::{Client, seg};
use crate::ctl::output::{Output, field};

/// What to import, and how.
#[derive(Debug)]
pub struct ImportArgs {
    pub file: String,
    pub mode: ModeArg,
    pub sets: Vec<Set>,
    pub dry_run: bool,
    pub restore_node_config: bool,
}

pub fn run(c: &Client, out: Output, args: &ImportArgs) -> anyhow::Result<()> {
    let listing = c.get("/data/files")?;
    let (name, uploaded) = locate(c, &listing, &args.file)?;
    let mut body = json!({
        "file": name,
        "mode": match args.mode {
            ModeArg::Merge => "merge",
            ModeArg::Replace => "replace",
        },
        "dry_run": args.dry_run,
        "restore_node_config": args.restore_node_config,
    });
    if let Some(names) = set_names(&args.sets) {
        body["sets"] = json!(names);
    }
    let label = if args.dry_run {
        "planning"
    } else {
        "importing"
    };
    let result = run_job(c, "/data/import", &body, label);
    if uploaded && (result.is_err() || args.dry_run) {
        // Leave the backup dir as it was.
        let _ = c.delete(&format!("/data/files/{}", seg(&name)));
    }
    let v = result.context("import refused; nothing was changed")?;
    if out.json {
        return out.print_json(&v);
    }
    print_result(&v);
    Ok(())
}

/// The archive's name in the backup dir, and whether it was uploaded for this import.
fn locate(c: &Client, listing: &Value, file: &str) -> anyhow::Result<(String, bool)> {
    let names: Vec<&str> = listing["files"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default();
    let local = Path::new(file);
    if local.is_file() {
        if let Some(name) = in_backup_dir(local, listing["dir"].as_str().unwrap_or(""))
            && names.contains(&name.as_str())
        {
            return Ok((name, false));
        }
        let name = upload_name(local, &names);
        let f = std::fs::File::open(local)
            .with_context(|| format!("cannot read {}", local.display()))?;
        with_spinner("uploading", || {
            c.upload(&format!("/data/files?name={}", seg(&name)), &f)
        })
        .with_context(|| format!("cannot upload {}", local.display()))?;
        return Ok((name, true));
    }
    if !file.contains('/') && names.contains(&file) {
        return Ok((file.to_string(), false));
    }
    bail!(
        "{file}: no such file here, and no archive of that name in the node's backup dir \
         (`holdfast ctl data files` lists them)"
    )
}

/// `local`'s name if it is a file in the node's backup dir `dir` (same machine).
fn in_backup_dir(local: &Path, dir: &str) -> Option<String> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let path = std::fs::canonicalize(local).ok()?;
    (path.parent()? == dir).then(|| path.file_name()?.to_str().map(str::to_string))?
}

/// A name the backup dir accepts and does not hold yet, from the local file name.
fn upload_name(local: &Path, taken: &[&str]) -> String {
    let raw = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || "._-".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_start_matches('.').replace("..", "_");
    name.truncate(100);
    if name.is_empty() || name.ends_with(".tmp") || name.ends_with(".upload") {
        name = format!("upload-{name}.hfx").replace("..", ".");
    }
    if !taken.contains(&name.as_str()) {
        return name;
    }
    let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, "hfx"));
    (1u32..)
        .map(|n| format!("{stem}-upload{n}.{ext}"))
        .find(|n| !taken.contains(&n.as_str()))
        .unwrap_or(name)
}

fn print_result(v: &Value) {
    let archive = &v["archive"];
    if v["dry_run"].as_bool() == Some(true) {
        println!(
            "dry run of {} ({} mode): nothing was changed",
            field(v, "file"),
            field(v, "mode")
        );
    } else {
        println!(
            "imported {} ({} mode) in {} ms: {} commands in one atomic batch",
            field(v, "file"),
            field(v, "mode"),
            field(v, "duration_ms"),
            v["applied"]["commands"]
        );
    }
    println!(
        "archive: {} form, created {}, cut {} of node(s) {}, {} records; verified in {} ms",
        field(archive, "format"),
        field(archive, "created_at"),
        archive["cut"]["batch_seq"],
        archive["source_nodes"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        field(archive, "records_total"),
        field(v, "verify_ms"),
    );
    println!();
    let _ = Output { json: false }.table(
        &v["plan"],
        &[
            ("TABLE", &|r| field(r, "table")),
            ("ADD", &|r| field(r, "add")),
            ("CHANGE", &|r| field(r, "change")),
            ("REMOVE", &|r| field(r, "remove")),
            ("UNCHANGED", &|r| field(r, "unchanged")),
        ],
    );
    let a = &v["applied"];
    if a.is_object() {
        println!(
            "\nin force now: {} sessions reloaded ({} connected clients told to reconnect), {} \
             retained topics, {} auth/config records; routing paused {} ms for the commit",
            a["sessions_reloaded"],
            a["clients_disconnected"],
            a["retained_reloaded"],
            a["auth_changes"],
            a["paused_ms"]
        );
    }
    let nc = &v["node_config"];
    if nc.is_object() {
        match (nc["written"].as_bool(), nc["previous"].as_str()) {
            (Some(true), Some(prev)) => println!(
                "node config: {} restored (previous kept as {prev})",
                field(nc, "path")
            ),
            (Some(true), None) => println!("node config: {} restored", field(nc, "path")),
            _ => println!("node config: {} would be restored", field(nc, "path")),
        }
    }
    if let Some(keys) = v["restart_required"].as_array().filter(|k| !k.is_empty()) {
        println!("restart required for:");
        for k in keys.iter().filter_map(Value::as_str) {
            println!("  {k}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_are_valid_and_new() {
        let p = Path::new("/tmp/my backup.hfx");
        assert_eq!(upload_name(p, &[]), "my_backup.hfx");
        assert_eq!(
            upload_name(Path::new("/x/a.hfx"), &["a.hfx"]),
            "a-upload1.hfx"
        );
        assert_eq!(upload_name(Path::new("/x/.hidden"), &[]), "hidden");
        assert_eq!(upload_name(Path::new("/x/a..b.json"), &[]), "a_b.json");
    }
}
