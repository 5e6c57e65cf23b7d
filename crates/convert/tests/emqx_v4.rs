//! Every EMQX 4.x fixture converts into an archive that `holdfast_backup::verify` accepts,
//! with what it holds carried and what Holdfast cannot hold reported.

use std::path::Path;

use holdfast_convert::{ConvertOptions, Outcome, convert, emqx};

fn convert_fixture(name: &str, dir: &Path) -> holdfast_convert::Converted {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/emqx/v4")
        .join(name);
    let bytes = std::fs::read(&path).expect("fixture");
    let mut source = emqx::open(&path, &bytes).expect("a 4.x export");
    let out = dir.join(format!("{name}.hfx"));
    let done = convert(source.as_mut(), &out, &ConvertOptions::default()).expect("converts");
    let summary = holdfast_backup::verify(&out).expect("an ordinary, valid archive");
    assert_eq!(summary.manifest.format_version, 1);
    done
}

fn notes(c: &holdfast_convert::Converted, outcome: Outcome) -> Vec<String> {
    c.report
        .entries
        .iter()
        .filter(|e| e.outcome == outcome)
        .map(|e| e.record.clone())
        .collect()
}

#[test]
fn every_v4_fixture_converts_and_reports_what_it_cannot_carry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = convert_fixture("ee435.json", dir.path());
    assert_eq!(c.report.carried["ee435.json"]["acl"], 2);
    assert_eq!(
        notes(&c, Outcome::NotCarried),
        vec![
            "auth clientid usera",
            "modules module:fcda7532",
            "modules module:db849123",
            "modules module:55987aaa",
            "modules module:78cae4f9",
            "users admin",
        ]
    );
    assert_eq!(notes(&c, Outcome::Mapped), vec!["app admin"]);
    assert!(c.report_path.ends_with("ee435.json.report.json"));

    let c = convert_fixture("v4.2.10.json", dir.path());
    assert_eq!(c.report.carried["v4.2.10.json"]["acl"], 2);
    // Its auth_mnesia password is not a sha256 hash, bare or salted: EMQX could not use it.
    assert!(notes(&c, Outcome::NotCarried).contains(&"auth username emqx_c".to_string()));

    let c = convert_fixture("v4.0.11.json", dir.path());
    assert!(notes(&c, Outcome::NotCarried).contains(&"auth clientid emqx_clientid".to_string()));

    let c = convert_fixture("430.json", dir.path());
    assert!(notes(&c, Outcome::NotCarried).contains(&"resources webhook".to_string()));
}

#[test]
fn damaged_or_foreign_exports_are_refused() {
    let p = Path::new("x.json");
    let e = emqx::open(
        p,
        b"{\"version\": \"4.3\", \"acl_mnesia\": [{\"topic\": 1}]",
    )
    .err();
    assert!(e.expect("cut short").to_string().contains("x.json: line 1"));
    let e = emqx::open(p, b"{\"version\": \"5.0\"}")
        .err()
        .expect("not 4.x");
    assert!(e.to_string().contains("4.0 to 4.4"), "{e}");
    let e = emqx::open(p, b"\x1f\x8b\x08").err().expect("5.x archive");
    assert!(e.to_string().contains("5.x"), "{e}");
    let e = emqx::open(p, b"PK").err().expect("neither");
    assert!(e.to_string().contains("neither"), "{e}");
    let mut src = emqx::open(p, br#"{"version": "4.3", "acl_mnesia": [{"topic": "t", "access": "allow", "action": "fly", "type": "all"}]}"#)
        .expect("parses");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.hfx");
    let e = convert(src.as_mut(), &out, &ConvertOptions::default()).expect_err("bad action");
    assert!(e.to_string().contains("acl_mnesia[0]"), "{e}");
    assert!(!out.exists());
}
