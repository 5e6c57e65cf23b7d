//! The hot, node-bound snapshot, black-box: `holdfast ctl data snapshot -o DIR` while a client
//! keeps publishing, then `holdfast restore-snapshot` offline: back into the same node (later
//! changes are gone, the identity stays), refused on a running node's data dir and on another
//! node's, refused when damaged or unfinished, and `--as-new-node` starting a new node.

mod backup_support;
mod common;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use backup_support::*;
use common::Broker;
use holdfast_codec::QoS;
use support::{connect5, publish_acked};

fn restore(
    dir: &std::path::Path,
    snap: &std::path::Path,
    data: &std::path::Path,
    new: bool,
) -> std::process::Output {
    let mut args = vec![
        "restore-snapshot",
        snap.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
    ];
    if new {
        args.push("--as-new-node");
    }
    holdfast(dir, &[], &args)
}

fn node_id(b: &Broker) -> String {
    api(b).ok("/api/v1/node")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn contents(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

#[test]
fn snapshots_restore_into_their_own_node_or_as_a_new_node_only() {
    let mut a = Broker::start_with_admin(&[], None);
    let id_a = node_id(&a);
    add_user(&api(&a), "u1");
    // A client keeps publishing retained messages while the snapshot is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let addr = a.addr();
    let publisher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = connect5(addr, "busy");
            let mut n = 0u16;
            while !stop.load(Ordering::Relaxed) && n < 5000 {
                n += 1;
                publish_acked(
                    &mut c,
                    &format!("busy/{n}"),
                    &b"x"[..],
                    QoS::AtLeastOnce,
                    n,
                    true,
                );
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let work = tempfile::tempdir().expect("tempdir");
    let snap = work.path().join("snap");
    let v = ok_json(&ctl(
        &a,
        &[
            "data",
            "snapshot",
            "-o",
            snap.to_str().expect("utf-8"),
            "--json",
        ],
    ));
    stop.store(true, Ordering::Relaxed);
    let published = publisher.join().expect("publisher");
    let m = &v["manifest"];
    assert_eq!(m["node_id"], serde_json::json!(id_a));
    let retained = m["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == "retained")
        .and_then(|t| t["records"].as_u64())
        .expect("retained count");
    assert!(
        retained > 0 && retained < u64::from(published),
        "taken while publishing: {retained} of {published}"
    );
    for f in ["SNAPSHOT.json", "holdfast.redb", "node.toml", "admin.key"] {
        assert_eq!(mode_of(&snap.join(f)), 0o600, "{f}");
    }
    fails(
        &ctl(
            &a,
            &["data", "snapshot", "-o", snap.to_str().expect("utf-8")],
        ),
        "not empty",
    );
    add_user(&api(&a), "u2-after-the-snapshot");

    // Not onto a running node.
    fails(
        &restore(work.path(), &snap, &a.data_dir(), false),
        "running node",
    );

    // Not onto another node's data dir, with or without --as-new-node.
    let mut b = Broker::start_with_admin(&[], None);
    b.terminate();
    let b_store = b.data_dir().join("holdfast.redb");
    let before = contents(&b_store);
    for new in [false, true] {
        let err = fails(
            &restore(work.path(), &snap, &b.data_dir(), new),
            "node-bound",
        );
        assert!(
            err.contains("holdfast ctl data export") && err.contains(&id_a),
            "{err}"
        );
    }
    assert!(
        contents(&b_store) == before,
        "the other node's store is untouched"
    );

    // Back into its own node: the state of the snapshot, the same identity.
    a.terminate();
    let text = ok(&restore(work.path(), &snap, &a.data_dir(), false));
    assert!(text.contains("previous store kept as"), "{text}");
    a.restart();
    a.wait_for_admin();
    assert_eq!(node_id(&a), id_a);
    assert_eq!(
        usernames(&api(&a)),
        ["u1"],
        "the change after the snapshot is gone"
    );
    let s = stats(&api(&a));
    assert!(s["retained"].as_u64().expect("retained") >= retained);

    // Damaged or unfinished snapshots are refused before anything is touched.
    let bad = work.path().join("bad");
    std::fs::create_dir(&bad).expect("mkdir");
    for f in ["SNAPSHOT.json", "holdfast.redb", "node.toml", "admin.key"] {
        std::fs::copy(snap.join(f), bad.join(f)).expect("copy");
    }
    let mut store = std::fs::read(bad.join("holdfast.redb")).expect("read");
    let at = store.len() / 2;
    store[at] ^= 0x01;
    std::fs::write(bad.join("holdfast.redb"), store).expect("write");
    let target = work.path().join("never-created");
    fails(&restore(work.path(), &bad, &target, true), "damaged");
    std::fs::remove_file(bad.join("SNAPSHOT.json")).expect("rm");
    fails(
        &restore(work.path(), &bad, &target, true),
        "not a finished holdfast snapshot",
    );
    assert!(!target.exists());

    // Not into a directory that holds something else (no node identity), which is left as
    // it was.
    let foreign = work.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "mine").expect("write");
    for new in [false, true] {
        let err = fails(&restore(work.path(), &snap, &foreign, new), "not empty");
        assert!(
            err.contains("not a Holdfast data dir") && err.contains("notes.txt"),
            "{err}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&foreign)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, ["notes.txt"], "nothing added to the directory");

    // A new node from the snapshot: same data, fresh identity.
    let mut c = Broker::start_with_admin(&[], None);
    c.terminate();
    std::fs::remove_dir_all(c.data_dir()).expect("wipe");
    let text = ok(&restore(work.path(), &snap, &c.data_dir(), true));
    assert!(text.contains("NEW node"), "{text}");
    c.restart();
    c.wait_for_admin();
    assert_ne!(node_id(&c), id_a);
    assert_eq!(usernames(&api(&c)), ["u1"]);
}

#[test]
fn the_snapshot_config_file_is_written_back_only_when_asked() {
    let config = "[store]\ndurability = \"sync\"\n";
    let a = Broker::start_with_admin(&[], Some(config));
    add_user(&api(&a), "u1");
    let work = tempfile::tempdir().expect("tempdir");
    let snap = work.path().join("snap");
    ok(&ctl(
        &a,
        &["data", "snapshot", "-o", snap.to_str().expect("utf-8")],
    ));
    assert!(snap.join("config/holdfast.toml").is_file());
    let restore_args = |data: &std::path::Path, extra: Option<&str>| {
        let mut args = vec![
            "restore-snapshot".to_string(),
            snap.display().to_string(),
            "--data-dir".to_string(),
            data.display().to_string(),
            "--as-new-node".to_string(),
        ];
        args.extend(extra.map(str::to_string));
        args
    };
    let run = |cwd: &std::path::Path, args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        holdfast(cwd, &[], &args)
    };

    // Without the flag: the data dir holds no config, the config in use is untouched, and the
    // report says where the snapshot's file is and how to restore it.
    let cwd = work.path().join("cwd");
    std::fs::create_dir(&cwd).expect("mkdir");
    std::fs::write(cwd.join("holdfast.toml"), "# in use\n").expect("write");
    let d1 = work.path().join("d1");
    let text = ok(&run(&cwd, restore_args(&d1, None)));
    assert!(
        text.contains(&snap.join("config/holdfast.toml").display().to_string())
            && text.contains("--restore-node-config"),
        "{text}"
    );
    assert!(
        !d1.join("config").exists(),
        "no config left in the data dir"
    );
    assert!(!d1.join("holdfast.toml").exists());
    assert_eq!(
        std::fs::read_to_string(cwd.join("holdfast.toml")).expect("read"),
        "# in use\n"
    );

    // --restore-node-config=PATH: written there, the previous file kept as .bak.
    let dest = work.path().join("etc-holdfast.toml");
    std::fs::write(&dest, "# old\n").expect("write");
    let d2 = work.path().join("d2");
    let flag = format!("--restore-node-config={}", dest.display());
    let text = ok(&run(&cwd, restore_args(&d2, Some(&flag))));
    assert!(text.contains("previous kept as"), "{text}");
    assert_eq!(std::fs::read_to_string(&dest).expect("read"), config);
    assert_eq!(
        std::fs::read_to_string(work.path().join("etc-holdfast.toml.bak")).expect("read"),
        "# old\n"
    );
    assert_eq!(mode_of(&dest), 0o600);

    // --restore-node-config alone: the file `holdfast start` would read (./holdfast.toml).
    let d3 = work.path().join("d3");
    let text = ok(&run(&cwd, restore_args(&d3, Some("--restore-node-config"))));
    assert!(text.contains("config    written to"), "{text}");
    assert_eq!(
        std::fs::read_to_string(cwd.join("holdfast.toml")).expect("read"),
        config
    );
    assert_eq!(
        std::fs::read_to_string(cwd.join("holdfast.toml.bak")).expect("read"),
        "# in use\n"
    );

    // Nowhere to write it: refused before anything is restored.
    let empty = work.path().join("empty-cwd");
    std::fs::create_dir(&empty).expect("mkdir");
    let d4 = work.path().join("d4");
    let err = fails(
        &run(&empty, restore_args(&d4, Some("--restore-node-config"))),
        "--restore-node-config=PATH",
    );
    assert!(err.contains("nothing was restored"), "{err}");
    assert!(!d4.exists(), "nothing restored");
}
