//! The dynamic security plugin's `dynamic-security.json`: clients (username, PBKDF2-SHA512
//! password, client id binding, disabled flag), groups, roles with prioritised ACL entries, and
//! the default access.
//!
//! The plugin decides one client's access from its own roles (highest priority first), then
//! each of its groups' roles (groups and roles highest priority first); within a role, ACL
//! entries highest priority first; the first entry of the right type whose topic matches
//! decides; else the default access. That is one ordered list per client, which is what is
//! written: for each client, rules for its username in that order, then the default access as
//! a catch-all. `publishClientSend` becomes publish, `subscribeLiteral`/`subscribePattern`
//! subscribe. What Holdfast cannot check (delivery to a client, unsubscribe, anonymous group,
//! client id binding) is reported.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use holdfast_store::Command;
use holdfast_store::records::UserRecord;
use serde::Deserialize;

use super::{file_name, read_text};
use crate::acl::{AclBuilder, PUBLISH, SUBSCRIBE, WHO_USER, now_ms};
use crate::{ConvertError, Report, Sink};

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DefaultAccess {
    #[serde(default)]
    publish_client_send: Option<bool>,
    #[serde(default)]
    publish_client_receive: Option<bool>,
    #[serde(default)]
    subscribe: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Ref {
    #[serde(alias = "rolename", alias = "groupname")]
    name: String,
    #[serde(default)]
    priority: i64,
}

#[derive(Debug, Deserialize)]
struct ClientJson {
    username: String,
    #[serde(default)]
    clientid: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    salt: Option<String>,
    #[serde(default)]
    iterations: Option<u32>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    roles: Vec<Ref>,
    #[serde(default)]
    groups: Vec<Ref>,
}

#[derive(Debug, Deserialize)]
struct GroupJson {
    groupname: String,
    #[serde(default)]
    roles: Vec<Ref>,
}

#[derive(Debug, Deserialize, Clone)]
struct AclJson {
    acltype: String,
    topic: String,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    allow: bool,
}

#[derive(Debug, Deserialize)]
struct RoleJson {
    rolename: String,
    #[serde(default)]
    acls: Vec<AclJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DynsecJson {
    #[serde(default, rename = "defaultACLAccess")]
    default_acl_access: DefaultAccess,
    #[serde(default)]
    clients: Vec<ClientJson>,
    #[serde(default)]
    groups: Vec<GroupJson>,
    #[serde(default)]
    roles: Vec<RoleJson>,
    #[serde(default)]
    anonymous_group: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Dynsec {
    file: String,
    json: DynsecJson,
}

pub(crate) fn parse(path: &Path) -> Result<Dynsec, ConvertError> {
    let file = file_name(path);
    let text = read_text(path, "dynamic-security.json")?;
    parse_text(&file, &text)
}

fn parse_text(file: &str, text: &str) -> Result<Dynsec, ConvertError> {
    let json: DynsecJson = serde_json::from_str(text).map_err(|e| {
        ConvertError::corrupt(
            file,
            format!("line {} column {}", e.line(), e.column()),
            "dynamic-security.json",
            e.to_string(),
        )
    })?;
    Ok(Dynsec {
        file: file.to_string(),
        json,
    })
}

fn by_priority(refs: &[Ref]) -> Vec<&Ref> {
    let mut v: Vec<&Ref> = refs.iter().collect();
    // Stable: equal priorities keep their order in the file.
    v.sort_by_key(|r| std::cmp::Reverse(r.priority));
    v
}

impl Dynsec {
    pub(crate) fn emit(
        self,
        acl: &mut AclBuilder,
        sink: &mut Sink<'_>,
        report: &mut Report,
    ) -> Result<(), ConvertError> {
        let file = self.file.as_str();
        let j = &self.json;
        let now = now_ms();
        let role = |name: &str| j.roles.iter().find(|r| r.rolename == name);
        let group = |name: &str| j.groups.iter().find(|g| g.groupname == name);
        let d = &j.default_acl_access;
        let default_pub = d.publish_client_send.unwrap_or(false);
        let default_sub = d.subscribe.unwrap_or(false);
        if d.publish_client_receive == Some(false) {
            report.not_carried(
                file,
                "defaultACLAccess publishClientReceive false",
                "Holdfast checks no ACL when delivering a message: clients receive what their \
                 subscriptions match",
            );
        }
        if let Some(g) = &j.anonymous_group {
            report.not_carried(
                file,
                format!("anonymousGroup {g}"),
                "Holdfast's ACL has no subject for clients without a username",
            );
        }
        for role in &j.roles {
            for a in &role.acls {
                if a.acltype.starts_with("unsubscribe") {
                    report.mapped(
                        file,
                        format!("role {} {} {}", role.rolename, a.acltype, a.topic),
                        "Holdfast does not check UNSUBSCRIBE: every client may unsubscribe",
                    );
                } else if a.acltype == "publishClientReceive" {
                    report.not_carried(
                        file,
                        format!("role {} publishClientReceive {}", role.rolename, a.topic),
                        "Holdfast checks no ACL when delivering a message",
                    );
                } else if a.acltype == "subscribeLiteral"
                    && (a.topic.contains('+') || a.topic.contains('#'))
                {
                    report.mapped(
                        file,
                        format!("role {} subscribeLiteral {}", role.rolename, a.topic),
                        "matched as a pattern: Holdfast's rule also covers filters the \
                         wildcards match",
                    );
                }
            }
        }
        // Topics no "#" rule covers ($SYS/...) get the default too, where it is one answer.
        match (default_pub, default_sub) {
            (false, false) | (true, true) => {
                let v = if default_pub { "\"allow\"" } else { "\"deny\"" };
                sink(Command::PutConfig {
                    key: "acl.default".into(),
                    value: v.into(),
                })?;
                report.carried(file, "cluster_config");
            }
            _ => report.mapped(
                file,
                "defaultACLAccess",
                "publish and subscribe defaults differ: written as each client's last two rules \
                 on `#`; topics starting with `$` fall to Holdfast's acl.default (allow)",
            ),
        }
        for c in &j.clients {
            let name = format!("client {}", c.username);
            if c.disabled {
                report.not_carried(
                    file,
                    name,
                    "disabled: Holdfast has no disabled user; not created",
                );
                continue;
            }
            let hash = match (&c.password, &c.salt, c.iterations) {
                (Some(p), Some(s), Some(i))
                    if STANDARD.decode(p).is_ok() && STANDARD.decode(s).is_ok() =>
                {
                    format!("$7${i}${s}${p}")
                }
                _ => {
                    report.not_carried(
                        file,
                        name,
                        "no usable password (password, salt, iterations); the ACL rules are kept",
                    );
                    String::new()
                }
            };
            if !hash.is_empty() {
                sink(Command::PutUser {
                    username: c.username.clone(),
                    rec: UserRecord {
                        password_hash: hash,
                        superuser: false,
                        created_at_ms: now,
                    },
                })?;
                report.carried(file, "users");
            }
            if let Some(id) = &c.clientid {
                report.mapped(
                    file,
                    format!("client {} clientid {id}", c.username),
                    "Holdfast does not bind a username to one client id: the user may connect \
                     with any client id",
                );
            }
            // The client's roles, then its groups' roles.
            let mut roles: Vec<&str> = by_priority(&c.roles)
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            for g in by_priority(&c.groups) {
                match group(&g.name) {
                    Some(g) => roles.extend(by_priority(&g.roles).iter().map(|r| r.name.as_str())),
                    None => report.not_carried(file, format!("group {}", g.name), "not defined"),
                }
            }
            for rn in roles {
                let Some(r) = role(rn) else {
                    report.not_carried(file, format!("role {rn}"), "not defined");
                    continue;
                };
                let mut acls = r.acls.clone();
                acls.sort_by_key(|a| std::cmp::Reverse(a.priority));
                for a in acls {
                    let action = match a.acltype.as_str() {
                        "publishClientSend" => PUBLISH,
                        "subscribeLiteral" | "subscribePattern" => SUBSCRIBE,
                        _ => continue,
                    };
                    sink(acl.rule(WHO_USER, &c.username, a.allow, action, &a.topic))?;
                    report.carried(file, "acl");
                }
            }
            // The default access, as this client's last rules.
            sink(acl.rule(WHO_USER, &c.username, default_pub, PUBLISH, "#"))?;
            sink(acl.rule(WHO_USER, &c.username, default_sub, SUBSCRIBE, "#"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_priority_then_groups_then_default() {
        let d = parse_text(
            "dynamic-security.json",
            r#"{"defaultACLAccess": {"publishClientSend": false, "subscribe": true},
                "clients": [{"username": "u", "password": "cHc=", "salt": "c2FsdA==", "iterations": 101,
                             "roles": [{"rolename": "low", "priority": 1}, {"rolename": "high", "priority": 5}],
                             "groups": [{"groupname": "g"}]}],
                "groups": [{"groupname": "g", "roles": [{"rolename": "grp"}]}],
                "roles": [{"rolename": "low", "acls": [{"acltype": "publishClientSend", "topic": "low", "allow": true}]},
                          {"rolename": "high", "acls": [
                              {"acltype": "publishClientSend", "topic": "a", "priority": 1, "allow": false},
                              {"acltype": "subscribePattern", "topic": "b/#", "priority": 9, "allow": true}]},
                          {"rolename": "grp", "acls": [{"acltype": "publishClientSend", "topic": "g", "allow": true}]}]}"#,
        )
        .expect("parses");
        let mut cmds = Vec::new();
        let mut report = Report::default();
        d.emit(
            &mut AclBuilder::default(),
            &mut |c| {
                cmds.push(c);
                Ok(())
            },
            &mut report,
        )
        .expect("emits");
        let rules: Vec<(u8, u8, String)> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::PutAcl { rec, .. } => {
                    Some((rec.permission, rec.action, rec.topic.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            rules,
            vec![
                (1, SUBSCRIBE, "b/#".into()),
                (0, PUBLISH, "a".into()),
                (1, PUBLISH, "low".into()),
                (1, PUBLISH, "g".into()),
                (0, PUBLISH, "#".into()),
                (1, SUBSCRIBE, "#".into()),
            ]
        );
        assert!(
            matches!(&cmds[0], Command::PutUser { rec, .. } if rec.password_hash == "$7$101$c2FsdA==$cHc=")
        );
    }

    #[test]
    fn bad_json_names_line_and_column() {
        let e = parse_text("dynamic-security.json", "{\n  \"clients\": 3\n}").expect_err("bad");
        assert!(
            e.to_string().contains("dynamic-security.json: line 2"),
            "{e}"
        );
    }
}
