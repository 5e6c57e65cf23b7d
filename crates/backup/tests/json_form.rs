//! The JSON form as a reader sees it: members in any order after `format` and
//! `format_version`, each member and each table at most once, and hand-built documents
//! checked as strictly as written ones.

mod support;

use holdfast_backup::{Archive, ExportOptions, Format, Limits, ReadError, ReadFault, Set, export};
use serde_json::Value;
use support::{commit, open_store, sample_commands};

/// A JSON export of the sample store, as text.
fn sample_json() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    commit(&store, sample_commands());
    let path = dir.path().join("a.json");
    let opts = ExportOptions {
        format: Format::Json,
        ..ExportOptions::default()
    };
    export(&store, opts, &path).expect("export");
    std::fs::read_to_string(&path).expect("read")
}

fn read(text: &str) -> Result<Archive<holdfast_backup::Verified>, ReadError> {
    Archive::from_bytes("a.json", text.as_bytes().to_vec())
        .expect("json")
        .with_limits(Limits::default())
        .verify()
}

fn corrupt(text: &str) -> (String, String) {
    match read(text).map(|_| ()).expect_err("accepted").fault {
        ReadFault::Corrupt { entry, reason } => (entry, reason),
        other => panic!("not refused as corrupt: {other}"),
    }
}

/// The document's members as (name, compact JSON), in the writer's order.
fn members(text: &str) -> Vec<(String, String)> {
    let order = [
        "format",
        "format_version",
        "manifest",
        "manifest_blake3",
        "config_files",
        "tables",
    ];
    let doc: Value = serde_json::from_str(text).expect("parses");
    order
        .iter()
        .map(|m| (m.to_string(), doc[m].to_string()))
        .collect()
}

fn document(members: &[(String, String)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(name, value)| format!("{name:?}: {value}"))
        .collect();
    format!("{{{}}}", body.join(",\n"))
}

#[test]
fn members_after_the_version_may_come_in_any_order() {
    let text = sample_json();
    let reference = read(&text).expect("the export verifies");
    let mut m = members(&text);
    // Tables first, the manifest and its hash last: the tallies are checked at the end.
    m[2..].reverse();
    assert_eq!(m[2].0, "tables");
    let reordered = document(&m);
    let again = read(&reordered).expect("members reordered verify");
    assert_eq!(again.manifest(), reference.manifest());
    for table in holdfast_backup::Table::of_sets(&Set::ALL) {
        assert_eq!(again.rows(table), reference.rows(table), "{table}");
    }
    // And a record changed before the manifest is read is still refused.
    let changed = reordered.replacen("\"superuser\":true", "\"superuser\":false", 1);
    assert_ne!(changed, reordered);
    let (entry, reason) = corrupt(&changed);
    assert!(entry.starts_with("tables/"), "{entry}: {reason}");
    assert!(reason.contains("the manifest says"), "{reason}");
    // So is a manifest that differs from its hash, wherever it comes.
    let altered = reordered.replacen("\"batch_seq\":", "\"batch_seq\":1", 1);
    assert_ne!(altered, reordered);
    let (entry, reason) = corrupt(&altered);
    assert_eq!(entry, "manifest", "{reason}");
    assert!(reason.contains("manifest_blake3"), "{reason}");
}

#[test]
fn format_and_format_version_open_the_document() {
    let text = sample_json();
    let mut m = members(&text);
    m.swap(1, 2);
    let (entry, reason) = corrupt(&document(&m));
    assert_eq!(entry, "(JSON document)");
    assert!(
        reason.contains("\"manifest\" comes before format and format_version"),
        "{reason}"
    );
    // The two in either order are fine.
    let mut m = members(&text);
    m.swap(0, 1);
    read(&document(&m)).expect("format_version before format verifies");
}

#[test]
fn a_table_named_twice_is_refused() {
    let text = sample_json();
    let start = text.find("\n    \"users\": [").expect("users table");
    let len = text[start..].find("\n    ]").expect("end of users") + "\n    ]".len();
    let users = &text[start..start + len];
    // The same table again, right after itself: the last one used to win.
    let twice = text.replacen(users, &format!("{users},{users}"), 1);
    let (entry, reason) = corrupt(&twice);
    assert_eq!(
        (entry.as_str(), reason.as_str()),
        ("tables.users", "appears twice")
    );
    let msg = read(&twice).map(|_| ()).expect_err("refused").to_string();
    assert!(msg.contains("tables.users: appears twice"), "{msg}");
    // Also when the table is empty the second time.
    let empty = text.replacen(users, &format!("{users},\n    \"users\": []"), 1);
    assert_eq!(corrupt(&empty).1, "appears twice");
}

#[test]
fn every_member_once_and_none_unknown() {
    let text = sample_json();
    let m = members(&text);
    let mut twice = m.clone();
    twice.push(m[3].clone());
    let (entry, reason) = corrupt(&document(&twice));
    assert_eq!(
        (entry.as_str(), reason.as_str()),
        ("manifest_blake3", "appears twice")
    );
    let mut unknown = m.clone();
    unknown.push(("extra".into(), "[]".into()));
    assert!(
        corrupt(&document(&unknown))
            .1
            .contains("unknown member \"extra\"")
    );
    let (_, reason) = corrupt(&document(&m[..5]));
    assert!(reason.contains("lacks its \"tables\" member"), "{reason}");
    // Inside a record, too: a value member the writer does not write, or one it writes
    // missing (an absent option is null).
    let extra = text.replacen("\"superuser\":", "\"admin\":true,\"superuser\":", 1);
    let (entry, reason) = corrupt(&extra);
    assert!(entry.starts_with("tables.users["), "{entry}");
    assert!(reason.contains("unknown field `admin`"), "{reason}");
    let dup_key = text.replacen(
        "{\"key\":{\"username\":",
        "{\"key\":{\"username\":\"x\"},\"key\":{\"username\":",
        1,
    );
    assert_ne!(dup_key, text);
    let (entry, reason) = corrupt(&dup_key);
    assert!(
        reason.contains("duplicate field `key`"),
        "{entry}: {reason}"
    );
}

#[test]
fn a_writer_refuses_a_record_whose_json_a_reader_would_not_read() {
    use holdfast_store::Command;
    use holdfast_store::records::RetainedRecord;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("s.redb"));
    // 90 KiB of a control character: valid UTF-8, so written as text, six bytes each.
    let payload = vec![1u8; 90 << 10];
    commit(
        &store,
        vec![Command::PutRetained {
            topic: "t".into(),
            rec: RetainedRecord {
                msg: support::message("t", &payload),
                stored_at_ms: 1,
            },
        }],
    );
    let limits = Limits {
        record_bytes_max: 100 << 10,
        ..Limits::default()
    };
    let opts = |format| ExportOptions {
        format,
        limits: limits.clone(),
        ..ExportOptions::default()
    };
    let e = export(&store, opts(Format::Json), &dir.path().join("a.json"))
        .expect_err("too long for the JSON form");
    let msg = e.to_string();
    assert!(msg.contains("json_record_bytes_max"), "{msg}");
    // The binary form holds it.
    let path = dir.path().join("a.hfx");
    export(&store, opts(Format::Binary), &path).expect("binary export");
    holdfast_backup::verify_with_limits(&path, &limits).expect("verifies");
}
