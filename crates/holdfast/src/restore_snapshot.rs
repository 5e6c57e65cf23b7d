//! `holdfast restore-snapshot DIR --data-dir D [--as-new-node]`: put a node's hot snapshot
//! (`holdfast ctl data snapshot`) back into a data dir, offline (BACKUP.md §4).
//!
//! A snapshot is node-bound: it is one node's store together with its identity. So it is
//! restored only into a data dir that is empty or holds the SAME node; onto another node's
//! data dir it is refused (that node's data would be overwritten by a node it is not: the
//! portable way between nodes is export/import). `--as-new-node` gives the restored copy a
//! fresh identity, to start a new node from it.
//!
//! In order: the snapshot's manifest and every file's BLAKE3 are checked; the data dir is
//! locked (refused while a node runs on it); identities are compared; the store copy is
//! written beside the old store, fsynced and renamed over it (the old store is kept as
//! `holdfast.redb.before-restore-<time>`); the identity and the bootstrap key file follow;
//! the restored store is opened once to prove that it opens.
//!
//! The node's config file that the snapshot carries (`config/holdfast.toml`) is never copied
//! into the data dir, and never silently over the config in use: the config file is not
//! data, and the node being restored may run with another one on purpose. With
//! `--restore-node-config[=PATH]` it is written to PATH (by default the file `holdfast start`
//! would read), after the store, through a temporary file and a rename, the previous file
//! kept as `<file>.bak`, as `holdfast ctl data import --restore-node-config` does; it is
//! checked to be a config this holdfast starts with before anything is restored. Without the
//! flag the report says where the snapshot's file is and how to restore it.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use holdfast_admin::snapshot::{self as snap, SnapshotManifest};
use holdfast_store::{Store, StoreOptions};

use crate::node::{self, NodeIdentity};
use crate::start::STORE_FILE;

/// Arguments of `holdfast restore-snapshot`.
#[derive(Debug, Args)]
pub struct RestoreSnapshotArgs {
    /// The snapshot dir (holds SNAPSHOT.json)
    dir: PathBuf,
    /// Data dir to restore into: empty, new, or the same node's (its node must be stopped)
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Give the restored copy a fresh node identity (a new node made from the snapshot)
    #[arg(long)]
    as_new_node: bool,
    /// Also write the snapshot's node config file to PATH (default: the config file
    /// `holdfast start` would read), keeping the previous one as PATH.bak
    #[arg(long, value_name = "PATH", num_args = 0..=1, require_equals = true)]
    restore_node_config: Option<Option<PathBuf>>,
}

pub fn run(args: RestoreSnapshotArgs) -> anyhow::Result<()> {
    let m = snap::read_verified(&args.dir)?;
    let snap_id = snapshot_identity(&args.dir, &m)?;
    let config = match &args.restore_node_config {
        Some(dest) => Some(node_config_plan(
            &args.dir,
            &m,
            dest.as_deref(),
            &args.data_dir,
        )?),
        None => None,
    };
    let d = &args.data_dir;
    if d.is_dir() && !d.join(crate::node::IDENTITY_FILE).exists() && !d.join(STORE_FILE).exists() {
        // Checked again under the lock; here so that a refused directory is not left a LOCK.
        refuse_foreign_contents(d)?;
    }
    crate::private::private_umask();
    crate::private::create_dir(d)?;
    let _lock = node::lock(d).context(
        "refusing to restore into the data dir of a running node: stop it first (a snapshot is \
         restored offline)",
    )?;
    let existing = node::read_identity(d)?;
    match &existing {
        Some(id) if id.id != m.node_id => bail!(
            "refusing to restore: data dir {} belongs to node {} ({}), and the snapshot is of \
             node {} ({}). A snapshot is node-bound: it is that node's own data dir, identity \
             included, and would overwrite another node's state. To move data between nodes \
             use `holdfast ctl data export` on the source and `holdfast ctl data import` on the \
             target; to start a new node from this snapshot, restore it with --as-new-node \
             into an empty data dir",
            d.display(),
            id.id,
            id.name,
            m.node_id,
            m.node_name
        ),
        Some(_) => {}
        None if d.join(STORE_FILE).exists() => bail!(
            "refusing to restore: data dir {} holds a store but no node identity (node.toml), so \
             whose it is cannot be told; restore into an empty data dir",
            d.display()
        ),
        None => refuse_foreign_contents(d)?,
    }
    let previous = put_store(&args.dir, d)?;
    let identity = if args.as_new_node {
        NodeIdentity::generate()
    } else {
        snap_id
    };
    node::write_identity(d, &identity)?;
    let key = holdfast_admin::bootstrap::KEY_FILE;
    if m.files.iter().any(|f| f.path == key) {
        let tmp = d.join(format!("{key}.restore"));
        let _ = std::fs::remove_file(&tmp);
        snap::copy_private(&args.dir.join(key), &tmp)?;
        std::fs::rename(&tmp, d.join(key))
            .with_context(|| format!("cannot write {}", d.join(key).display()))?;
    }
    let sessions = check_opens(&d.join(STORE_FILE))?;
    let restored = match &config {
        Some(plan) => Some(restore_config(plan).context(
            "the store, identity and key were restored, but the node config file was not",
        )?),
        None => None,
    };
    report(&args, &m, &identity, previous.as_deref(), sessions);
    report_config(&args, &m, restored.as_ref());
    Ok(())
}

