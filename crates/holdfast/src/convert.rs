//! `holdfast convert mosquitto|emqx`: another broker's state into an ordinary Holdfast archive
//! and `OUT.report.json`, offline (`holdfast-convert` does the reading; `docs/migrate.md`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use holdfast_convert::mosquitto::{Mosquitto, MosquittoInputs};
use holdfast_convert::{ConvertOptions, ForeignSource, convert};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(subcommand)]
    from: From,
}

#[derive(Debug, Args)]
struct Common {
    /// The archive to write (`holdfast ctl data import` reads it); the report goes beside it
    /// as `OUT.report.json`.
    #[arg(short = 'o', long = "output", value_name = "OUT.hfx")]
    out: PathBuf,
    /// Fail, writing no archive, if any record could not be carried.
    #[arg(long)]
    strict: bool,
    /// Replace an existing archive at OUT.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum From {
    /// Mosquitto 1.6/2.x: persistence file, dynamic security, password file, acl_file, config.
    Mosquitto {
        /// `mosquitto.db` (persistence format 5 or 6).
        #[arg(long)]
        db: Option<PathBuf>,
        /// The dynamic security plugin's `dynamic-security.json`.
        #[arg(long)]
        dynsec: Option<PathBuf>,
        /// A `password_file` written by mosquitto_passwd.
        #[arg(long)]
        passwd: Option<PathBuf>,
        /// An `acl_file`.
        #[arg(long = "acl-file")]
        acl_file: Option<PathBuf>,
        /// `mosquitto.conf`.
        #[arg(long)]
        conf: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// EMQX: a 4.x `emqx_ctl data export` JSON file (detected from its content).
    Emqx {
        /// The export file.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let (mut source, common): (Box<dyn ForeignSource>, Common) = match args.from {
        From::Mosquitto {
            db,
            dynsec,
            passwd,
            acl_file,
            conf,
            common,
        } => (
            Box::new(Mosquitto::new(MosquittoInputs {
                db,
                dynsec,
                passwd,
                acl_file,
                conf,
            })?),
            common,
        ),
        From::Emqx { file, common } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            (holdfast_convert::emqx::open(&file, &bytes)?, common)
        }
    };
    let opts = ConvertOptions {
        strict: common.strict,
        overwrite: common.force,
    };
    let done = convert(source.as_mut(), &common.out, &opts);
    let report_path = holdfast_convert::report_path(&common.out);
    match done {
        Ok(c) => {
            print!("{}", c.report.to_text());
            println!(
                "wrote {} ({} bytes) and {}",
                c.archive.path.display(),
                c.archive.archive_bytes,
                c.report_path.display()
            );
            println!(
                "next: holdfast ctl data verify {0}; holdfast ctl data import {0} --dry-run",
                c.archive.path.display()
            );
            Ok(())
        }
        Err(e @ holdfast_convert::ConvertError::Strict(_)) => {
            if let Ok(r) = std::fs::read_to_string(&report_path) {
                eprintln!("{r}");
            }
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}
