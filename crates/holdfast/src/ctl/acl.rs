//! `holdfast ctl acl add|list|del`: the ordered ACL rules.

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::client::Client;
use super::output::{Output, field};

/// ACL rules, checked in id order; the first match decides.
#[derive(Debug, Subcommand)]
pub enum AclCmd {
    /// Append a rule, e.g. `acl add deny subscribe 'secret/#' --user alice`.
    Add {
        permission: PermissionArg,
        action: ActionArg,
        /// Topic filter; `${username}` and `${clientid}` are replaced per client
        topic: String,
        /// Only for this username (default: every client)
        #[arg(long, conflicts_with = "client")]
        user: Option<String>,
        /// Only for this client id (default: every client)
        #[arg(long)]
        client: Option<String>,
    },
    /// List rules in the order they are checked.
    List,
    /// Delete a rule by id.
    Del { id: u64 },
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PermissionArg {
    Allow,
    Deny,
}

/// What the rule covers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActionArg {
    Publish,
    Subscribe,
    All,
}

fn who(v: &Value) -> String {
    let w = v.get("who").cloned().unwrap_or(Value::Null);
    match field(&w, "kind").as_str() {
        "all" => "all".into(),
        kind => format!("{kind}:{}", field(&w, "value")),
    }
}

pub fn run(cmd: AclCmd, c: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        AclCmd::Add {
            permission,
            action,
            topic,
            user,
            client,
        } => {
            let who = match (user, client) {
                (Some(u), _) => json!({"kind": "user", "value": u}),
                (None, Some(c)) => json!({"kind": "client", "value": c}),
                (None, None) => json!({"kind": "all"}),
            };
            let perm = match permission {
                PermissionArg::Allow => "allow",
                PermissionArg::Deny => "deny",
            };
            let act = match action {
                ActionArg::Publish => "publish",
                ActionArg::Subscribe => "subscribe",
                ActionArg::All => "all",
            };
            let body = json!({"who": who, "permission": perm, "action": act, "topic": topic});
            let v = c.send("POST", "/acl", &body)?;
            out.done(&v, &format!("ACL rule {} added", field(&v, "id")))
        }
        AclCmd::List => {
            let v = c.get("/acl")?;
            out.table(
                &v,
                &[
                    ("ID", &|r| field(r, "id")),
                    ("WHO", &who),
                    ("PERMISSION", &|r| field(r, "permission")),
                    ("ACTION", &|r| field(r, "action")),
                    ("TOPIC", &|r| field(r, "topic")),
                ],
            )
        }
        AclCmd::Del { id } => {
            c.delete(&format!("/acl/{id}"))?;
            out.done(&json!({"deleted": id}), &format!("ACL rule {id} deleted"))
        }
    }
}