/// The snapshot's config file to write, and where.
struct ConfigPlan {
    from: PathBuf,
    to: PathBuf,
}

/// What [`restore_config`] did.
struct ConfigRestored {
    to: PathBuf,
    previous: Option<PathBuf>,
}

/// Pick the snapshot's config file and its destination (`dest`, else the config file
/// `holdfast start --data-dir D` would read), and check that it is a config this holdfast
/// starts with. Nothing is written yet.
fn node_config_plan(
    dir: &Path,
    m: &SnapshotManifest,
    dest: Option<&Path>,
    data_dir: &Path,
) -> anyhow::Result<ConfigPlan> {
    let Some(file) = m
        .files
        .iter()
        .find(|f| f.path.starts_with(&format!("{}/", snap::CONFIG_DIR)))
    else {
        bail!(
            "--restore-node-config: snapshot {} carries no node config file (the node ran              without one); nothing was restored",
            dir.display()
        );
    };
    let from = dir.join(&file.path);
    let to = if let Some(dest) = dest {
        dest.to_path_buf()
    } else {
        let s = crate::settings::resolve(None, Some(data_dir)).context(
            "--restore-node-config: cannot tell which config file `holdfast start` would read;              give it: --restore-node-config=PATH",
        )?;
        match s.config_file {
            Some(r) => r.path,
            None => bail!(
                "--restore-node-config: `holdfast start` would run without a config file here                  ({}), so there is none to replace; give the path to write:                  --restore-node-config=PATH; nothing was restored",
                s.config_rule
            ),
        }
    };
    let text = std::fs::read_to_string(&from)
        .with_context(|| format!("cannot read {}", from.display()))?;
    if to.extension().is_some_and(|e| e == "toml") || from.extension().is_some_and(|e| e == "toml")
    {
        toml::from_str::<holdfast_server::config::BrokerConfig>(&text).map_err(|e| {
            anyhow::anyhow!(
                "--restore-node-config: the snapshot's {} is not a valid config for this                  holdfast ({e}); nothing was restored",
                file.path
            )
        })?;
    }
    if to.is_dir() {
        bail!(
            "--restore-node-config: {} is a directory; give the config file's path",
            to.display()
        );
    }
    Ok(ConfigPlan { from, to })
}

/// Write the planned config file: previous one kept as `<file>.bak`, the new one through a
/// temporary file, fsync and rename.
fn restore_config(plan: &ConfigPlan) -> anyhow::Result<ConfigRestored> {
    let with_suffix = |suffix: &str| {
        let mut n = plan.to.file_name().unwrap_or_default().to_os_string();
        n.push(suffix);
        plan.to.with_file_name(n)
    };
    let previous = if plan.to.exists() {
        let bak = with_suffix(".bak");
        std::fs::copy(&plan.to, &bak)
            .with_context(|| format!("cannot keep the previous file as {}", bak.display()))?;
        Some(bak)
    } else {
        None
    };
    let tmp = with_suffix(".restore");
    let _ = std::fs::remove_file(&tmp);
    snap::copy_private(&plan.from, &tmp)?;
    std::fs::rename(&tmp, &plan.to)
        .with_context(|| format!("cannot put {} in place", plan.to.display()))?;
    if let Some(parent) = plan.to.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot fsync {}", parent.display()))?;
    }
    Ok(ConfigRestored {
        to: plan.to.clone(),
        previous,
    })
}

