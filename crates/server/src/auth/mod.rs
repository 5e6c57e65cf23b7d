//! Authentication, authorization and bans from the built-in tables (`users`, `acl`,
//! `banned`, `api_keys`, `cluster_config`), cached in memory and kept in step with the store:
//! every admin change is a store batch first, then applied here with [`AuthState::apply`].

pub mod password;
pub mod verifier;

use std::collections::BTreeMap;
use std::net::IpAddr;

use holdfast_core::topic;
use holdfast_store::Command;
use holdfast_store::records::{AclRecord, ApiKeyRecord, BannedRecord, UserRecord};

use crate::config::{AclAction, AclConfig, Permission};

/// Ban kinds, as stored.
pub const BAN_CLIENT_ID: u8 = 0;
pub const BAN_USERNAME: u8 = 1;
pub const BAN_PEER: u8 = 2;

/// ACL `who_kind` values, as stored.
pub const WHO_ALL: u8 = 0;
pub const WHO_USER: u8 = 1;
pub const WHO_CLIENT: u8 = 2;

/// The in-memory copy of the auth tables.
#[derive(Debug, Default, Clone)]
pub struct AuthState {
    pub users: BTreeMap<String, UserRecord>,
    pub acl: BTreeMap<u64, AclRecord>,
    pub banned: BTreeMap<(u8, String), BannedRecord>,
    pub api_keys: BTreeMap<String, ApiKeyRecord>,
    pub cluster_config: BTreeMap<String, String>,
}

/// What a client tries to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    Subscribe,
}

/// Who a connection is, for authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub client_id: String,
    pub username: Option<String>,
    pub superuser: bool,
}

/// The result of checking a CONNECT's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authn {
    /// Known user with the right password.
    User { superuser: bool },
    /// No username, and anonymous clients are allowed.
    Anonymous,
    /// Unknown user or wrong password.
    BadCredentials,
    /// No username, and anonymous clients are not allowed.
    NotAuthorized,
}

impl AuthState {
    /// Mirror one store command into the cache (commands for other tables are ignored).
    pub fn apply(&mut self, cmd: &Command) {
        match cmd {
            Command::PutUser { username, rec } => {
                self.users.insert(username.clone(), rec.clone());
            }
            Command::DeleteUser { username } => {
                self.users.remove(username);
            }
            Command::PutAcl { id, rec } => {
                self.acl.insert(*id, rec.clone());
            }
            Command::DeleteAcl { id } => {
                self.acl.remove(id);
            }
            Command::PutBanned { kind, value, rec } => {
                self.banned.insert((*kind, value.clone()), rec.clone());
            }
            Command::DeleteBanned { kind, value } => {
                self.banned.remove(&(*kind, value.clone()));
            }
            Command::PutApiKey { key_id, rec } => {
                self.api_keys.insert(key_id.clone(), rec.clone());
            }
            Command::DeleteApiKey { key_id } => {
                self.api_keys.remove(key_id);
            }
            Command::PutConfig { key, value } => {
                self.cluster_config.insert(key.clone(), value.clone());
            }
            Command::DeleteConfig { key } => {
                self.cluster_config.remove(key);
            }
            _ => {}
        }
    }

    /// The ban that applies to a connecting client, if any.
    pub fn ban_for(
        &self,
        client_id: &str,
        username: Option<&str>,
        peer: IpAddr,
        now_ms: u64,
    ) -> Option<&BannedRecord> {
        let live = |k: u8, v: &str| {
            self.banned
                .get(&(k, v.to_string()))
                .filter(|b| b.expires_at_ms.is_none_or(|t| t > now_ms))
        };
        live(BAN_CLIENT_ID, client_id)
            .or_else(|| username.and_then(|u| live(BAN_USERNAME, u)))
            .or_else(|| live(BAN_PEER, &peer.to_string()))
    }

    /// The password hash of `username`, to verify outside any lock.
    pub fn user(&self, username: &str) -> Option<UserRecord> {
        self.users.get(username).cloned()
    }
}

/// May `who` do `action` on `target` (topic name, or filter as subscribed)?
/// Superusers may do anything. Then the config file's `[[acl.rules]]`, then the `acl` table in
/// id order; the first matching rule decides; else `default`.
pub fn authorize(
    cfg: &AclConfig,
    db: &AuthState,
    default: Permission,
    who: &Identity,
    action: Action,
    target: &str,
) -> bool {
    if who.superuser {
        return true;
    }
    for rule in &cfg.rules {
        let covers = matches!(
            (rule.action, action),
            (AclAction::All, _)
                | (AclAction::Publish, Action::Publish)
                | (AclAction::Subscribe, Action::Subscribe)
        );
        if covers && topic_covers(&rule.topic, target) {
            return rule.permission == Permission::Allow;
        }
    }
    for rule in db.acl.values() {
        let applies = match rule.who_kind {
            WHO_ALL => true,
            WHO_USER => who.username.as_deref() == Some(rule.who.as_str()),
            WHO_CLIENT => who.client_id == rule.who,
            _ => false,
        };
        let covers = matches!(
            (rule.action, action),
            (2, _) | (0, Action::Publish) | (1, Action::Subscribe)
        );
        if !applies || !covers {
            continue;
        }
        let Some(filter) = substitute(&rule.topic, who) else {
            continue;
        };
        if topic_covers(&filter, target) {
            return rule.permission == 1;
        }
    }
    default == Permission::Allow
}

fn topic_covers(rule: &str, target: &str) -> bool {
    rule == target || topic::matches(rule, target)
}

