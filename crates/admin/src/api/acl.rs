//! `/api/v1/acl`: the ordered ACL rules of the `acl` table. Rules are checked in id order
//! (after the config file's `[[acl.rules]]`); a new rule gets the next id, so it goes last.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use holdfast_core::topic;
use holdfast_server::auth::{WHO_ALL, WHO_CLIENT, WHO_USER};
use holdfast_store::Command;
use holdfast_store::records::AclRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParam};
use crate::state::AppState;

/// Longest topic filter accepted in a rule, in bytes (the MQTT string limit).
pub const TOPIC_BYTES_MAX: usize = 65_535;
/// Placeholders a rule's topic may hold, replaced by the client's values when matching.
pub const PLACEHOLDERS: [&str; 2] = ["${username}", "${clientid}"];

/// Whom a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WhoKind {
    /// Every client.
    All,
    /// Clients authenticated as the user `value`.
    User,
    /// The client id `value`.
    Client,
}

/// Whom a rule applies to: `{"kind": "all"}`, `{"kind": "user", "value": "alice"}`,
/// `{"kind": "client", "value": "sensor-1"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Who {
    pub kind: WhoKind,
    /// The username or client id; absent (or null) for `all`.
    #[serde(default)]
    pub value: Option<String>,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Allow,
    Deny,
}

/// What a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Publish,
    Subscribe,
    All,
}

/// `POST /api/v1/acl`: a rule to append.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAclRule {
    pub who: Who,
    pub permission: Permission,
    pub action: Action,
    /// Topic filter; may hold `${username}` and `${clientid}`.
    #[schema(min_length = 1, max_length = 65535)]
    pub topic: String,
}

/// One rule, with its id (its place in the order).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    pub id: u64,
    pub who: Who,
    pub permission: Permission,
    pub action: Action,
    pub topic: String,
}

fn view(id: u64, r: &AclRecord) -> AclRule {
    let kind = match r.who_kind {
        WHO_USER => WhoKind::User,
        WHO_CLIENT => WhoKind::Client,
        _ => WhoKind::All,
    };
    AclRule {
        id,
        who: Who {
            kind,
            value: (kind != WhoKind::All).then(|| r.who.clone()),
        },
        permission: if r.permission == 1 {
            Permission::Allow
        } else {
            Permission::Deny
        },
        action: match r.action {
            0 => Action::Publish,
            1 => Action::Subscribe,
            _ => Action::All,
        },
        topic: r.topic.clone(),
    }
}

/// Check a rule and turn it into its record.
fn record(req: &NewAclRule) -> Result<AclRecord, ApiError> {
    let value = req.who.value.as_deref().unwrap_or("");
    let who_kind = match req.who.kind {
        WhoKind::All if !value.is_empty() => {
            return Err(ApiError::bad(
                "who.value must be absent when who.kind is \"all\"",
            ));
        }
        WhoKind::All => WHO_ALL,
        _ if value.is_empty() => {
            return Err(ApiError::bad(
                "who.value (the username or client id) is required when who.kind is \"user\" \
                 or \"client\"",
            ));
        }
        WhoKind::User => WHO_USER,
        WhoKind::Client => WHO_CLIENT,
    };
    check_topic(&req.topic)?;
    Ok(AclRecord {
        who_kind,
        who: value.to_string(),
        permission: match req.permission {
            Permission::Deny => 0,
            Permission::Allow => 1,
        },
        action: match req.action {
            Action::Publish => 0,
            Action::Subscribe => 1,
            Action::All => 2,
        },
        topic: req.topic.clone(),
    })
}

/// A rule's topic must be a valid filter once its placeholders are filled in.
fn check_topic(t: &str) -> Result<(), ApiError> {
    if t.len() > TOPIC_BYTES_MAX {
        return Err(ApiError::bad(format!(
            "topic must be at most {TOPIC_BYTES_MAX} bytes"
        )));
    }
    let mut filled = t.to_string();
    for p in PLACEHOLDERS {
        filled = filled.replace(p, "x");
    }
    if filled.contains("${") {
        return Err(ApiError::bad(format!(
            "invalid topic filter {t:?}: unknown placeholder (only ${{username}} and \
             ${{clientid}} are replaced)"
        )));
    }
    topic::parse_filter(&filled)
        .map(|_| ())
        .map_err(|e| ApiError::bad(format!("invalid topic filter {t:?}: {e}")))
}