/// The identity in the snapshot, which must be the manifest's node.
fn snapshot_identity(dir: &Path, m: &SnapshotManifest) -> anyhow::Result<NodeIdentity> {
    let id = node::read_identity(dir)?
        .with_context(|| format!("snapshot {} has no {}", dir.display(), node::IDENTITY_FILE))?;
    if id.id != m.node_id {
        bail!(
            "snapshot {}: its node.toml is node {} but its manifest says node {}; the snapshot \
             was tampered with, nothing was restored",
            dir.display(),
            id.id,
            m.node_id
        );
    }
    Ok(id)
}

/// Copy the snapshot's store into `d`, replacing the store there (kept aside). Returns where
/// the previous store was kept.
fn put_store(dir: &Path, d: &Path) -> anyhow::Result<Option<PathBuf>> {
    let target = d.join(STORE_FILE);
    let tmp = d.join(format!("{STORE_FILE}.restore"));
    let _ = std::fs::remove_file(&tmp);
    snap::copy_private(&dir.join(STORE_FILE), &tmp)?;
    let previous = if target.exists() {
        let stamp = holdfast_backup::timestamp::compact_utc(holdfast_backup::timestamp::now_ms());
        let aside = d.join(format!("{STORE_FILE}.before-restore-{stamp}"));
        std::fs::rename(&target, &aside)
            .with_context(|| format!("cannot keep the previous store as {}", aside.display()))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("cannot put the store in place at {}", target.display()))?;
    File::open(d)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot fsync {}", d.display()))?;
    Ok(previous)
}

/// A data dir without a node identity must be empty (but for the lock this command holds and
/// a file system's `lost+found`): a snapshot restored into some other directory would mix the
/// node's files with whatever is there.
fn refuse_foreign_contents(d: &Path) -> anyhow::Result<()> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(d).with_context(|| format!("cannot list {}", d.display()))? {
        let name = entry
            .with_context(|| format!("cannot list {}", d.display()))?
            .file_name();
        if name != crate::node::LOCK_FILE && name != "lost+found" {
            found.push(name.to_string_lossy().into_owned());
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let more = found.len().saturating_sub(5);
    found.truncate(5);
    bail!(
        "refusing to restore: {} is not empty and is not a Holdfast data dir (no node.toml; it \
         holds {}{}). Restore into an empty or new directory, or into this node's own data dir",
        d.display(),
        found.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// Open the restored store once; returns its session count.
fn check_opens(path: &Path) -> anyhow::Result<usize> {
    let store = Store::open(path, StoreOptions::default())
        .with_context(|| format!("the restored store {} does not open", path.display()))?;
    let sessions = store.load()?.sessions.len();
    store.close()?;
    Ok(sessions)
}

fn report(
    args: &RestoreSnapshotArgs,
    m: &SnapshotManifest,
    identity: &NodeIdentity,
    previous: Option<&Path>,
    sessions: usize,
) {
    let d = args.data_dir.display();
    println!(
        "restored the snapshot of node {} ({}) taken {} (cut batch {}) into {d}",
        m.node_id, m.node_name, m.created_at, m.batch_seq
    );
    match previous {
        Some(p) => println!(
            "  store     {d}/{STORE_FILE} (previous store kept as {})",
            p.display()
        ),
        None => println!("  store     {d}/{STORE_FILE}"),
    }
    if args.as_new_node {
        println!(
            "  identity  NEW node {} ({}): --as-new-node",
            identity.id, identity.name
        );
    } else {
        println!("  identity  node {} ({})", identity.id, identity.name);
    }
    println!("  checked   every file's BLAKE3; the store opens ({sessions} sessions)");
}

/// Where the node config file went, or where it is and how to restore it.
fn report_config(
    args: &RestoreSnapshotArgs,
    m: &SnapshotManifest,
    restored: Option<&ConfigRestored>,
) {
    let d = args.data_dir.display();
    match restored {
        Some(r) => {
            let kept = r
                .previous
                .as_ref()
                .map(|p| format!(" (previous kept as {})", p.display()))
                .unwrap_or_default();
            println!("  config    written to {}{kept}", r.to.display());
            println!(
                "start it with: holdfast start --config {} --data-dir {d}",
                r.to.display()
            );
        }
        None => {
            let file = m
                .files
                .iter()
                .find(|f| f.path.starts_with(&format!("{}/", snap::CONFIG_DIR)));
            if let Some(f) = file {
                println!(
                    "  config    not restored: the node's config file at snapshot time is {}; \
                     the config in use was left alone (to restore it too, run again with \
                     --restore-node-config[=PATH], or copy that file)",
                    args.dir.join(&f.path).display()
                );
            }
            println!("start it with: holdfast start --data-dir {d}");
        }
    }
}
