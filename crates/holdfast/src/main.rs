//! `holdfast`: the single binary. `start` runs the broker (MQTT listeners and the admin
//! API); `paths` shows where config and data come from; `ctl` manages a running node through
//! its admin API; `convert` turns Mosquitto or EMQX state into an archive; `restore-snapshot` puts a node's hot snapshot back into a data dir, offline.

mod convert;
mod ctl;
mod node;
mod paths;
mod private;
mod restore_snapshot;
mod settings;
mod start;

use clap::{Parser, Subcommand};

/// Holdfast MQTT broker.
#[derive(Debug, Parser)]
#[command(
    name = "holdfast",
    version,
    about = "An MQTT broker whose config and data can always be backed up and restored"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the broker (zero config: 127.0.0.1:1883, data in ./data).
    Start(start::StartArgs),
    /// Print the resolved config file, data, log and backup dirs, and the rule that chose each.
    Paths(paths::PathsArgs),
    /// Manage a running node through its admin API (users, ACL, bans, keys, clients, data, ...).
    Ctl(ctl::CtlArgs),
    /// Convert Mosquitto or EMQX state into a Holdfast archive (and OUT.report.json), offline.
    Convert(convert::ConvertArgs),
    /// Restore a node's hot snapshot (`holdfast ctl data snapshot`) into a data dir, offline.
    RestoreSnapshot(restore_snapshot::RestoreSnapshotArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start(args) => start::run(args),
        Command::Paths(args) => paths::run(args),
        Command::Ctl(args) => ctl::run(args),
        Command::RestoreSnapshot(args) => restore_snapshot::run(args),
        Command::Convert(args) => convert::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("holdfast: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
