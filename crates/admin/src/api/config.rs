//! `/api/v1/config`: cluster config, the runtime settings kept in the store's
//! `cluster_config` table (values as TOML text). Precedence, lowest first: built-in default <
//! cluster config < `holdfast.toml` < environment; so a key also set in the file or the
//! environment is stored but has no effect, and the listing says so.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use holdfast_server::config::Permission;
use holdfast_store::Command;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParam};
use crate::state::AppState;

/// A setting's value: a string or a boolean, depending on the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ConfigValue {
    Bool(bool),
    Text(String),
}

impl ConfigValue {
    /// TOML text, as stored.
    fn to_toml(&self) -> String {
        match self {
            ConfigValue::Bool(b) => b.to_string(),
            // Only known words are stored, so no escaping is needed.
            ConfigValue::Text(s) => format!("\"{s}\""),
        }
    }

    /// Read stored TOML text back; `None` for anything this API does not write.
    fn from_toml(text: &str) -> Option<ConfigValue> {
        match text {
            "true" => Some(ConfigValue::Bool(true)),
            "false" => Some(ConfigValue::Bool(false)),
            _ => text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .map(|t| ConfigValue::Text(t.to_string())),
        }
    }
}

/// One runtime setting.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigEntry {
    pub key: String,
    /// The value stored in the cluster config; null when unset.
    pub value: Option<ConfigValue>,
    /// The value in force now (from the file or environment, the cluster config, or the
    /// built-in default).
    pub effective: ConfigValue,
    /// `holdfast.toml or environment` when that sets the key and so overrides `value`.
    pub overridden_by: Option<String>,
    pub description: String,
}

/// The keys this API accepts (for the OpenAPI document; handlers take any string so that an
/// unknown key gets a message listing the known ones).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum ConfigKey {
    #[serde(rename = "acl.default")]
    AclDefault,
    #[serde(rename = "mqtt.allow_anonymous")]
    MqttAllowAnonymous,
}

/// The keys this API accepts.
pub const KEYS: [&str; 2] = ["acl.default", "mqtt.allow_anonymous"];

fn describe(key: &str) -> &'static str {
    match key {
        "acl.default" => "ACL decision when no rule matches: \"allow\" or \"deny\"",
        _ => "allow clients without a username: true or false",
    }
}

fn check(key: &str, v: &ConfigValue) -> Result<(), ApiError> {
    match (key, v) {
        ("acl.default", ConfigValue::Text(t)) if t == "allow" || t == "deny" => Ok(()),
        ("acl.default", _) => Err(ApiError::bad(
            "acl.default must be the string \"allow\" or \"deny\"",
        )),
        ("mqtt.allow_anonymous", ConfigValue::Bool(_)) => Ok(()),
        ("mqtt.allow_anonymous", _) => {
            Err(ApiError::bad("mqtt.allow_anonymous must be true or false"))
        }
        _ => Err(unknown(key)),
    }
}

fn unknown(key: &str) -> ApiError {
    ApiError::bad(format!(
        "unknown cluster config key {key:?}: known keys are {}",
        KEYS.join(", ")
    ))
}

fn entry(st: &AppState, key: &str) -> ConfigEntry {
    let b = &st.broker;
    let stored = b
        .auth()
        .cluster_config
        .get(key)
        .and_then(|t| ConfigValue::from_toml(t));
    let (effective, overridden) = match key {
        "acl.default" => (
            ConfigValue::Text(
                match b.acl_default() {
                    Permission::Allow => "allow",
                    Permission::Deny => "deny",
                }
                .into(),
            ),
            b.config.acl.default.is_some(),
        ),
        _ => (
            ConfigValue::Bool(b.allow_anonymous()),
            b.config.mqtt.allow_anonymous.is_some(),
        ),
    };
    ConfigEntry {
        key: key.to_string(),
        value: stored,
        effective,
        overridden_by: overridden.then(|| "holdfast.toml or environment".to_string()),
        description: describe(key).to_string(),
    }
}

