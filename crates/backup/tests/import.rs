//! Import scenarios: dry-run plans, merge and replace, set selection, session cascades,
//! re-planning, config checks and node config restore; and the cut under concurrent writes.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use holdfast_backup::{
    Archive, ConfigFile, ExportOptions, ImportError, Mode, PlanOptions, Set, Table, Verified,
    apply, export, plan, restore_node_config,
};
use holdfast_store::Command;
use holdfast_store::records::RetainedRecord;
use support::{
    commit, delivery, dump, message, open_store, sample_commands, session, subscription, user,
};

fn archive_of(
    store: &holdfast_store::Store,
    dir: &Path,
    opts: ExportOptions<'_>,
) -> Archive<Verified> {
    let path = dir.join("a.hfx");
    let _ = std::fs::remove_file(&path);
    export(store, opts, &path).expect("export");
    Archive::open(&path)
        .expect("open")
        .verify()
        .expect("verify")
}

fn plan_for(
    archive: &Archive<Verified>,
    store: &holdfast_store::Store,
    mode: Mode,
    sets: Option<&[Set]>,
) -> Result<holdfast_backup::Plan, ImportError> {
    let snapshot = store.snapshot().expect("snapshot");
    plan(
        archive,
        &snapshot,
        &PlanOptions {
            mode,
            sets,
            config_check: None,
        },
    )
}

#[test]
fn dry_run_counts_and_changes_nothing_then_merge_and_replace_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = open_store(&dir.path().join("src.redb"));
    commit(&src, sample_commands());
    let archive = archive_of(&src, dir.path(), ExportOptions::default());

    let dst = open_store(&dir.path().join("dst.redb"));
    commit(
        &dst,
        vec![
            // Same key, other value: a change.
            Command::PutUser {
                username: "alice".into(),
                rec: user("$old$"),
            },
            // Only local: kept by merge, removed by replace.
            Command::PutUser {
                username: "zed".into(),
                rec: user("$z$"),
            },
        ],
    );
    let before = dump(&dst, &Set::ALL);
    for mode in [Mode::Merge, Mode::Replace] {
        let p = plan_for(&archive, &dst, mode, None).expect("plan");
        let users = p
            .counts()
            .into_iter()
            .find(|c| c.table == Table::Users)
            .expect("users");
        assert_eq!((users.add, users.change), (1, 1), "{mode}");
        assert_eq!(users.remove, u64::from(mode == Mode::Replace), "{mode}");
        let report = serde_json::to_value(p.report(10)).expect("json");
        assert_eq!(report["mode"], mode.to_string());
        assert_eq!(report["tables"][1]["changed"][0][0], "alice");
        // Planning is a dry run: nothing changed.
        assert_eq!(dump(&dst, &Set::ALL), before);
    }
    let p = plan_for(&archive, &dst, Mode::Merge, None).expect("plan");
    apply(p, &dst).expect("apply");
    let users: Vec<String> = dump(&dst, &[Set::Auth])[&Table::Users]
        .iter()
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(users, [r#"["alice"]"#, r#"["bob"]"#, r#"["zed"]"#]);

    let p = plan_for(&archive, &dst, Mode::Replace, None).expect("plan");
    apply(p, &dst).expect("apply");
    assert_eq!(dump(&dst, &Set::ALL), dump(&src, &Set::ALL));

    // Importing again changes nothing and writes nothing.
    let p = plan_for(&archive, &dst, Mode::Replace, None).expect("plan");
    assert!(p.is_empty());
    let seq = p.batch_seq();
    apply(p, &dst).expect("apply");
    let snapshot = dst.snapshot().expect("snapshot");
    assert_eq!(snapshot.batch_seq().expect("seq"), seq);
}

#[test]
fn only_the_selected_sets_are_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = open_store(&dir.path().join("src.redb"));
    commit(&src, sample_commands());
    let archive = archive_of(&src, dir.path(), ExportOptions::default());
    let dst = open_store(&dir.path().join("dst.redb"));
    commit(
        &dst,
        vec![Command::PutSession {
            client: "local".into(),
            rec: session(),
        }],
    );
    let sessions_before = dump(&dst, &[Set::Sessions, Set::Retained]);
    let p = plan_for(&archive, &dst, Mode::Replace, Some(&[Set::Auth])).expect("plan");
    assert_eq!(p.sets(), [Set::Auth]);
    apply(p, &dst).expect("apply");
    assert_eq!(dump(&dst, &[Set::Auth]), dump(&src, &[Set::Auth]));
    assert_eq!(dump(&dst, &[Set::Sessions, Set::Retained]), sessions_before);

    // An archive of the auth set only cannot import sessions.
    let auth_only = archive_of(
        &src,
        dir.path(),
        ExportOptions {
            sets: vec![Set::Auth],
            ..ExportOptions::default()
        },
    );
    assert_eq!(auth_only.manifest().sets, [Set::Auth]);
    let names: Vec<Table> = auth_only.manifest().tables.iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [Table::Users, Table::Acl, Table::Banned, Table::ApiKeys]
    );
    let e = plan_for(&auth_only, &dst, Mode::Merge, Some(&[Set::Sessions]))
        .expect_err("sessions are not in the archive");
    assert!(
        e.to_string()
            .contains("holds no sessions set (it holds: auth)"),
        "{e}"
    );
}

