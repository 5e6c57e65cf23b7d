//! `holdfast ctl data`: backup and restore. `export`, `import`, `files`, `delete` and
//! `snapshot` talk to the node's admin API (`/api/v1/data/...`); `verify` and `inspect` read
//! an archive file offline with `holdfast-backup`, no node needed.

mod export;
mod files;
mod import;
mod job;
mod offline;
mod progress;
mod snapshot;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use holdfast_backup::Set;

use super::client::Client;
use super::output::Output;

/// Longest a data request may take (the API answers when an export or import is complete).
pub const DATA_REQUEST_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// Backup and restore.
#[derive(Debug, Subcommand)]
pub enum DataCmd {
    /// Export one consistent cut of the node's store (and its config file) to an archive in
    /// the node's backup dir; with -o, also download it here.
    Export {
        /// Also download the archive to FILE (mode 0600; never overwrites), verified
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Sets to export, comma-separated [default: config,auth,retained,sessions]
        #[arg(long, value_delimiter = ',', value_name = "SETS")]
        sets: Vec<Set>,
        /// Archive form
        #[arg(long, value_enum, default_value_t = FormatArg::Binary)]
        format: FormatArg,
    },
    /// Check every checksum and decode every record of an archive, offline; exits non-zero
    /// naming the first bad entry.
    Verify {
        /// The archive file (.hfx or .json)
        file: PathBuf,
    },
    /// Print an archive's manifest and per-table counts, offline (after verifying it).
    Inspect {
        /// The archive file (.hfx or .json)
        file: PathBuf,
    },
    /// Import an archive into the node: verify, plan, and apply as one batch (uploads FILE
    /// unless it is in the node's backup dir).
    Import {
        /// A local archive file, or the name of one in the node's backup dir
        file: String,
        /// merge: archive records overwrite the same keys, local extras stay; replace: the
        /// selected sets become equal to the archive
        #[arg(long, value_enum, default_value_t = ModeArg::Merge)]
        mode: ModeArg,
        /// Sets to import, comma-separated [default: every set the archive holds]
        #[arg(long, value_delimiter = ',', value_name = "SETS")]
        sets: Vec<Set>,
        /// Print what would be added, changed and removed per table; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Also replace the node's config file with the archive's (previous kept as .bak;
        /// takes effect at the next start)
        #[arg(long)]
        restore_node_config: bool,
    },
    /// List the archives in the node's backup dir.
    Files,
    /// Delete an archive from the node's backup dir.
    Delete {
        /// File name in the backup dir
        name: String,
    },
    /// Write a hot, node-bound snapshot of the node (store copy, identity, config) into DIR
    /// on the node's machine; restore it with `holdfast restore-snapshot`.
    Snapshot {
        /// New or empty dir on the node's machine
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: PathBuf,
    },
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Header + zstd tar (.hfx)
    Binary,
    /// One readable JSON document (.json)
    Json,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Merge,
    Replace,
}

impl DataCmd {
    /// Runs without a node.
    pub fn is_offline(&self) -> bool {
        matches!(self, DataCmd::Verify { .. } | DataCmd::Inspect { .. })
    }
}

/// Run an offline subcommand (`verify`, `inspect`).
pub fn run_offline(cmd: DataCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        DataCmd::Verify { file } => offline::verify(&file, out),
        DataCmd::Inspect { file } => offline::inspect(&file, out),
        other => anyhow::bail!("{other:?} needs a node"),
    }
}

/// Run a subcommand that talks to the node.
pub fn run(cmd: DataCmd, c: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        DataCmd::Export {
            output,
            sets,
            format,
        } => export::run(c, out, output.as_deref(), &sets, format),
        DataCmd::Import {
            file,
            mode,
            sets,
            dry_run,
            restore_node_config,
        } => import::run(
            c,
            out,
            &import::ImportArgs {
                file,
                mode,
                sets,
                dry_run,
                restore_node_config,
            },
        ),
        DataCmd::Files => files::list(c, out),
        DataCmd::Delete { name } => files::delete(c, out, &name),
        DataCmd::Snapshot { output } => snapshot::run(c, out, &output),
        DataCmd::Verify { .. } | DataCmd::Inspect { .. } => run_offline(cmd, out),
    }
}

/// Set names for the API, or `None` for the default.
fn set_names(sets: &[Set]) -> Option<Vec<&'static str>> {
    (!sets.is_empty()).then(|| sets.iter().map(|s| s.name()).collect())
}
