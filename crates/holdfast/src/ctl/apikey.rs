//! `holdfast ctl apikey add|list|del`: keys for the admin API.

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::client::{Client, seg};
use super::output::{Output, field, time_field};

/// API keys (`Authorization: Bearer <key_id>.<secret>`).
#[derive(Debug, Subcommand)]
pub enum ApikeyCmd {
    /// Create a key and print its token (shown once: store it now).
    Add {
        /// A name for people to recognise the key
        name: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Viewer)]
        role: RoleArg,
        /// Expire after this many seconds (default: never)
        #[arg(long, value_name = "SECS")]
        expires_in_secs: Option<u64>,
    },
    /// List keys (never their secrets).
    List,
    /// Delete a key; it stops working at once.
    Del { key_id: String },
}

/// What a key may do.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Everything.
    Admin,
    /// Read only.
    Viewer,
}

pub fn run(cmd: ApikeyCmd, c: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        ApikeyCmd::Add {
            name,
            role,
            expires_in_secs,
        } => {
            let role = match role {
                RoleArg::Admin => "admin",
                RoleArg::Viewer => "viewer",
            };
            let body = json!({"name": name, "role": role, "expires_in_secs": expires_in_secs});
            let v = c.send("POST", "/api_keys", &body)?;
            if out.json {
                return out.print_json(&v);
            }
            eprintln!(
                "API key {} ({role}) created; its token follows and is not shown again:",
                field(&v, "key_id")
            );
            println!("{}", field(&v, "api_key"));
            Ok(())
        }
        ApikeyCmd::List => {
            let v = c.get("/api_keys")?;
            out.table(
                &v,
                &[
                    ("KEY_ID", &|k| field(k, "key_id")),
                    ("NAME", &|k| field(k, "name")),
                    ("ROLE", &|k| field(k, "role")),
                    ("CREATED", &|k| time_field(k, "created_at_ms")),
                    ("EXPIRES", &|k| {
                        let t = time_field(k, "expires_at_ms");
                        if k.get("expired").and_then(|e| e.as_bool()) == Some(true) {
                            format!("{t} (expired)")
                        } else {
                            t
                        }
                    }),
                ],
            )
        }
        ApikeyCmd::Del { key_id } => {
            c.delete(&format!("/api_keys/{}", seg(&key_id)))?;
            out.done(
                &json!({"deleted": key_id}),
                &format!("API key {key_id} deleted"),
            )
        }
    }
}