/// Replace `${username}` and `${clientid}`, in one pass over the rule; `None` when the rule
/// does not apply to this client: it needs a username the client does not have, or the value
/// holds a wildcard (`+` or `#`), which would widen the rule to other clients' topics (client
/// id `+` turning `devices/${clientid}/#` into `devices/+/#`; Mosquitto's CVE-2017-7650).
/// A value is never searched for placeholders itself.
fn substitute(rule: &str, who: &Identity) -> Option<String> {
    const CLIENT: &str = "${clientid}";
    const USER: &str = "${username}";
    let mut out = String::with_capacity(rule.len());
    let mut rest = rule;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (value, len) = if tail.starts_with(CLIENT) {
            (who.client_id.as_str(), CLIENT.len())
        } else if tail.starts_with(USER) {
            (who.username.as_deref()?, USER.len())
        } else {
            ("${", 2)
        };
        if len != 2 && topic::has_wildcard(value) {
            return None;
        }
        out.push_str(value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AclRule;

    fn rule(who_kind: u8, who: &str, permission: u8, action: u8, topic: &str) -> AclRecord {
        AclRecord {
            who_kind,
            who: who.into(),
            permission,
            action,
            topic: topic.into(),
        }
    }

    fn id(client: &str, user: Option<&str>) -> Identity {
        Identity {
            client_id: client.into(),
            username: user.map(Into::into),
            superuser: false,
        }
    }

    #[test]
    fn placeholders_and_order() {
        let mut db = AuthState::default();
        db.acl
            .insert(1, rule(WHO_ALL, "", 1, 2, "users/${username}/#"));
        db.acl
            .insert(2, rule(WHO_ALL, "", 1, 0, "clients/${clientid}"));
        db.acl.insert(3, rule(WHO_USER, "bob", 0, 1, "#"));
        let cfg = AclConfig::default();
        let alice = id("c1", Some("alice"));
        let bob = id("c2", Some("bob"));
        let anon = id("c3", None);
        assert!(authorize(
            &cfg,
            &db,
            Permission::Deny,
            &alice,
            Action::Publish,
            "users/alice/x"
        ));
        assert!(!authorize(
            &cfg,
            &db,
            Permission::Deny,
            &alice,
            Action::Publish,
            "users/bob/x"
        ));
        assert!(authorize(
            &cfg,
            &db,
            Permission::Deny,
            &alice,
            Action::Publish,
            "clients/c1"
        ));
        assert!(!authorize(
            &cfg,
            &db,
            Permission::Deny,
            &anon,
            Action::Publish,
            "users//x"
        ));
        assert!(!authorize(
            &cfg,
            &db,
            Permission::Allow,
            &bob,
            Action::Subscribe,
            "other"
        ));
        assert!(authorize(
            &cfg,
            &db,
            Permission::Allow,
            &alice,
            Action::Subscribe,
            "other"
        ));
        let su = Identity {
            superuser: true,
            ..bob.clone()
        };
        assert!(authorize(
            &cfg,
            &db,
            Permission::Deny,
            &su,
            Action::Subscribe,
            "other"
        ));
    }

    #[test]
    fn placeholder_values_never_widen_a_rule() {
        let cfg = AclConfig::default();
        let mut db = AuthState::default();
        db.acl
            .insert(1, rule(WHO_ALL, "", 1, 2, "devices/${clientid}/#"));
        db.acl
            .insert(2, rule(WHO_ALL, "", 1, 2, "users/${username}/x"));
        let can = |client: &str, user: Option<&str>, t: &str| {
            authorize(
                &cfg,
                &db,
                Permission::Deny,
                &id(client, user),
                Action::Subscribe,
                t,
            )
        };
        assert!(can("d1", None, "devices/d1/#"));
        for wild in ["+", "#", "a+", "x/#"] {
            assert!(!can(wild, None, "devices/+/#"), "client id {wild}");
            assert!(!can("c", Some(wild), "users/+/x"), "username {wild}");
        }
        // A client id that spells a placeholder is taken literally.
        assert!(!can("${username}", Some("bob"), "devices/bob/#"));
        assert!(can("${username}", Some("bob"), "devices/${username}/#"));
        // Unknown placeholders stay as written.
        assert_eq!(
            substitute("a/${other}/${clientid}", &id("c", None)).as_deref(),
            Some("a/${other}/c")
        );
    }

    #[test]
    fn config_rules_come_first() {
        let cfg = AclConfig {
            rules: vec![AclRule {
                permission: Permission::Deny,
                action: AclAction::Subscribe,
                topic: "test/nosubscribe".into(),
            }],
            default: None,
        };
        let mut db = AuthState::default();
        db.acl.insert(1, rule(WHO_ALL, "", 1, 2, "#"));
        let c = id("c", None);
        assert!(!authorize(
            &cfg,
            &db,
            Permission::Allow,
            &c,
            Action::Subscribe,
            "test/nosubscribe"
        ));
        assert!(authorize(
            &cfg,
            &db,
            Permission::Allow,
            &c,
            Action::Publish,
            "test/nosubscribe"
        ));
    }

    #[test]
    fn expired_bans_do_not_apply() {
        let mut db = AuthState::default();
        let ban = |exp| BannedRecord {
            reason: None,
            expires_at_ms: exp,
            created_at_ms: 0,
        };
        db.banned
            .insert((BAN_USERNAME, "eve".into()), ban(Some(100)));
        db.banned.insert((BAN_PEER, "10.0.0.9".into()), ban(None));
        let ip: IpAddr = "10.0.0.9".parse().expect("ip");
        let other: IpAddr = "10.0.0.1".parse().expect("ip");
        assert!(db.ban_for("c", Some("eve"), other, 50).is_some());
        assert!(db.ban_for("c", Some("eve"), other, 150).is_none());
        assert!(db.ban_for("c", None, ip, 150).is_some());
    }
}