/// List the rules in the order they are checked.
#[utoipa::path(get, path = "/api/v1/acl", operation_id = "list_acl_rules", tag = "acl",
    responses((status = 200, description = "Every rule, in id order", body = [AclRule])))]
pub async fn list(State(st): State<AppState>) -> Json<Vec<AclRule>> {
    let auth = st.broker.auth();
    Json(auth.acl.iter().map(|(id, r)| view(*id, r)).collect())
}

/// Append a rule (it is checked after every existing one).
#[utoipa::path(post, path = "/api/v1/acl", operation_id = "create_acl_rule", tag = "acl", request_body = NewAclRule,
    responses(
        (status = 201, description = "Appended", body = AclRule),
        (status = 400, description = "Invalid body, who or topic filter", body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<NewAclRule>,
) -> Result<(StatusCode, Json<AclRule>), ApiError> {
    let rec = record(&req)?;
    let _w = st.writes.lock().await;
    let last = st.broker.auth().acl.keys().next_back().copied();
    let id = match last {
        None => 1,
        Some(id) => id
            .checked_add(1)
            .ok_or_else(|| ApiError::Conflict("ACL rule ids are exhausted".into()))?,
    };
    let out = view(id, &rec);
    st.broker
        .apply_admin(vec![Command::PutAcl { id, rec }])
        .await?;
    tracing::info!(id, topic = %out.topic, "admin: ACL rule added");
    Ok((StatusCode::CREATED, Json(out)))
}

/// Delete a rule.
#[utoipa::path(delete, path = "/api/v1/acl/{id}", operation_id = "delete_acl_rule", tag = "acl",
    params(("id" = u64, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad(format!("ACL rule id {id:?} is not a number")))?;
    let _w = st.writes.lock().await;
    if !st.broker.auth().acl.contains_key(&id) {
        return Err(ApiError::not_found(format!("no ACL rule {id}")));
    }
    st.broker
        .apply_admin(vec![Command::DeleteAcl { id }])
        .await?;
    tracing::info!(id, "admin: ACL rule deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: WhoKind, value: Option<&str>, topic: &str) -> NewAclRule {
        NewAclRule {
            who: Who {
                kind,
                value: value.map(Into::into),
            },
            permission: Permission::Deny,
            action: Action::Subscribe,
            topic: topic.into(),
        }
    }

    #[test]
    fn placeholders_are_allowed_and_filters_checked() {
        assert!(record(&rule(WhoKind::All, None, "users/${username}/#")).is_ok());
        assert!(record(&rule(WhoKind::All, None, "${clientid}")).is_ok());
        assert!(record(&rule(WhoKind::All, None, "$share/g/a/+")).is_ok());
        for bad in ["a/#/b", "a+", "", "x/${other}"] {
            let err = record(&rule(WhoKind::All, None, bad)).expect_err("invalid");
            assert!(err.to_string().contains("topic"), "{bad}: {err}");
        }
    }

    #[test]
    fn who_value_matches_its_kind() {
        assert!(record(&rule(WhoKind::All, Some("x"), "a")).is_err());
        assert!(record(&rule(WhoKind::User, None, "a")).is_err());
        assert!(record(&rule(WhoKind::User, Some(""), "a")).is_err());
        let r = record(&rule(WhoKind::Client, Some("c1"), "a")).expect("valid");
        assert_eq!((r.who_kind, r.who.as_str()), (WHO_CLIENT, "c1"));
        let back = view(3, &r);
        assert_eq!(back.who.kind, WhoKind::Client);
        assert_eq!(back.permission, Permission::Deny);
        assert_eq!(back.action, Action::Subscribe);
    }
}
