//! [`AclBuilder`]: Holdfast ACL rules in the order they are made. Holdfast evaluates the
//! `acl` table in id order and the first rule that applies to the client, covers the action
//! and covers the topic decides; readers flatten a foreign ACL into that order.

use holdfast_store::Command;
use holdfast_store::records::AclRecord;

/// `who_kind`: every client.
pub const WHO_ALL: u8 = 0;
/// `who_kind`: the user named `who`.
pub const WHO_USER: u8 = 1;
/// `who_kind`: the client id `who`.
pub const WHO_CLIENT: u8 = 2;
/// `action`: publish.
pub const PUBLISH: u8 = 0;
/// `action`: subscribe.
pub const SUBSCRIBE: u8 = 1;
/// `action`: both.
pub const BOTH: u8 = 2;

/// Numbers rules 1, 2, 3, ... as they are made.
#[derive(Debug, Default)]
pub struct AclBuilder {
    last: u64,
}

impl AclBuilder {
    /// The command for the next rule.
    pub fn rule(
        &mut self,
        who_kind: u8,
        who: &str,
        allow: bool,
        action: u8,
        topic: &str,
    ) -> Command {
        self.last += 1;
        Command::PutAcl {
            id: self.last,
            rec: AclRecord {
                who_kind,
                who: who.to_string(),
                permission: u8::from(allow),
                action,
                topic: topic.to_string(),
            },
        }
    }

    /// How many rules were made.
    pub fn len(&self) -> u64 {
        self.last
    }

    pub fn is_empty(&self) -> bool {
        self.last == 0
    }
}

/// Current time, Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