#[test]
fn replace_puts_back_rows_a_session_removal_cascades_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = || Command::PutSubscription {
        client: "c".into(),
        filter: "a/#".into(),
        rec: subscription(1),
    };
    let queued = || Command::Enqueue {
        client: "c".into(),
        seq: 4,
        rec: delivery("a/b", b"x"),
    };
    // The archive holds c's subscription and queue but no session row for c.
    let src = open_store(&dir.path().join("src.redb"));
    commit(&src, vec![sub(), queued()]);
    let archive = archive_of(&src, dir.path(), ExportOptions::default());
    // The target holds the same rows plus the session, which replace removes.
    let dst = open_store(&dir.path().join("dst.redb"));
    commit(
        &dst,
        vec![
            Command::PutSession {
                client: "c".into(),
                rec: session(),
            },
            sub(),
            queued(),
        ],
    );
    let p = plan_for(&archive, &dst, Mode::Replace, None).expect("plan");
    let c = p.counts();
    let sessions = c.iter().find(|c| c.table == Table::Sessions).expect("s");
    let subs = c
        .iter()
        .find(|c| c.table == Table::Subscriptions)
        .expect("s");
    assert_eq!((sessions.remove, subs.unchanged), (1, 1));
    apply(p, &dst).expect("apply");
    assert_eq!(dump(&dst, &Set::ALL), dump(&src, &Set::ALL));
}

#[test]
fn apply_replans_when_the_store_moved_since_the_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = open_store(&dir.path().join("src.redb"));
    commit(&src, sample_commands());
    let archive = archive_of(&src, dir.path(), ExportOptions::default());
    let dst = open_store(&dir.path().join("dst.redb"));
    let p = plan_for(&archive, &dst, Mode::Replace, None).expect("plan");
    // A write after the plan's snapshot.
    commit(
        &dst,
        vec![Command::PutUser {
            username: "late".into(),
            rec: user("$l$"),
        }],
    );
    let report = apply(p, &dst).expect("apply");
    assert!(report.replanned);
    assert_eq!(dump(&dst, &Set::ALL), dump(&src, &Set::ALL));
}

#[test]
fn config_checks_run_before_the_plan_and_node_config_is_restored_with_a_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = open_store(&dir.path().join("src.redb"));
    commit(&src, sample_commands());
    let toml = b"[listeners.tcp]\nbind = \"0.0.0.0:1883\"\n".to_vec();
    let archive = archive_of(
        &src,
        dir.path(),
        ExportOptions {
            config_files: vec![ConfigFile {
                name: "holdfast.toml".into(),
                bytes: toml.clone(),
            }],
            ..ExportOptions::default()
        },
    );
    let dst = open_store(&dir.path().join("dst.redb"));
    let snapshot = dst.snapshot().expect("snapshot");
    let check = |f: &ConfigFile| -> Result<(), String> {
        Err(format!("listener port of {} is taken", f.name))
    };
    let e = plan(
        &archive,
        &snapshot,
        &PlanOptions {
            config_check: Some(&check),
            ..PlanOptions::default()
        },
    )
    .expect_err("the check refuses");
    assert!(
        e.to_string()
            .contains("config file holdfast.toml in the archive is invalid: listener port"),
        "{e}"
    );

    let dest = dir.path().join("holdfast.toml");
    std::fs::write(&dest, b"# old\n").expect("write");
    let r = restore_node_config(&archive, "holdfast.toml", &dest)
        .expect("restore")
        .expect("the archive has it");
    assert_eq!(std::fs::read(&dest).expect("read"), toml);
    assert_eq!(
        std::fs::read(r.previous.expect("backup kept")).expect("read"),
        b"# old\n"
    );
    assert!(
        restore_node_config(&archive, "other.toml", &dest)
            .expect("ok")
            .is_none()
    );
}

