//! [`restore_node_config`]: write a node config file carried by an archive back to disk
//! (`holdfast ctl data import --restore-node-config`). The previous file is kept as
//! `<file>.bak`, and the new one replaces it atomically (temporary file, fsync, rename).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{Archive, Verified};
use crate::error::ImportError;

/// What was restored.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredConfig {
    pub path: PathBuf,
    /// Where the previous file was kept, if there was one.
    pub previous: Option<PathBuf>,
    pub bytes: u64,
}

/// Write the archive's config file `name` (such as `holdfast.toml`) to `dest`. `Ok(None)` if
/// the archive carries no file of that name.
pub fn restore_node_config(
    archive: &Archive<Verified>,
    name: &str,
    dest: &Path,
) -> Result<Option<RestoredConfig>, ImportError> {
    let Some(file) = archive.config_files().iter().find(|f| f.name == name) else {
        return Ok(None);
    };
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::RestoreConfig { path, source }
    };
    let with_suffix = |suffix: &str| {
        let mut n = dest.file_name().unwrap_or_default().to_os_string();
        n.push(suffix);
        dest.with_file_name(n)
    };
    let previous = if dest.exists() {
        let bak = with_suffix(".bak");
        std::fs::copy(dest, &bak).map_err(err(&bak))?;
        Some(bak)
    } else {
        None
    };
    let tmp = with_suffix(".tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut out = opts.open(&tmp).map_err(err(&tmp))?;
    out.write_all(&file.bytes)
        .and_then(|()| out.sync_all())
        .map_err(err(&tmp))?;
    std::fs::rename(&tmp, dest).map_err(err(dest))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err(dir))?;
    }
    Ok(Some(RestoredConfig {
        path: dest.to_path_buf(),
        previous,
        bytes: file.bytes.len() as u64,
    }))
}
