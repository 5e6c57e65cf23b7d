//! Golden fixtures: archives written by released format versions must still verify and
//! import. `tests/fixtures/v1/` was written once by `examples/write_golden_v1.rs` (run it only
//! when a new format version is released, into a new directory) and is committed.

mod support;

use std::path::{Path, PathBuf};

use holdfast_backup::{Archive, Mode, NodeId, PlanOptions, Set, Table, apply, plan, verify};
use support::{commit, dump, open_store, sample_commands};

const NODE: &str = "5f0c1e2d3b4a69788796a5b4c3d2e1f0";
const NODE_CONFIG: &str = "# holdfast.toml of the node the fixture came from\n\
[node]\ndata_dir = \"/var/lib/holdfast\"\n\n[listeners.tcp]\nbind = \"0.0.0.0:1883\"\n";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(name)
}

#[test]
fn golden_v1_fixtures_still_verify_and_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reference = open_store(&dir.path().join("reference.redb"));
    commit(&reference, sample_commands());
    let want = dump(&reference, &Set::ALL);

    let mut manifests = vec![];
    for name in ["sample.hfx", "sample.json"] {
        let path = fixture(name);
        let summary = verify(&path).unwrap_or_else(|e| panic!("{e}"));
        let m = &summary.manifest;
        assert_eq!(m.format_version, 1);
        assert_eq!(m.broker_version, "0.1.0");
        assert_eq!(m.cut.batch_seq, 1);
        assert_eq!(m.created_at, "2026-03-21T10:11:12.345Z");
        assert_eq!(m.source_nodes, [NodeId::new(NODE).expect("id")]);
        assert_eq!(m.sets, Set::ALL);
        assert_eq!(m.table(Table::Queued).map(|t| t.records), Some(3));
        assert_eq!(summary.records_total, 20);

        let archive = Archive::open(&path)
            .expect("opens")
            .verify()
            .expect("verifies");
        assert_eq!(archive.config_files()[0].bytes, NODE_CONFIG.as_bytes());
        let target = open_store(&dir.path().join(format!("{name}.redb")));
        let snapshot = target.snapshot().expect("snapshot");
        let opts = PlanOptions {
            mode: Mode::Replace,
            ..PlanOptions::default()
        };
        let plan = plan(&archive, &snapshot, &opts).expect("plans");
        drop(snapshot);
        apply(plan, &target).expect("applies");
        assert_eq!(dump(&target, &Set::ALL), want, "{name}");
        manifests.push(summary.manifest);
    }
    // Both forms of one cut carry the same manifest, checksums included.
    assert_eq!(manifests[0], manifests[1]);
}
