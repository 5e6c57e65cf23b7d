//! `holdfast ctl config get|set|unset`: cluster config, the runtime settings kept in the store.

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Client, seg};
use super::output::{Output, field};

/// Runtime settings (`acl.default`, `mqtt.allow_anonymous`). The file and the environment
/// still take precedence over them.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Show every setting, or one.
    Get { key: Option<String> },
    /// Set a setting, e.g. `config set acl.default deny`; it takes effect at once.
    Set {
        key: String,
        /// A JSON value (`true`, `"deny"`), or a bare word taken as a string
        value: String,
    },
    /// Unset a setting (back to its default).
    Unset { key: String },
}

/// `true` → boolean, `deny` → string, `"deny"` → string.
fn parse_value(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

fn print_entries(out: Output, v: &Value) -> anyhow::Result<()> {
    out.table(
        v,
        &[
            ("KEY", &|e| field(e, "key")),
            ("VALUE", &|e| field(e, "value")),
            ("EFFECTIVE", &|e| field(e, "effective")),
            ("OVERRIDDEN_BY", &|e| field(e, "overridden_by")),
        ],
    )
}

pub fn run(cmd: ConfigCmd, c: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        ConfigCmd::Get { key } => {
            let all = c.get("/config")?;
            let Some(key) = key else {
                return print_entries(out, &all);
            };
            let one: Vec<Value> = all
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e.get("key").and_then(Value::as_str) == Some(key.as_str()))
                .cloned()
                .collect();
            if one.is_empty() {
                anyhow::bail!(
                    "unknown cluster config key {key:?}: known keys are {}",
                    all.as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| field(e, "key"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            print_entries(out, &Value::Array(one))
        }
        ConfigCmd::Set { key, value } => {
            let v = c.send(
                "PUT",
                &format!("/config/{}", seg(&key)),
                &parse_value(&value),
            )?;
            let note = match v.get("overridden_by") {
                Some(Value::String(by)) => format!(" (but {by} sets it, and wins)"),
                _ => String::new(),
            };
            out.done(&v, &format!("{key} set to {}{note}", field(&v, "value")))
        }
        ConfigCmd::Unset { key } => {
            c.delete(&format!("/config/{}", seg(&key)))?;
            out.done(&json!({"unset": key}), &format!("{key} unset"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_or_bare_words() {
        assert_eq!(parse_value("true"), json!(true));
        assert_eq!(parse_value("deny"), json!("deny"));
        assert_eq!(parse_value("\"allow\""), json!("allow"));
    }
}
