//! The data dir is private to the broker's user: it holds password and API-key hashes and
//! every message payload. Files and dirs created by the node are 0600 and 0700 (a process
//! umask of 077, so that the store's files, snapshots and temporary files are covered too), and a
//! data dir left readable by others (an older version, a copy, a restore) is tightened at
//! start, with each change logged.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Files and dirs the node creates from now on are readable by its user only.
pub fn private_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

/// Create `dir` (and missing parents) as 0700.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))
}

/// Most paths named one by one in the log; the rest are counted.
const LOGGED_MAX: usize = 20;

/// Make `dir` 0700 and everything under it 0600 (files) or 0700 (dirs), not following
/// symbolic links. Returns the paths whose mode changed, with their old mode.
pub fn tighten(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u32)>> {
    let mut changed = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mode = meta.permissions().mode() & 0o7777;
        let wanted = if meta.is_dir() {
            let entries = std::fs::read_dir(&path)
                .with_context(|| format!("cannot list {}", path.display()))?;
            for e in entries {
                stack.push(
                    e.with_context(|| format!("cannot list {}", path.display()))?
                        .path(),
                );
            }
            0o700
        } else if meta.is_file() {
            0o600
        } else {
            // Symbolic links, sockets, fifos: their own mode means nothing or is not ours.
            continue;
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted))
                .with_context(|| format!("cannot restrict the mode of {}", path.display()))?;
            changed.push((path, mode));
        }
    }
    Ok(changed)
}

/// [`tighten`] and log what changed.
pub fn tighten_and_log(dir: &Path) -> anyhow::Result<()> {
    let changed = tighten(dir)?;
    for (path, old) in changed.iter().take(LOGGED_MAX) {
        tracing::warn!(
            path = %path.display(),
            old_mode = format!("{old:04o}"),
            "data dir was readable by other users: mode restricted to the broker's user"
        );
    }
    if changed.len() > LOGGED_MAX {
        tracing::warn!(
            more = changed.len() - LOGGED_MAX,
            "more paths in the data dir had their mode restricted"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn tightens_files_and_dirs_and_leaves_private_ones_and_links() {
        let t = tempfile::tempdir().expect("tmp");
        let d = t.path().join("data");
        std::fs::create_dir_all(d.join("backups")).expect("mkdir");
        std::fs::write(d.join("holdfast.redb"), b"x").expect("write");
        std::fs::write(d.join("backups/a.hfa"), b"x").expect("write");
        std::fs::write(d.join("node.toml"), b"x").expect("write");
        let set = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        set(&d, 0o755).expect("chmod");
        set(&d.join("backups"), 0o750).expect("chmod");
        set(&d.join("holdfast.redb"), 0o644).expect("chmod");
        set(&d.join("backups/a.hfa"), 0o640).expect("chmod");
        set(&d.join("node.toml"), 0o600).expect("chmod");
        std::os::unix::fs::symlink("/etc/hostname", d.join("link")).expect("symlink");
        let changed = tighten(&d).expect("tighten");
        assert_eq!(changed.len(), 4, "{changed:?}");
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join("backups")), 0o700);
        assert_eq!(mode(&d.join("holdfast.redb")), 0o600);
        assert_eq!(mode(&d.join("backups/a.hfa")), 0o600);
        assert!(tighten(&d).expect("again").is_empty());
        assert_ne!(
            mode(Path::new("/etc/hostname")) & 0o044,
            0,
            "link target untouched"
        );
    }
}
