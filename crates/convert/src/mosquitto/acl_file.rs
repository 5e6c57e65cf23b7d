//! Mosquitto's `acl_file`. Lines: `topic [read|write|readwrite|deny] TOPIC` (before any
//! `user` line: for anonymous clients; after one: for that user), `user NAME`, and
//! `pattern [read|write|readwrite|deny] TOPIC` (every client, `%u` and `%c` filled in).
//! Mosquitto checks a client's own lines, then the patterns; in each list its `deny` lines
//! come first (Mosquitto puts them at the head), then the others in file order. A `deny`
//! line that matches denies; an access line decides only for the access it names; no match
//! denies.
//!
//! Holdfast's ACL is the same first-match list, so the flattening is: every user's lines as
//! rules for that user (denies first), then the patterns as rules for every client (denies
//! first), then `acl.default` deny. `read` becomes subscribe, `write` publish.

use std::path::Path;

use holdfast_store::Command;

use super::{file_name, read_text};
use crate::acl::{AclBuilder, BOTH, PUBLISH, SUBSCRIBE, WHO_ALL, WHO_USER};
use crate::{ConvertError, Report, Sink};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    line: usize,
    /// `None`: before any `user` line (anonymous clients).
    user: Option<String>,
    pattern: bool,
    access: Access,
    topic: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    ReadWrite,
    Deny,
}

#[derive(Debug)]
pub(crate) struct AclFile {
    file: String,
    lines: Vec<Line>,
}

pub(crate) fn parse(path: &Path) -> Result<AclFile, ConvertError> {
    let file = file_name(path);
    let text = read_text(path, "mosquitto acl_file")?;
    parse_text(&file, &text)
}

fn parse_text(file: &str, text: &str) -> Result<AclFile, ConvertError> {
    let mut lines = Vec::new();
    let mut user: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let bad = |why: &str| {
            ConvertError::corrupt(file, format!("line {}", n + 1), "mosquitto acl_file", why)
        };
        let (word, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        let rest = rest.trim();
        match word {
            "user" => {
                if rest.is_empty() {
                    return Err(bad("`user` without a name"));
                }
                user = Some(rest.to_string());
            }
            "topic" | "pattern" => {
                let (access, topic) = match rest.split_once(char::is_whitespace) {
                    Some(("read", t)) => (Access::Read, t),
                    Some(("write", t)) => (Access::Write, t),
                    Some(("readwrite", t)) => (Access::ReadWrite, t),
                    Some(("deny", t)) => (Access::Deny, t),
                    _ => (Access::ReadWrite, rest),
                };
                let topic = topic.trim();
                if topic.is_empty() {
                    return Err(bad("a rule without a topic"));
                }
                lines.push(Line {
                    line: n + 1,
                    user: user.clone(),
                    pattern: word == "pattern",
                    access,
                    topic: topic.to_string(),
                });
            }
            _ => return Err(bad("expected `user`, `topic` or `pattern`")),
        }
    }
    Ok(AclFile {
        file: file.to_string(),
        lines,
    })
}

fn action_of(a: Access) -> (bool, u8) {
    match a {
        Access::Read => (true, SUBSCRIBE),
        Access::Write => (true, PUBLISH),
        Access::ReadWrite => (true, BOTH),
        Access::Deny => (false, BOTH),
    }
}

impl AclFile {
    pub(crate) fn emit(
        self,
        acl: &mut AclBuilder,
        sink: &mut Sink<'_>,
        report: &mut Report,
    ) -> Result<(), ConvertError> {
        let file = self.file.as_str();
        report.mapped(
            file,
            "read access",
            "Mosquitto checks `read` on every message delivered; Holdfast checks it on SUBSCRIBE \
             against the filter as subscribed, so a wildcard subscription wider than the rules \
             is refused rather than filtered",
        );
        // A user's own lines (wherever `user` appeared), then the patterns.
        let denies_first = |pattern: bool| {
            let mut v: Vec<&Line> = self.lines.iter().filter(|l| l.pattern == pattern).collect();
            v.sort_by_key(|l| l.access != Access::Deny);
            v
        };
        for l in denies_first(false) {
            let (allow, action) = action_of(l.access);
            match &l.user {
                Some(u) => {
                    sink(acl.rule(WHO_USER, u, allow, action, &l.topic))?;
                    report.carried(file, "acl");
                }
                None => report.not_carried(
                    file,
                    format!("topic {} (line {})", l.topic, l.line),
                    "a rule for anonymous clients only: Holdfast's ACL has no subject for \
                     'clients without a username'; add it by hand if anonymous clients stay",
                ),
            }
        }
        for l in denies_first(true) {
            let (allow, action) = action_of(l.access);
            let topic = l
                .topic
                .replace("%u", "${username}")
                .replace("%c", "${clientid}");
            sink(acl.rule(WHO_ALL, "", allow, action, &topic))?;
            report.carried(file, "acl");
        }
        // With an acl_file, Mosquitto denies what no line allows.
        sink(Command::PutConfig {
            key: "acl.default".into(),
            value: "\"deny\"".into(),
        })?;
        report.carried(file, "cluster_config");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_then_patterns_then_deny() {
        let a = parse_text(
            "acl",
            "# c\ntopic read $SYS/#\nuser alice\ntopic write a/#\ntopic deny a/secret\n\
             pattern readwrite dev/%c/%u\n",
        )
        .expect("parses");
        let mut cmds = Vec::new();
        let mut report = Report::default();
        let mut b = AclBuilder::default();
        a.emit(
            &mut b,
            &mut |c| {
                cmds.push(c);
                Ok(())
            },
            &mut report,
        )
        .expect("emits");
        let rules: Vec<_> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::PutAcl { id, rec } => Some((
                    *id,
                    rec.who.clone(),
                    rec.permission,
                    rec.action,
                    rec.topic.clone(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            rules,
            vec![
                (1, "alice".into(), 0, BOTH, "a/secret".into()),
                (2, "alice".into(), 1, PUBLISH, "a/#".into()),
                (3, "".into(), 1, BOTH, "dev/${clientid}/${username}".into()),
            ]
        );
        assert_eq!(report.count(crate::Outcome::NotCarried), 1, "{report:?}");
        assert!(cmds.contains(&Command::PutConfig {
            key: "acl.default".into(),
            value: "\"deny\"".into()
        }));
    }

    #[test]
    fn bad_lines_name_the_line() {
        let e = parse_text("acl", "user\n").expect_err("refused");
        assert!(e.to_string().contains("acl: line 1"), "{e}");
        let e = parse_text("acl", "\n\nbogus x\n").expect_err("refused");
        assert!(e.to_string().contains("line 3"), "{e}");
    }
}
