//! Config resolution (BACKUP.md §1): find `holdfast.toml`, layer `HOLDFAST_<SECTION>__<KEY>`
//! environment overrides on top, resolve the data dir, and remember which rule chose each.
//!
//! Precedence, lowest first: built-in defaults < (cluster config in the store, later) <
//! `holdfast.toml` < environment.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use holdfast_server::config::BrokerConfig;

/// Prefix of environment overrides.
const ENV_PREFIX: &str = "HOLDFAST_";

/// A resolved path and the rule that chose it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    pub path: PathBuf,
    pub rule: String,
}

/// The fully resolved settings of one node.
#[derive(Debug)]
pub struct Settings {
    pub config: BrokerConfig,
    /// The config file, if one was found.
    pub config_file: Option<Resolved>,
    /// Why no config file was used, when none was.
    pub config_rule: String,
    pub data_dir: Resolved,
    /// Environment variables that overrode settings.
    pub env_overrides: Vec<String>,
}

/// Where the binary is installed, which picks the default layout.
fn install_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.parent()?.parent().map(Path::to_path_buf)
}

/// Find the config file, in BACKUP.md §1 order.
fn find_config(explicit: Option<&Path>) -> anyhow::Result<(Option<Resolved>, String)> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!("config file {} (from --config) does not exist", p.display());
        }
        return Ok((
            Some(Resolved {
                path: p.to_path_buf(),
                rule: "--config".into(),
            }),
            String::new(),
        ));
    }
    if let Some(p) = std::env::var_os("HOLDFAST_CONFIG") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "config file {} (from $HOLDFAST_CONFIG) does not exist",
                p.display()
            );
        }
        return Ok((
            Some(Resolved {
                path: p,
                rule: "$HOLDFAST_CONFIG".into(),
            }),
            String::new(),
        ));
    }
    let mut candidates = vec![
        (
            PathBuf::from("./holdfast.toml"),
            "./holdfast.toml (working directory)",
        ),
        (
            PathBuf::from("/etc/holdfast/holdfast.toml"),
            "/etc/holdfast (deb/rpm layout)",
        ),
        (
            PathBuf::from("/opt/holdfast/etc/holdfast.toml"),
            "/opt/holdfast/etc (container layout)",
        ),
    ];
    if let Some(dir) = install_dir() {
        candidates.push((
            dir.join("etc/holdfast.toml"),
            "<install-dir>/etc (tarball layout)",
        ));
    }
    for (path, rule) in candidates {
        if path.is_file() {
            return Ok((
                Some(Resolved {
                    path,
                    rule: rule.into(),
                }),
                String::new(),
            ));
        }
    }
    Ok((
        None,
        "no holdfast.toml found in the search path; built-in defaults".into(),
    ))
}

/// `HOLDFAST_A__B=v` → `[a] b = v`; values parse as TOML when they can, else as strings.
fn apply_env(table: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> Vec<String> {
    let mut used = Vec::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue; // HOLDFAST_CONFIG, HOLDFAST_LOG: not settings
        }
        let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let (last, parents) = keys.split_last().expect("split yields at least one key");
        let mut node = &mut *table;
        for k in parents {
            let entry = node
                .entry(k.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            node = entry.as_table_mut().expect("made a table above");
        }
        node.insert(last.clone(), value);
        used.push(name);
    }
    used.sort();
    used
}

