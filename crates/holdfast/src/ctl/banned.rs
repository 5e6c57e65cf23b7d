//! `holdfast ctl banned add|list|del`: bans by client id, username or peer address.

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::client::{Client, seg};
use super::output::{Output, field, time_field};

/// Banned clients are refused at CONNECT; a new ban also disconnects them.
#[derive(Debug, Subcommand)]
pub enum BannedCmd {
    /// Ban a client id, username or peer IP address.
    Add {
        kind: BanKindArg,
        value: String,
        /// Why (shown in listings)
        #[arg(long)]
        reason: Option<String>,
        /// Lift the ban after this many seconds (default: never)
        #[arg(long, value_name = "SECS", conflicts_with = "expires_at_ms")]
        expires_in_secs: Option<u64>,
        /// Lift the ban at this instant, Unix milliseconds
        #[arg(long, value_name = "MS")]
        expires_at_ms: Option<u64>,
    },
    /// List bans.
    List,
    /// Lift a ban.
    Del { kind: BanKindArg, value: String },
}

/// What a ban matches.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BanKindArg {
    Clientid,
    Username,
    Peer,
}

impl BanKindArg {
    fn as_str(self) -> &'static str {
        match self {
            BanKindArg::Clientid => "clientid",
            BanKindArg::Username => "username",
            BanKindArg::Peer => "peer",
        }
    }
}

pub fn run(cmd: BannedCmd, c: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        BannedCmd::Add {
            kind,
            value,
            reason,
            expires_in_secs,
            expires_at_ms,
        } => {
            let body = json!({
                "kind": kind.as_str(), "value": value, "reason": reason,
                "expires_in_secs": expires_in_secs, "expires_at_ms": expires_at_ms,
            });
            let v = c.send("POST", "/banned", &body)?;
            out.done(
                &v,
                &format!("{} {} banned", kind.as_str(), field(&v, "value")),
            )
        }
        BannedCmd::List => {
            let v = c.get("/banned")?;
            out.table(
                &v,
                &[
                    ("KIND", &|b| field(b, "kind")),
                    ("VALUE", &|b| field(b, "value")),
                    ("EXPIRES", &|b| {
                        let t = time_field(b, "expires_at_ms");
                        if b.get("expired").and_then(|e| e.as_bool()) == Some(true) {
                            format!("{t} (expired)")
                        } else {
                            t
                        }
                    }),
                    ("REASON", &|b| field(b, "reason")),
                ],
            )
        }
        BannedCmd::Del { kind, value } => {
            c.delete(&format!("/banned/{}/{}", kind.as_str(), seg(&value)))?;
            out.done(
                &json!({"deleted": {"kind": kind.as_str(), "value": value}}),
                &format!("ban on {} {value} lifted", kind.as_str()),
            )
        }
    }
}