/// Every runtime setting, stored and effective values.
#[utoipa::path(get, path = "/api/v1/config", operation_id = "list_config", tag = "config",
    responses((status = 200, description = "Every known key", body = [ConfigEntry])))]
pub async fn list(State(st): State<AppState>) -> Json<Vec<ConfigEntry>> {
    Json(KEYS.iter().map(|k| entry(&st, k)).collect())
}

/// Set a runtime setting; it takes effect at once.
#[utoipa::path(put, path = "/api/v1/config/{key}", operation_id = "put_config", tag = "config", request_body = ConfigValue,
    params(("key" = ConfigKey, Path, description = "acl.default or mqtt.allow_anonymous")),
    responses(
        (status = 200, description = "Set", body = ConfigEntry),
        (status = 400, description = "Unknown key or wrong value", body = ErrorBody)))]
pub async fn put(
    State(st): State<AppState>,
    PathParam(key): PathParam<String>,
    JsonBody(raw): JsonBody<serde_json::Value>,
) -> Result<Json<ConfigEntry>, ApiError> {
    // The body is read as any JSON first so that an unknown key, or a value of the wrong
    // type, is reported against the key rather than as a shapeless body error.
    if !KEYS.contains(&key.as_str()) {
        return Err(unknown(&key));
    }
    let value = match raw {
        serde_json::Value::Bool(b) => ConfigValue::Bool(b),
        serde_json::Value::String(s) => ConfigValue::Text(s),
        other => {
            let kind = match other {
                serde_json::Value::Null => "null",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Array(_) => "an array",
                _ => "an object",
            };
            return Err(ApiError::bad(format!(
                "{key}: expected a JSON string or boolean, got {kind}"
            )));
        }
    };
    check(&key, &value)?;
    let _w = st.writes.lock().await;
    st.broker
        .apply_admin(vec![Command::PutConfig {
            key: key.clone(),
            value: value.to_toml(),
        }])
        .await?;
    tracing::info!(%key, value = %value.to_toml(), "admin: cluster config set");
    Ok(Json(entry(&st, &key)))
}

/// Unset a runtime setting (back to its default).
#[utoipa::path(delete, path = "/api/v1/config/{key}", operation_id = "delete_config", tag = "config",
    params(("key" = ConfigKey, Path, description = "acl.default or mqtt.allow_anonymous")),
    responses(
        (status = 204, description = "Unset"),
        (status = 400, description = "Unknown key", body = ErrorBody),
        (status = 404, description = "The key is not set", body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    PathParam(key): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    if !KEYS.contains(&key.as_str()) {
        return Err(unknown(&key));
    }
    let _w = st.writes.lock().await;
    if !st.broker.auth().cluster_config.contains_key(&key) {
        return Err(ApiError::not_found(format!(
            "cluster config key {key:?} is not set"
        )));
    }
    st.broker
        .apply_admin(vec![Command::DeleteConfig { key: key.clone() }])
        .await?;
    tracing::info!(%key, "admin: cluster config unset");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_toml_text() {
        for v in [
            ConfigValue::Bool(true),
            ConfigValue::Bool(false),
            ConfigValue::Text("deny".into()),
        ] {
            assert_eq!(ConfigValue::from_toml(&v.to_toml()), Some(v));
        }
        assert_eq!(ConfigValue::Text("deny".into()).to_toml(), "\"deny\"");
    }

    #[test]
    fn values_are_checked_per_key() {
        assert!(check("acl.default", &ConfigValue::Text("deny".into())).is_ok());
        assert!(check("acl.default", &ConfigValue::Text("maybe".into())).is_err());
        assert!(check("acl.default", &ConfigValue::Bool(true)).is_err());
        assert!(check("mqtt.allow_anonymous", &ConfigValue::Bool(false)).is_ok());
        assert!(check("mqtt.allow_anonymous", &ConfigValue::Text("no".into())).is_err());
        let err = check("mqtt.bogus", &ConfigValue::Bool(true)).expect_err("unknown");
        assert!(
            err.to_string().contains("unknown cluster config key"),
            "{err}"
        );
    }
}