#[test]
fn an_export_is_one_cut_while_writes_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    let stop = Arc::new(AtomicBool::new(false));
    // Each batch writes one retained message and one queued delivery: any consistent cut
    // holds as many of one as of the other, and as many as the batches it names.
    let writer = {
        let store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let topic = format!("t/{i}");
                commit(
                    &store,
                    vec![
                        Command::PutRetained {
                            topic: topic.clone(),
                            rec: RetainedRecord {
                                msg: message(&topic, b"v"),
                                stored_at_ms: i,
                            },
                        },
                        Command::Enqueue {
                            client: "c".into(),
                            seq: i,
                            rec: delivery(&topic, b"v"),
                        },
                    ],
                );
                i += 1;
            }
            i
        })
    };
    let mut cuts = vec![];
    for n in 0..15 {
        let path = dir.path().join(format!("cut-{n}.hfx"));
        let report = export(&store, ExportOptions::default(), &path).expect("export");
        let m = &report.manifest;
        let retained = m.table(Table::Retained).expect("retained").records;
        let queued = m.table(Table::Queued).expect("queued").records;
        assert_eq!(retained, queued, "torn cut at batch {}", m.cut.batch_seq);
        assert_eq!(
            retained, m.cut.batch_seq,
            "the cut's batch_seq names its contents"
        );
        cuts.push(m.cut.batch_seq);
    }
    stop.store(true, Ordering::Relaxed);
    let batches = writer.join().expect("writer");
    assert!(cuts.windows(2).all(|w| w[0] <= w[1]), "{cuts:?}");
    assert!(
        cuts.last().copied().unwrap_or(0) > 0 && batches > 0,
        "exports ran while writes went on: {cuts:?}"
    );
}

/// A plan of many rows counts them all but keeps only the first keys of each kind.
#[test]
fn a_big_plan_counts_every_row_and_keeps_the_first_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = open_store(&dir.path().join("src.redb"));
    let n = holdfast_backup::PLAN_KEYS_KEPT + 5;
    commit(
        &src,
        (0..n)
            .map(|i| Command::PutUser {
                username: format!("u{i:05}"),
                rec: user("h"),
            })
            .collect(),
    );
    let archive = archive_of(&src, dir.path(), ExportOptions::default());
    let dst = open_store(&dir.path().join("dst.redb"));
    let p = plan_for(&archive, &dst, Mode::Merge, Some(&[Set::Auth])).expect("plan");
    let (_, users) = p
        .tables()
        .find(|(t, _)| *t == Table::Users)
        .expect("users planned");
    assert_eq!(users.adds, n as u64);
    assert_eq!(users.add.len(), holdfast_backup::PLAN_KEYS_KEPT);
    assert_eq!(users.add[0].to_string(), r#"["u00000"]"#);
    assert_eq!(p.commands().len(), n, "every row is written");
}

/// A plan large enough to be decoded on two threads writes exactly the rows that differ, in
/// archive order, across tables and around rows left unchanged.
#[test]
fn a_plan_decoded_on_two_threads_keeps_archive_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = open_store(&dir.path().join("src.redb"));
    let retained = |i: usize| Command::PutRetained {
        topic: format!("r/{i:06}"),
        rec: RetainedRecord {
            msg: message(&format!("r/{i:06}"), format!("p{i}").as_bytes()),
            stored_at_ms: i as u64,
        },
    };
    let n = 100_000;
    let mut batch: Vec<Command> = (0..200)
        .map(|i| Command::PutUser {
            username: format!("u{i:03}"),
            rec: user("h"),
        })
        .collect();
    batch.extend((0..n).map(retained));
    commit(&src, batch);
    let archive = archive_of(&src, dir.path(), ExportOptions::default());
    // The target already holds every third retained message as it is in the archive.
    let dst = open_store(&dir.path().join("dst.redb"));
    commit(&dst, (0..n).step_by(3).map(retained).collect());
    let p = plan_for(&archive, &dst, Mode::Merge, None).expect("plan");
    let written: Vec<String> = p
        .commands()
        .iter()
        .map(|c| match c {
            Command::PutUser { username, .. } => username.clone(),
            Command::PutRetained { topic, rec } => {
                assert_eq!(rec.msg.topic, *topic, "each command holds its own row");
                topic.clone()
            }
            other => panic!("unexpected command {other:?}"),
        })
        .collect();
    let expected: Vec<String> = (0..200)
        .map(|i| format!("u{i:03}"))
        .chain((0..n).filter(|i| i % 3 != 0).map(|i| format!("r/{i:06}")))
        .collect();
    assert!(expected.len() >= 1 << 16, "large enough for two threads");
    assert_eq!(written.len(), expected.len());
    assert!(written == expected, "commands follow the archive's order");
}
