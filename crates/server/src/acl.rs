//! Authorization against the `[[acl.rules]]` of the config: the first rule whose action and
//! topic match decides; with no match, access is allowed. (The built-in `acl` table with
//! per-user rules and placeholders replaces this in the config-and-data-layer work.)

use holdfast_core::topic;

use crate::config::{AclAction, AclConfig, Permission};

/// What a client tries to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    Subscribe,
}

/// May a client do `action` on `target` (a topic name, or the filter as subscribed)?
pub fn check(acl: &AclConfig, action: Action, target: &str) -> bool {
    for rule in &acl.rules {
        let covers = matches!(
            (rule.action, action),
            (AclAction::All, _)
                | (AclAction::Publish, Action::Publish)
                | (AclAction::Subscribe, Action::Subscribe)
        );
        if covers && (rule.topic == target || topic::matches(&rule.topic, target)) {
            return rule.permission == Permission::Allow;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AclRule;

    #[test]
    fn first_matching_rule_decides() {
        let acl = AclConfig {
            rules: vec![
                AclRule {
                    permission: Permission::Allow,
                    action: AclAction::Subscribe,
                    topic: "a/ok".into(),
                },
                AclRule {
                    permission: Permission::Deny,
                    action: AclAction::Subscribe,
                    topic: "a/#".into(),
                },
            ],
        };
        assert!(check(&acl, Action::Subscribe, "a/ok"));
        assert!(!check(&acl, Action::Subscribe, "a/no"));
        assert!(check(&acl, Action::Publish, "a/no"));
        assert!(check(&acl, Action::Subscribe, "b"));
    }
}