/// Resolve everything. `data_dir_flag` is `--data-dir`.
pub fn resolve(
    config_flag: Option<&Path>,
    data_dir_flag: Option<&Path>,
) -> anyhow::Result<Settings> {
    let (config_file, config_rule) = find_config(config_flag)?;
    let mut table = match &config_file {
        Some(f) => {
            let text = std::fs::read_to_string(&f.path)
                .with_context(|| format!("cannot read config file {}", f.path.display()))?;
            // Parse the file on its own first, so that an error names its line and key.
            toml::from_str::<BrokerConfig>(&text)
                .map_err(|e| anyhow::anyhow!("config file {}: {e}", f.path.display()))?;
            toml::from_str::<toml::Table>(&text)
                .map_err(|e| anyhow::anyhow!("config file {}: {e}", f.path.display()))?
        }
        None => toml::Table::new(),
    };
    let env_overrides = apply_env(&mut table, std::env::vars());
    let config: BrokerConfig = toml::Value::Table(table).try_into().map_err(|e| {
        anyhow::anyhow!(
            "settings from environment ({}): {e}",
            env_overrides.join(", ")
        )
    })?;
    let data_dir = if let Some(d) = data_dir_flag {
        Resolved {
            path: d.to_path_buf(),
            rule: "--data-dir".into(),
        }
    } else if let Some(d) = config.node.data_dir.clone() {
        let rule = if env_overrides.iter().any(|v| v == "HOLDFAST_NODE__DATA_DIR") {
            "$HOLDFAST_NODE__DATA_DIR".to_string()
        } else {
            "node.data_dir in the config file".to_string()
        };
        Resolved { path: d, rule }
    } else {
        default_data_dir()
    };
    Ok(Settings {
        config,
        config_file,
        config_rule,
        data_dir,
        env_overrides,
    })
}

fn default_data_dir() -> Resolved {
    if let Some(dir) = install_dir() {
        if dir == Path::new("/usr") {
            return Resolved {
                path: "/var/lib/holdfast".into(),
                rule: "deb/rpm layout default".into(),
            };
        }
        if dir == Path::new("/opt/holdfast") {
            return Resolved {
                path: "/opt/holdfast/data".into(),
                rule: "container layout default".into(),
            };
        }
        if dir.join("etc/holdfast.toml").is_file() {
            return Resolved {
                path: dir.join("data"),
                rule: "tarball layout default (<install>/data)".into(),
            };
        }
    }
    Resolved {
        path: "./data".into(),
        rule: "development default (./data)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_nested_keys_with_typed_values() {
        let mut t = toml::Table::new();
        let vars = [
            (
                "HOLDFAST_LISTENERS__TCP__BIND".to_string(),
                "127.0.0.1:2000".to_string(),
            ),
            (
                "HOLDFAST_MQTT__RECEIVE_MAXIMUM".to_string(),
                "7".to_string(),
            ),
            ("HOLDFAST_CONFIG".to_string(), "/x".to_string()),
            ("OTHER".to_string(), "1".to_string()),
        ];
        let used = apply_env(&mut t, vars.into_iter());
        assert_eq!(
            used,
            [
                "HOLDFAST_LISTENERS__TCP__BIND",
                "HOLDFAST_MQTT__RECEIVE_MAXIMUM"
            ]
        );
        let cfg: BrokerConfig = toml::Value::Table(t).try_into().expect("valid");
        assert_eq!(cfg.listeners.tcp.bind.port(), 2000);
        assert_eq!(cfg.mqtt.receive_maximum, 7);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = toml::from_str::<BrokerConfig>("[mqtt]\nreceive_maximum = 5\nbogus = 1\n")
            .expect_err("unknown key is refused");
        let msg = err.to_string();
        assert!(msg.contains("bogus") && msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn the_store_cache_size_is_checked_against_its_range() {
        let cfg: BrokerConfig = toml::from_str("[store]\ncache_mb = 512\n").expect("valid");
        assert_eq!(cfg.store.cache_mb, 512);
        assert_eq!(BrokerConfig::default().store.cache_mb, 256);
        for bad in ["0", "65537"] {
            let err = toml::from_str::<BrokerConfig>(&format!("[store]\ncache_mb = {bad}\n"))
                .expect_err("out of range");
            let msg = err.to_string();
            assert!(
                msg.contains("store.cache_mb must be 1 to 65536") && msg.contains("line 2"),
                "{msg}"
            );
        }
    }
}
