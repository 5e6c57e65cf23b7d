//! The data endpoints of the admin API (`/api/v1/data/...`), black-box: exports land in the
//! backup dir with mode 0600; viewers may list but not export, download, upload, delete,
//! import or snapshot; file names never leave the backup dir; uploads are checked, limited
//! and never leave a half file behind.

mod backup_support;
mod common;
mod support;

use backup_support::*;
use common::Broker;
use common::http::Http;
use serde_json::json;

#[test]
fn exports_are_private_files_that_only_admins_may_take() {
    let b = Broker::start_with_admin(&[("HOLDFAST_ADMIN__UPLOAD_BYTES_MAX", "65536")], None);
    let admin = api(&b);
    add_user(&admin, "alice");
    let viewer = Http::new(&b.admin_url(), Some(&new_key(&admin, "v", "viewer")));

    let e = export(&admin, json!({}));
    let name = e["name"].as_str().expect("name").to_string();
    assert!(
        name.starts_with("holdfast-export-") && name.ends_with("Z.hfx") && name.len() == 36,
        "{name}"
    );
    let backup = b.data_dir().join("backup");
    let path = backup.join(&name);
    assert_eq!(e["path"], json!(path.display().to_string()));
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(mode_of(&backup), 0o700);
    assert_eq!(
        e["bytes"],
        json!(std::fs::metadata(&path).expect("file").len())
    );
    assert_eq!(e["sets"], json!(["config", "auth", "retained", "sessions"]));
    let users = e["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == "users")
        .expect("users");
    assert_eq!(users["records"], 1);
    assert!(e["cut"]["batch_seq"].as_u64().expect("cut") >= 2);

    let j = export(&admin, json!({"format": "json", "sets": ["auth"]}));
    let jname = j["name"].as_str().expect("name").to_string();
    assert!(jname.ends_with(".json"), "{jname}");
    assert_eq!(j["sets"], json!(["auth"]));
    assert_eq!(j["tables"].as_array().expect("tables").len(), 4);
    let again = export(&admin, json!({}));
    assert_ne!(again["name"], e["name"], "two exports never share a file");

    let listed = viewer.ok("/api/v1/data/files");
    assert_eq!(listed["dir"], json!(backup.display().to_string()));
    let names: Vec<&str> = listed["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 3);
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
    assert!(names.contains(&jname.as_str()));

    // Viewers: list only.
    let file = format!("/api/v1/data/files/{name}");
    viewer.get(&file).assert_err(403, "viewer");
    viewer.delete(&file).assert_err(403, "viewer");
    for (path, body) in [
        ("/api/v1/data/export", json!({})),
        ("/api/v1/data/import", json!({"file": name})),
        ("/api/v1/data/snapshot", json!({"dir": "/tmp/x"})),
    ] {
        viewer.send("POST", path, &body).assert_err(403, "viewer");
    }
    assert_eq!(upload(&viewer, "v.hfx", b"x").0, 403);
    assert_eq!(download(&viewer, &name).0, 403);

    let (status, bytes) = download(&admin, &name);
    assert_eq!(status, 200);
    assert_eq!(
        bytes,
        std::fs::read(&path).expect("read"),
        "the download is the file"
    );

    for bad in ["..%2F..%2Fnode.toml", ".hidden", "a%2Fb.hfx", "x.hfx.tmp"] {
        admin
            .get(&format!("/api/v1/data/files/{bad}"))
            .assert_err(400, "invalid archive file name");
    }
    admin
        .get("/api/v1/data/files/missing.hfx")
        .assert_err(404, "no archive");

    // Uploads: an archive is stored under a new name, with mode 0600.
    assert_eq!(upload(&admin, "copy.hfx", &bytes).0, 201);
    assert_eq!(mode_of(&backup.join("copy.hfx")), 0o600);
    let (status, body) = upload(&admin, "copy.hfx", &bytes);
    assert_eq!(status, 409, "{body}");
    let (status, body) = upload(&admin, "junk.hfx", b"this is not an archive");
    assert_eq!(status, 400);
    assert!(body.contains("not a holdfast archive"), "{body}");
    let (status, body) = upload(&admin, "big.hfx", &vec![0u8; 70_000]);
    assert_eq!(status, 413);
    assert!(body.contains("admin.upload_bytes_max"), "{body}");
    assert_eq!(upload(&admin, "..%2Fescape.hfx", &bytes).0, 400);
    assert!(!b.data_dir().join("escape.hfx").exists());
    let on_disk: Vec<String> = std::fs::read_dir(&backup)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        on_disk.len(),
        4,
        "no refused or temporary upload left: {on_disk:?}"
    );
    assert!(
        !on_disk
            .iter()
            .any(|n| n.starts_with('.') || n == "junk.hfx")
    );

    assert_eq!(admin.delete("/api/v1/data/files/copy.hfx").status, 204);
    admin
        .delete("/api/v1/data/files/copy.hfx")
        .assert_err(404, "no archive");
}

#[test]
fn bad_export_and_import_requests_are_refused() {
    let b = Broker::start_with_admin(&[], None);
    let admin = api(&b);
    admin
        .send("POST", "/api/v1/data/export", &json!({"sets": []}))
        .assert_err(400, "at least one set");
    admin
        .send("POST", "/api/v1/data/export", &json!({"sets": ["users"]}))
        .assert_err(400, "invalid request body");
    admin
        .send("POST", "/api/v1/data/export", &json!({"format": "zip"}))
        .assert_err(400, "invalid request body");
    admin
        .send("POST", "/api/v1/data/export", &json!({"bogus": 1}))
        .assert_err(400, "bogus");
    // A struct as an array of its fields is not what the OpenAPI document allows.
    for (path, body) in [
        ("/api/v1/data/export", json!([null, null])),
        (
            "/api/v1/data/import",
            json!(["x.hfx", null, null, true, false]),
        ),
        ("/api/v1/data/snapshot", json!(["/tmp/x"])),
    ] {
        admin
            .send("POST", path, &body)
            .assert_err(400, "expected a JSON object");
    }
    import(&admin, "missing.hfx", "merge", true).assert_err(404, "no archive");
    import(&admin, "../x.hfx", "merge", true).assert_err(400, "invalid archive file name");
    let e = export(&admin, json!({"sets": ["auth"]}));
    let name = e["name"].as_str().expect("name");
    import(&admin, name, "overwrite", true).assert_err(400, "invalid request body");
    admin
        .send(
            "POST",
            "/api/v1/data/import",
            &json!({"file": name, "sets": ["retained"]}),
        )
        .assert_err(400, "holds no retained set");
    admin
        .send(
            "POST",
            "/api/v1/data/import",
            &json!({"file": name, "restore_node_config": true}),
        )
        .assert_err(400, "without a config file");
    admin
        .send(
            "POST",
            "/api/v1/data/snapshot",
            &json!({"dir": "relative/dir"}),
        )
        .assert_err(400, "absolute path");
}

/// `name{kind="kind"}` in a Prometheus text scrape, if present.
fn metric(scrape: &str, name: &str, kind: &str) -> Option<f64> {
    let head = format!("{name}{{kind=\"{kind}\"}} ");
    scrape.lines().find_map(|l| {
        l.strip_prefix(&head)
            .map(|v| v.trim().parse().expect("a number"))
    })
}

#[test]
fn data_jobs_are_counted_in_the_metrics() {
    let b = Broker::start_with_admin(&[], None);
    let admin = api(&b);
    let scrape = || admin.get("/metrics").body;
    let now_secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as f64
    };
    let m = scrape();
    for kind in ["export", "import", "snapshot"] {
        assert_eq!(
            metric(&m, "holdfast_data_jobs_succeeded_total", kind),
            Some(0.0),
            "{m}"
        );
        assert_eq!(
            metric(&m, "holdfast_data_jobs_failed_total", kind),
            Some(0.0)
        );
        assert_eq!(
            metric(&m, "holdfast_data_last_success_timestamp_seconds", kind),
            None,
            "no success yet: no timestamp"
        );
    }

    let before = now_secs();
    let e = export(&admin, json!({}));
    let name = e["name"].as_str().expect("name").to_string();
    let archive_bytes = e["bytes"].as_u64().expect("bytes") as f64;
    // A dry run changes nothing and is not counted; a corrupt archive is a failed import.
    assert_eq!(import(&admin, &name, "merge", true).status, 200);
    std::fs::write(b.data_dir().join("backup/bad.hfx"), b"not an archive").expect("write");
    import(&admin, "bad.hfx", "merge", false).assert_err(400, "nothing was imported");
    let imported = import(&admin, &name, "merge", false);
    assert_eq!(imported.status, 200, "{}", imported.body);
    let snap_dir = tempfile::tempdir().expect("tempdir");
    let snap = admin.send(
        "POST",
        "/api/v1/data/snapshot",
        &json!({"dir": snap_dir.path().join("s").display().to_string()}),
    );
    assert_eq!(snap.status, 201, "{}", snap.body);
    let snap_bytes = snap.json()["bytes"].as_u64().expect("bytes") as f64;
    let after = now_secs();

    let m = scrape();
    let get = |name: &str, kind: &str| {
        metric(&m, name, kind).unwrap_or_else(|| panic!("no {name} for {kind}:\n{m}"))
    };
    for (kind, succeeded, failed, bytes) in [
        ("export", 1.0, 0.0, archive_bytes),
        ("import", 1.0, 1.0, archive_bytes),
        ("snapshot", 1.0, 0.0, snap_bytes),
    ] {
        assert_eq!(
            get("holdfast_data_jobs_succeeded_total", kind),
            succeeded,
            "{kind}"
        );
        assert_eq!(
            get("holdfast_data_jobs_failed_total", kind),
            failed,
            "{kind}"
        );
        assert_eq!(
            get("holdfast_data_last_success_bytes", kind),
            bytes,
            "{kind}"
        );
        let at = get("holdfast_data_last_success_timestamp_seconds", kind);
        assert!(
            (before.floor()..=after).contains(&at),
            "{kind} finished at {at}, not within [{before}, {after}]"
        );
        let took = get("holdfast_data_last_success_duration_seconds", kind);
        assert!(
            took >= 0.0 && took <= after - before + 1.0,
            "{kind} took {took} s"
        );
    }
    assert!(
        m.contains("# TYPE holdfast_data_jobs_failed_total counter"),
        "{m}"
    );
}

/// Smaller finding of the hardening review: a 300 MB upload that is not an archive was read
/// in full before its 400. Its first bytes are checked as they arrive: the answer comes while
/// the client has sent only 64 KiB of it, and nothing is left in the backup dir.
#[test]
fn an_upload_that_is_not_an_archive_is_refused_on_its_first_bytes() {
    use std::io::{Read, Write};
    let b = Broker::start_with_admin(&[], None);
    let admin = api(&b);
    let key = admin.key.clone().expect("admin key");
    let addr = b
        .admin_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /api/v1/data/files?name=junk.hfx HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {key}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 300000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("headers");
    s.write_all(&vec![b'P'; 64 * 1024]).expect("first 64 KiB");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("not a holdfast archive") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "no answer while the body is unsent ({e}); got {:?}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("not a holdfast archive"), "{text}");
    drop(s);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let left: Vec<_> = std::fs::read_dir(b.data_dir().join("backup"))
        .map(|d| d.map(|e| e.expect("entry").file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}
