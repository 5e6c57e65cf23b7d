//! `holdfast ctl data ...` driven as a subprocess: export with `-o` downloads a private,
//! verified copy; `verify` and `inspect` work offline with no node at all; `import` uploads a
//! local file (or uses one already in the node's backup dir), prints the plan, and on a
//! damaged archive exits non-zero with the reason, changing nothing and leaving no upload.

mod backup_support;
mod common;
mod support;

use backup_support::*;
use common::Broker;
use holdfast_codec::QoS;
use serde_json::json;
use support::{connect5, publish_acked};

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn export_downloads_a_verified_private_copy_that_verifies_and_inspects_offline() {
    let b = Broker::start_with_admin(&[], None);
    add_user(&api(&b), "alice");
    let mut c = connect5(b.addr(), "p");
    publish_acked(&mut c, "r/1", &b"one"[..], QoS::AtLeastOnce, 1, true);

    let out_dir = tempfile::tempdir().expect("tempdir");
    let file = out_dir.path().join("node.hfx");
    let text = ok(&ctl(&b, &["data", "export", "-o", path_str(&file)]));
    assert!(text.contains("exported holdfast-export-"), "{text}");
    assert!(
        text.contains("users") && text.contains("saved to"),
        "{text}"
    );
    assert_eq!(mode_of(&file), 0o600);
    fails(
        &ctl(&b, &["data", "export", "-o", path_str(&file)]),
        "already exists",
    );

    let jfile = out_dir.path().join("auth.json");
    let v = ok_json(&ctl(
        &b,
        &[
            "data",
            "export",
            "--sets",
            "auth,retained",
            "--format",
            "json",
            "-o",
            path_str(&jfile),
            "--json",
        ],
    ));
    assert_eq!(v["sets"], json!(["auth", "retained"]));
    assert_eq!(v["format"], "json");
    assert!(
        std::fs::read_to_string(&jfile)
            .expect("json")
            .starts_with('{')
    );
    fails(
        &ctl(&b, &["data", "export", "--sets", "users"]),
        "unknown set",
    );

    // Offline: no node reachable, no data dir, no key.
    let nowhere = [("HOLDFAST_CTL_URL", "http://127.0.0.1:1")];
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let ctl_off = |args: &[&str]| {
        let mut all = vec!["ctl", "data"];
        all.extend_from_slice(args);
        holdfast(elsewhere.path(), &nowhere, &all)
    };
    for f in [&file, &jfile] {
        let text = ok(&ctl_off(&["verify", path_str(f)]));
        assert!(
            text.starts_with("OK: ") && text.contains("every checksum matches"),
            "{text}"
        );
    }
    let text = ok(&ctl_off(&["inspect", path_str(&file)]));
    assert!(
        text.contains("TABLE") && text.contains("cluster_config"),
        "{text}"
    );
    let v = ok_json(&ctl_off(&["inspect", path_str(&jfile), "--json"]));
    let tables = v["manifest"]["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 5, "auth and retained tables");
    let users = tables.iter().find(|t| t["name"] == "users").expect("users");
    assert_eq!(users["records"], 1);
    fails(&ctl_off(&["verify", "/no/such/file.hfx"]), "No such file");

    let listing = ok(&ctl(&b, &["data", "files"]));
    assert!(
        listing.contains("NAME") && listing.contains(".json"),
        "{listing}"
    );
    let names = file_names(&api(&b));
    assert_eq!(names.len(), 2);
    ok(&ctl(&b, &["data", "delete", &names[0]]));
    assert_eq!(file_names(&api(&b)).len(), 1);
}

#[test]
fn import_uploads_plans_applies_and_refuses_damage_leaving_nothing_behind() {
    let a = Broker::start_with_admin(&[], None);
    add_user(&api(&a), "alice");
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("a.hfx");
    ok(&ctl(&a, &["data", "export", "-o", path_str(&file)]));

    let b = Broker::start_with_admin(&[], None);
    let api_b = api(&b);
    let text = ok(&ctl(&b, &["data", "import", path_str(&file), "--dry-run"]));
    assert!(
        text.contains("dry run of a.hfx") && text.contains("nothing was changed"),
        "{text}"
    );
    assert!(text.contains("ADD") && text.contains("users"), "{text}");
    assert!(
        file_names(&api_b).is_empty(),
        "the dry run's upload is removed again"
    );
    assert_eq!(usernames(&api_b), Vec::<String>::new());

    let v = ok_json(&ctl(&b, &["data", "import", path_str(&file), "--json"]));
    assert_eq!(plan_of(&v, "users"), (1, 0, 0));
    assert_eq!(usernames(&api_b), ["alice"]);
    assert_eq!(file_names(&api_b), ["a.hfx"]);

    // Already in the node's backup dir: by its path there, or by name (ctl runs in the
    // node's dir, where no a.hfx exists); nothing is uploaded again.
    let in_dir = b.data_dir().join("backup").join("a.hfx");
    let text = ok(&ctl(
        &b,
        &["data", "import", path_str(&in_dir), "--sets", "auth"],
    ));
    assert!(text.contains("imported a.hfx"), "{text}");
    let text = ok(&ctl(&b, &["data", "import", "a.hfx", "--dry-run"]));
    assert!(text.contains("dry run of a.hfx"), "{text}");
    // B's own key is not in A's archive: a replace of the auth set would delete it.
    fails(
        &ctl(
            &b,
            &[
                "data", "import", "a.hfx", "--mode", "replace", "--sets", "auth",
            ],
        ),
        "locking you out",
    );
    assert_eq!(file_names(&api_b), ["a.hfx"], "nothing uploaded again");

    // Cut short (flips are the business of data_corrupt.rs).
    let mut bad = std::fs::read(&file).expect("read");
    bad.truncate(bad.len() - 7);
    let bad_file = work.path().join("bad.hfx");
    std::fs::write(&bad_file, &bad).expect("write");
    let err = fails(
        &ctl(&b, &["data", "import", path_str(&bad_file)]),
        "import refused; nothing was changed",
    );
    assert!(err.contains("archive") && err.contains("HTTP 400"), "{err}");
    assert_eq!(
        file_names(&api_b),
        ["a.hfx"],
        "the refused upload is removed"
    );
    fails(
        &ctl(&b, &["data", "verify", path_str(&bad_file)]),
        "verification failed",
    );
    fails(
        &ctl(&b, &["data", "import", "missing.hfx"]),
        "no archive of that name",
    );
    assert_eq!(usernames(&api_b), ["alice"]);
}
