//! Admin API authentication on the real binary: API keys and their roles (a viewer key
//! trying to write gets 403 and changes nothing), wrong, unknown and expired keys (401), the
//! bootstrap key file (mode 0600, never logged), and `/metrics` behind a key when configured.

mod common;

use std::time::Duration;

use common::Broker;
use common::http::{Http, start_admin};
use serde_json::json;

#[test]
fn api_keys_roles_expiry_and_secrets() {
    let (b, api) = start_admin();
    let keys = api.ok("/api/v1/api_keys");
    assert_eq!(keys[0]["name"], "bootstrap");
    assert_eq!(keys[0]["role"], "admin");
    let secret = b
        .admin_key()
        .split_once('.')
        .map(|(_, s)| s.to_string())
        .expect("token");
    assert!(!keys.to_string().contains(&secret) && !keys.to_string().contains("argon2"));

    let a = api.send(
        "POST",
        "/api/v1/api_keys",
        &json!({"name": "dashboard", "role": "viewer"}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let viewer_token = a.json()["api_key"].as_str().expect("token").to_string();
    let viewer_id = a.json()["key_id"].as_str().expect("id").to_string();
    let viewer = api.with_key(Some(&viewer_token));
    assert_eq!(viewer.get("/api/v1/users").status, 200);
    let before = api.ok("/api/v1/users");
    let write = viewer.send(
        "POST",
        "/api/v1/users",
        &json!({"username": "v", "password": "p"}),
    );
    write.assert_err(403, "viewer");
    viewer
        .delete(&format!("/api/v1/api_keys/{viewer_id}"))
        .assert_err(403, "viewer");
    viewer
        .send("PUT", "/api/v1/config/acl.default", &json!("deny"))
        .assert_err(403, "viewer");
    assert_eq!(
        api.ok("/api/v1/users"),
        before,
        "a refused write changes nothing"
    );
    assert!(api.ok("/api/v1/config")[0]["value"].is_null());

    let a = api.send(
        "POST",
        "/api/v1/api_keys",
        &json!({"name": "short", "role": "admin", "expires_in_secs": 1}),
    );
    let short = api.with_key(a.json()["api_key"].as_str());
    assert_eq!(short.get("/api/v1/node").status, 200);
    std::thread::sleep(Duration::from_millis(1200));
    short.get("/api/v1/node").assert_err(401, "expired");

    let none = api.with_key(None).get("/api/v1/users");
    none.assert_err(401, "missing API key");
    assert_eq!(none.www_authenticate.as_deref(), Some("Bearer"));
    let (id, _) = b
        .admin_key()
        .split_once('.')
        .map(|(i, s)| (i.to_string(), s.to_string()))
        .expect("token");
    let wrong = api.with_key(Some(&format!("{id}.{}", "0".repeat(64))));
    wrong.get("/api/v1/users").assert_err(401, "wrong secret");
    api.with_key(Some("nodot"))
        .get("/api/v1/users")
        .assert_err(401, "malformed");
    api.with_key(Some("0123456789abcdef.x"))
        .get("/api/v1/users")
        .assert_err(401, "unknown API key");
    for bad in [
        ("name", json!("")),
        ("role", json!("root")),
        ("expires_in_secs", json!(0)),
    ] {
        let mut body = json!({"name": "k", "role": "viewer"});
        body[bad.0] = bad.1;
        assert_eq!(
            api.send("POST", "/api/v1/api_keys", &body).status,
            400,
            "{body}"
        );
    }
    assert_eq!(api.ok("/api/v1/api_keys").as_array().map(Vec::len), Some(3));

    assert_eq!(
        api.delete(&format!("/api/v1/api_keys/{viewer_id}")).status,
        204
    );
    viewer
        .get("/api/v1/users")
        .assert_err(401, "unknown API key");
    // The short key has expired, so the bootstrap key is the last usable admin key.
    api.delete(&format!("/api/v1/api_keys/{id}"))
        .assert_err(409, "last usable admin key");
    assert_eq!(api.get("/api/v1/users").status, 200);
    assert!(!b.log().contains(&secret) && !b.log().contains(&viewer_token));
}

#[test]
fn metrics_need_a_key_unless_public_and_bootstrap_key_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut b = Broker::start_with_admin(&[("HOLDFAST_ADMIN__METRICS_PUBLIC", "false")], None);
    let api = Http::new(&b.admin_url(), Some(&b.admin_key()));
    assert_eq!(api.with_key(None).get("/metrics").status, 401);
    assert_eq!(api.get("/metrics").status, 200);

    let path = b.data_dir().join("admin.key");
    let mode = std::fs::metadata(&path)
        .expect("admin.key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = b.admin_key();
    let log = b.log();
    assert!(log.contains("admin.key") && !log.contains(&key), "{log}");
    b.terminate();
    b.restart();
    b.wait_for_admin();
    assert_eq!(b.admin_key(), key, "an existing key is not replaced");
    assert_eq!(api.ok("/api/v1/api_keys").as_array().map(Vec::len), Some(1));
}
