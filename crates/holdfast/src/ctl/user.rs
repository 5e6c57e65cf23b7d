//! `holdfast ctl user add|list|del|passwd`: MQTT users.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use super::client::{Client, seg};
use super::output::{Output, field, time_field};

/// Users who may connect with a username and password.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user (its password is stored as an argon2id hash).
    Add {
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Superusers bypass every ACL rule.
        #[arg(long)]
        superuser: bool,
    },
    /// List users.
    List,
    /// Delete a user.
    Del { username: String },
    /// Change a user's password.
    Passwd {
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

/// Where the password comes from (never a prompt, so that scripts can drive it).
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The password (visible in the process list; prefer --password-stdin)
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    fn read(&self) -> anyhow::Result<String> {
        if let Some(p) = &self.password {
            return Ok(p.clone());
        }
        if !self.password_stdin {
            bail!("give the password with --password or --password-stdin");
        }
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() {
            bail!("--password-stdin: standard input held no password");
        }
        Ok(pw)
    }
}

pub fn run(cmd: UserCmd, c: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            username,
            password,
            superuser,
        } => {
            let body =
                json!({"username": username, "password": password.read()?, "superuser": superuser});
            let v = c.send("POST", "/users", &body)?;
            out.done(&v, &format!("user {username} added"))
        }
        UserCmd::List => {
            let v = c.get("/users")?;
            out.table(
                &v,
                &[
                    ("USERNAME", &|u| field(u, "username")),
                    ("SUPERUSER", &|u| field(u, "superuser")),
                    ("CREATED", &|u| time_field(u, "created_at_ms")),
                ],
            )
        }
        UserCmd::Del { username } => {
            c.delete(&format!("/users/{}", seg(&username)))?;
            out.done(
                &json!({"deleted": username}),
                &format!("user {username} deleted"),
            )
        }
        UserCmd::Passwd { username, password } => {
            let body = json!({"password": password.read()?});
            let v = c.send("PATCH", &format!("/users/{}", seg(&username)), &body)?;
            out.done(&v, &format!("password of {username} changed"))
        }
    }
}
