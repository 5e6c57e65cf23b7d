//! `holdfast ctl clients list|kick`: sessions and their connections.

use clap::Subcommand;
use serde_json::json;

use super::client::{Client, seg};
use super::output::{Output, field};

/// Sessions, connected or waiting for their client.
#[derive(Debug, Subcommand)]
pub enum ClientsCmd {
    /// List sessions.
    List,
    /// Disconnect a connected client (its session stays).
    Kick { client_id: String },
}

pub fn run(cmd: ClientsCmd, c: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        ClientsCmd::List => {
            let v = c.get("/clients")?;
            out.table(
                &v,
                &[
                    ("CLIENT_ID", &|s| field(s, "client_id")),
                    ("CONNECTED", &|s| field(s, "connected")),
                    ("USERNAME", &|s| field(s, "username")),
                    ("PEER", &|s| field(s, "peer")),
                    ("PROTO", &|s| match field(s, "protocol").as_str() {
                        "4" => "3.1.1".into(),
                        "5" => "5.0".into(),
                        other => other.into(),
                    }),
                    ("SUBS", &|s| field(s, "subscriptions")),
                    ("QUEUED", &|s| field(s, "queued")),
                    ("INFLIGHT", &|s| field(s, "inflight")),
                ],
            )
        }
        ClientsCmd::Kick { client_id } => {
            c.delete(&format!("/clients/{}", seg(&client_id)))?;
            out.done(
                &json!({"kicked": client_id}),
                &format!("client {client_id} disconnected"),
            )
        }
    }
}
