//! Writes the golden fixtures of archive format v1 into `tests/fixtures/v1/`. They are
//! committed and must never change: `tests/golden.rs` checks that they still verify and
//! import. Run only when a new format version is released (into a new directory):
//!
//! ```sh
//! cargo run -p holdfast-backup --example write_golden_v1
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use holdfast_backup::{ConfigFile, ExportOptions, Format, NodeId, export};
use support::{commit, open_store, sample_commands};

const CREATED_AT_MS: u64 = 1_774_087_872_345;
const NODE: &str = "5f0c1e2d3b4a69788796a5b4c3d2e1f0";
const NODE_CONFIG: &str = "# holdfast.toml of the node the fixture came from\n\
[node]\ndata_dir = \"/var/lib/holdfast\"\n\n[listeners.tcp]\nbind = \"0.0.0.0:1883\"\n";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(name)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    commit(&store, sample_commands());
    std::fs::create_dir_all(fixture("")).expect("mkdir");
    for (format, name) in [
        (Format::Binary, "sample.hfx"),
        (Format::Json, "sample.json"),
    ] {
        let opts = ExportOptions {
            format,
            config_files: vec![ConfigFile {
                name: "holdfast.toml".into(),
                bytes: NODE_CONFIG.as_bytes().to_vec(),
            }],
            source_nodes: vec![NodeId::new(NODE).expect("node id")],
            created_at_ms: Some(CREATED_AT_MS),
            overwrite: true,
            ..ExportOptions::default()
        };
        export(&store, opts, &fixture(name)).expect("export");
        println!("wrote {}", fixture(name).display());
    }
}
