//! `holdfast paths`: where this node's config and data come from, and why.

use std::path::PathBuf;

use clap::Args;

use crate::settings::{self, Resolved};

/// Arguments of `holdfast paths`.
#[derive(Debug, Args)]
pub struct PathsArgs {
    /// Config file to use instead of searching for one.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Data dir to use instead of the resolved one.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PathsArgs) -> anyhow::Result<()> {
    let s = settings::resolve(args.config.as_deref(), args.data_dir.as_deref())?;
    let data = &s.data_dir;
    let derived = |sub: &str| Resolved {
        path: data.path.join(sub),
        rule: format!("<data_dir>/{sub}"),
    };
    let config = s.config_file.clone();
    let entries = [
        ("config_file", config),
        ("data_dir", Some(data.clone())),
        ("log_dir", Some(derived("log"))),
        ("backup_dir", Some(derived("backup"))),
    ];
    if args.json {
        let mut obj = serde_json::Map::new();
        for (k, v) in &entries {
            let v = match v {
                Some(r) => serde_json::json!({ "path": r.path, "rule": r.rule }),
                None => serde_json::json!({ "path": null, "rule": s.config_rule }),
            };
            obj.insert((*k).to_string(), v);
        }
        obj.insert("env_overrides".into(), serde_json::json!(s.env_overrides));
        println!("{}", serde_json::to_string_pretty(&obj)?);
    } else {
        for (k, v) in &entries {
            match v {
                Some(r) => println!("{k:<12} {}  ({})", r.path.display(), r.rule),
                None => println!("{k:<12} -  ({})", s.config_rule),
            }
        }
        if !s.env_overrides.is_empty() {
            println!("env          {}", s.env_overrides.join(", "));
        }
    }
    Ok(())
}
