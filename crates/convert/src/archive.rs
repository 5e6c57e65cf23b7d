//! [`convert`]: a [`ForeignSource`] into an archive and its report.

use std::path::{Path, PathBuf};

use holdfast_backup::{ExportOptions, ExportReport};
use holdfast_store::{Command, Durability, Store, StoreOptions};

use crate::{ConvertError, ForeignSource, Outcome, Report};

/// Commands are applied to the scratch store in batches of this many.
const BATCH_COMMANDS: usize = 8192;
/// Page cache of the scratch store: it is written once and read once.
const SCRATCH_CACHE_BYTES: usize = 64 << 20;

/// How to convert.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Fail, writing no archive, if any record was not carried.
    pub strict: bool,
    /// Replace an existing archive at the destination.
    pub overwrite: bool,
}

/// What a conversion wrote.
#[derive(Debug)]
pub struct Converted {
    pub report: Report,
    pub archive: ExportReport,
    /// `OUT.report.json`, beside the archive.
    pub report_path: PathBuf,
}

/// `OUT.report.json` for the archive `OUT.hfx` (or `OUT`).
pub fn report_path(out: &Path) -> PathBuf {
    out.with_extension("report.json")
}

/// Read `source` completely, then write its state to the archive `out` and the report beside
/// it. A read error leaves no file behind; with `strict`, neither does a record that was not
/// carried (the report is still written, to say which).
pub fn convert(
    source: &mut dyn ForeignSource,
    out: &Path,
    opts: &ConvertOptions,
) -> Result<Converted, ConvertError> {
    if !opts.overwrite && out.exists() {
        return Err(ConvertError::Unsupported(format!(
            "{} exists; choose another -o path or remove it",
            out.display()
        )));
    }
    let scratch = tempfile::Builder::new()
        .prefix(".holdfast-convert-")
        .tempdir()
        .map_err(|source| ConvertError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let store = Store::open(
        &scratch.path().join("scratch.redb"),
        StoreOptions {
            durability: Durability::Periodic {
                interval_ms: 3_600_000,
            },
            cache_bytes: SCRATCH_CACHE_BYTES,
            ..StoreOptions::default()
        },
    )?;
    let mut report = Report::new(source.describe());
    let mut batch: Vec<Command> = Vec::with_capacity(BATCH_COMMANDS);
    let read = {
        let mut sink = |cmd: Command| -> Result<(), ConvertError> {
            batch.push(cmd);
            if batch.len() >= BATCH_COMMANDS {
                store.submit(std::mem::take(&mut batch)).wait_blocking()?;
            }
            Ok(())
        };
        source.read(&mut sink, &mut report)
    };
    let flushed = read.and_then(|()| {
        store.submit(std::mem::take(&mut batch)).wait_blocking()?;
        Ok(())
    });
    if let Err(e) = flushed {
        let _ = store.close();
        return Err(e);
    }
    let report_path = report_path(out);
    let not_carried = report.count(Outcome::NotCarried);
    let json = serde_json::to_vec_pretty(&report).map_err(|e| ConvertError::Write {
        path: report_path.clone(),
        source: e.into(),
    })?;
    std::fs::write(&report_path, json).map_err(|source| ConvertError::Write {
        path: report_path.clone(),
        source,
    })?;
    if opts.strict && not_carried > 0 {
        let _ = store.close();
        return Err(ConvertError::Strict(not_carried));
    }
    let export = holdfast_backup::export(
        &store,
        ExportOptions {
            config_files: source.config_files(),
            overwrite: opts.overwrite,
            ..ExportOptions::default()
        },
        out,
    );
    store.close()?;
    Ok(Converted {
        report,
        archive: export?,
        report_path,
    })
}
