//! `holdfast ctl`: the operator's command line over the admin HTTP API (`holdfast-admin`).
//! One file per subcommand group; [`target`] finds the node and its key, [`client`] talks
//! HTTP, [`output`] prints tables or `--json`. Errors carry the server's own message and make
//! the process exit non-zero. `data verify` and `data inspect` are the exceptions: they read
//! an archive offline, with no node.

mod acl;
mod apikey;
mod banned;
mod client;
mod clients;
mod config;
mod data;
mod output;
mod retained;
mod status;
mod target;
mod user;
mod wait_ready;

use clap::{Args, Subcommand};

use output::Output;

/// Arguments of `holdfast ctl`.
#[derive(Debug, Args)]
#[command(
    after_help = "The node and key come from --url/--api-key, else $HOLDFAST_CTL_URL/\
                  $HOLDFAST_CTL_API_KEY, else the node's config (admin.bind) and \
                  <data_dir>/admin.key, resolved as `holdfast start` does."
)]
pub struct CtlArgs {
    #[command(flatten)]
    target: target::TargetArgs,
    /// Print the API's JSON instead of a table
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// MQTT users: add, list, del, passwd.
    #[command(subcommand)]
    User(user::UserCmd),
    /// ACL rules: add, list, del.
    #[command(subcommand)]
    Acl(acl::AclCmd),
    /// Bans by client id, username or peer address: add, list, del.
    #[command(subcommand)]
    Banned(banned::BannedCmd),
    /// Admin API keys: add, list, del.
    #[command(subcommand)]
    Apikey(apikey::ApikeyCmd),
    /// Sessions and connections: list, kick.
    #[command(subcommand)]
    Clients(clients::ClientsCmd),
    /// Retained messages: list, get, del.
    #[command(subcommand)]
    Retained(retained::RetainedCmd),
    /// Cluster config (runtime settings): get, set, unset.
    #[command(subcommand)]
    Config(config::ConfigCmd),
    /// Node identity, version, uptime, listeners and counts.
    Status,
    /// Backup and restore: export, verify, inspect, import, files, delete, snapshot.
    #[command(subcommand)]
    Data(data::DataCmd),
    /// Wait until the node is ready (GET /api/v1/health answers 200; no key needed).
    WaitReady(wait_ready::WaitReadyArgs),
}

pub fn run(args: CtlArgs) -> anyhow::Result<()> {
    let out = Output { json: args.json };
    let command = match args.command {
        // `data verify` and `data inspect` read a file offline: no node, no key.
        CtlCommand::Data(cmd) if cmd.is_offline() => return data::run_offline(cmd, out),
        // Needs the URL only: the node may not have written its bootstrap key yet.
        CtlCommand::WaitReady(a) => return wait_ready::run(a, &args.target.resolve_url()?, out),
        other => other,
    };
    let target = args.target.resolve()?;
    let c = match command {
        CtlCommand::Data(_) => client::Client::with_timeout(target, data::DATA_REQUEST_TIMEOUT),
        _ => client::Client::new(target),
    };
    match command {
        CtlCommand::User(cmd) => user::run(cmd, &c, out),
        CtlCommand::Acl(cmd) => acl::run(cmd, &c, out),
        CtlCommand::Banned(cmd) => banned::run(cmd, &c, out),
        CtlCommand::Apikey(cmd) => apikey::run(cmd, &c, out),
        CtlCommand::Clients(cmd) => clients::run(cmd, &c, out),
        CtlCommand::Retained(cmd) => retained::run(cmd, &c, out),
        CtlCommand::Config(cmd) => config::run(cmd, &c, out),
        CtlCommand::Status => status::run(&c, out),
        CtlCommand::Data(cmd) => data::run(cmd, &c, out),
        // Handled above without a key; reached only if that arm changes.
        CtlCommand::WaitReady(a) => wait_ready::run(a, c.base_url(), out),
    }
}
