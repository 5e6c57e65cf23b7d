//! The node config file in an import (`restore_node_config`): which of the archive's files
//! replaces the node's, the check that it is a valid config for this holdfast, and which of
//! its settings differ from the file in use (each needs a restart: the file is read at start).

use std::collections::BTreeMap;
use std::path::Path;

use holdfast_backup::{Archive, ConfigFile, Verified};
use holdfast_server::config::BrokerConfig;

use crate::error::ApiError;

/// The archive's config file to restore over `dest`: the one with the same file name, else
/// the only one it carries.
pub fn pick<'a>(archive: &'a Archive<Verified>, dest: &Path) -> Result<&'a ConfigFile, ApiError> {
    let files = archive.config_files();
    let wanted = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(f) = files.iter().find(|f| f.name == wanted) {
        return Ok(f);
    }
    match files {
        [only] => Ok(only),
        [] => Err(ApiError::bad(
            "restore_node_config: the archive carries no node config file (it was exported \
             from a node started without one); nothing was imported",
        )),
        _ => Err(ApiError::bad(format!(
            "restore_node_config: the archive carries several config files ({}) and none is \
             named {wanted:?}; nothing was imported",
            files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A config file is restored only if this holdfast would start with it: it must parse as
/// the node config (known keys, right types, valid addresses and limits).
pub fn check(file: &ConfigFile) -> Result<(), String> {
    if !file.name.ends_with(".toml") {
        return Ok(());
    }
    let text = std::str::from_utf8(&file.bytes).map_err(|_| "it is not UTF-8".to_string())?;
    toml::from_str::<BrokerConfig>(text)
        .map(|_| ())
        .map_err(|e| format!("it is not a valid holdfast config: {e}"))
}

/// The settings (`section.key`) whose values differ between the current file text and the
/// restored one.
pub fn changed_keys(current: Option<&str>, restored: &[u8]) -> Vec<String> {
    let parse = |text: &str| toml::from_str::<toml::Table>(text).unwrap_or_default();
    let mut old = BTreeMap::new();
    flatten(
        "",
        &toml::Value::Table(parse(current.unwrap_or(""))),
        &mut old,
    );
    let mut new = BTreeMap::new();
    let restored = String::from_utf8_lossy(restored);
    flatten("", &toml::Value::Table(parse(&restored)), &mut new);
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = match prefix {
                    "" => k.clone(),
                    p => format!("{p}.{k}"),
                };
                flatten(&key, v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_settings_are_named() {
        let old = "[listeners.tcp]\nbind = \"127.0.0.1:1883\"\n[mqtt]\nreceive_maximum = 5\n";
        let new = b"[listeners.tcp]\nbind = \"0.0.0.0:1883\"\n[mqtt]\nreceive_maximum = 5\n[store]\ndurability = \"periodic\"\n";
        assert_eq!(
            changed_keys(Some(old), new),
            ["listeners.tcp.bind", "store.durability"]
        );
        assert!(changed_keys(Some(old), old.as_bytes()).is_empty());
    }

    #[test]
    fn only_valid_configs_pass() {
        let file = |text: &str| ConfigFile {
            name: "holdfast.toml".into(),
            bytes: text.as_bytes().to_vec(),
        };
        assert!(check(&file("[mqtt]\nreceive_maximum = 5\n")).is_ok());
        let err = check(&file("[mqtt]\nbogus = 1\n")).expect_err("unknown key");
        assert!(err.contains("bogus"), "{err}");
        assert!(check(&file("[listeners.tcp]\nbind = \"nowhere\"\n")).is_err());
    }
}
