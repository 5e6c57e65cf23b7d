//! `import(export(db)) == db`, for random table contents, in both modes and both forms.

mod support;

use holdfast_backup::{
    Archive, ExportOptions, Format, Mode, PlanOptions, Set, apply, export, plan,
};
use proptest::prelude::*;
use support::{Dump, arb_contents, commit, dump, open_store};

/// Export `src`, import into `dst` with `mode`; returns the archive's record count.
fn export_import(
    src: &holdfast_store::Store,
    dst: &holdfast_store::Store,
    dir: &std::path::Path,
    format: Format,
    mode: Mode,
) -> u64 {
    let path = dir.join(format!("a.{}", format.extension()));
    let opts = ExportOptions {
        format,
        overwrite: true,
        ..ExportOptions::default()
    };
    let report = export(src, opts, &path).expect("export");
    let archive = Archive::open(&path)
        .expect("opens")
        .verify()
        .expect("verifies");
    assert_eq!(archive.manifest(), &report.manifest);
    let snapshot = dst.snapshot().expect("snapshot");
    let plan = plan(
        &archive,
        &snapshot,
        &PlanOptions {
            mode,
            ..PlanOptions::default()
        },
    )
    .expect("plans");
    drop(snapshot);
    apply(plan, dst).expect("applies");
    report.manifest.records_total()
}

fn merged(local: &Dump, archive: &Dump) -> Dump {
    let mut out = Dump::new();
    for (t, rows) in local {
        let mut m: std::collections::BTreeMap<_, _> = rows.iter().cloned().collect();
        for (k, v) in &archive[t] {
            m.insert(k.clone(), v.clone());
        }
        out.insert(*t, m.into_iter().collect());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn import_of_export_equals_source(
        source in arb_contents(),
        target in arb_contents(),
        json: bool,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let format = if json { Format::Json } else { Format::Binary };
        let src = open_store(&dir.path().join("src.redb"));
        commit(&src, source);
        let want = dump(&src, &Set::ALL);

        // Into an empty store, both modes give the source.
        for mode in [Mode::Merge, Mode::Replace] {
            let fresh = open_store(&dir.path().join(format!("fresh-{mode}.redb")));
            let n = export_import(&src, &fresh, dir.path(), format, mode);
            prop_assert_eq!(n, want.values().map(|r| r.len() as u64).sum::<u64>());
            prop_assert_eq!(&dump(&fresh, &Set::ALL), &want);
        }

        // Into a store with other contents: replace gives the source, merge the union with
        // the archive's records winning.
        for mode in [Mode::Merge, Mode::Replace] {
            let dst = open_store(&dir.path().join(format!("dst-{mode}.redb")));
            commit(&dst, target.clone());
            let before = dump(&dst, &Set::ALL);
            export_import(&src, &dst, dir.path(), format, mode);
            let expected = match mode {
                Mode::Replace => want.clone(),
                Mode::Merge => merged(&before, &want),
            };
            prop_assert_eq!(&dump(&dst, &Set::ALL), &expected);
        }
    }
}
