//! The admin HTTP API of the real binary, its tables: users, ACL rules, bans and cluster
//! config, with bad input (bad JSON, unknown fields, invalid filters, duplicates). Each error
//! is a clear 4xx with a message and changes nothing, which each test checks by listing after.
//! Passwords never appear in answers or in the broker's log. Keys and roles are in
//! `admin_api_keys.rs`; clients, retained messages, node and metrics in `admin_api_node.rs`.

mod common;

use common::http::start_admin;
use serde_json::{Value, json};

#[test]
fn users_crud_bad_input_and_no_password_anywhere() {
    let (b, api) = start_admin();
    let pw = "s3cret-Pa55word";
    let a = api.send(
        "POST",
        "/api/v1/users",
        &json!({"username": "alice", "password": pw}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json()["username"], "alice");
    assert_eq!(a.json()["superuser"], false);
    let before = api.ok("/api/v1/users");

    let dup = json!({"username": "alice", "password": "other"});
    api.send("POST", "/api/v1/users", &dup)
        .assert_err(409, "already exists");
    let unknown = json!({"username": "bob", "password": "x", "admin": true});
    api.send("POST", "/api/v1/users", &unknown)
        .assert_err(400, "unknown field `admin`");
    let bad_json = api.raw(
        "POST",
        "/api/v1/users",
        Some(("application/json", "{\"username\":")),
    );
    bad_json.assert_err(400, "invalid request body");
    // Over the 2 MiB limit for JSON bodies: 413, not 400.
    let huge = format!(
        "{{\"username\":\"h\",\"password\":\"{}\"}}",
        "p".repeat(2 * 1024 * 1024)
    );
    api.raw("POST", "/api/v1/users", Some(("application/json", &huge)))
        .assert_err(413, "larger than 2097152 bytes");
    let no_type = api.raw("POST", "/api/v1/users", Some(("text/plain", "{}")));
    no_type.assert_err(400, "Content-Type");
    let empty_pw = json!({"username": "bob", "password": ""});
    api.send("POST", "/api/v1/users", &empty_pw)
        .assert_err(400, "password must be");
    let long_name = json!({"username": "u".repeat(300), "password": "x"});
    api.send("POST", "/api/v1/users", &long_name)
        .assert_err(400, "username must be");
    api.send("PATCH", "/api/v1/users/alice", &json!({}))
        .assert_err(400, "nothing to change");
    api.send("PATCH", "/api/v1/users/nobody", &json!({"superuser": true}))
        .assert_err(404, "no user");
    assert_eq!(api.ok("/api/v1/users"), before, "errors change nothing");

    let a = api.send("PATCH", "/api/v1/users/alice", &json!({"superuser": true}));
    assert_eq!(
        (a.status, a.json()["superuser"].clone()),
        (200, json!(true)),
        "{}",
        a.body
    );
    let a = api.send("PUT", "/api/v1/users/alice", &json!({"password": "n3w-pw"}));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(api.ok("/api/v1/users/alice")["superuser"], true);
    // Usernames are percent-decoded path segments.
    let a = api.send(
        "POST",
        "/api/v1/users",
        &json!({"username": "a/b c", "password": "x"}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(api.ok("/api/v1/users/a%2Fb%20c")["username"], "a/b c");

    assert_eq!(api.delete("/api/v1/users/alice").status, 204);
    api.get("/api/v1/users/alice")
        .assert_err(404, "no user \"alice\"");
    api.delete("/api/v1/users/alice").assert_err(404, "no user");

    for text in [api.get("/api/v1/users").body, b.log()] {
        for secret in [pw, "n3w-pw", "$argon2"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}

#[test]
fn acl_rules_keep_their_order_and_filters_are_validated() {
    let (_b, api) = start_admin();
    let rule = |who: Value, topic: &str| json!({"who": who, "permission": "deny", "action": "subscribe", "topic": topic});
    let a = api.send(
        "POST",
        "/api/v1/acl",
        &rule(json!({"kind": "user", "value": "bob"}), "secret/#"),
    );
    assert_eq!(
        (a.status, a.json()["id"].clone()),
        (201, json!(1)),
        "{}",
        a.body
    );
    let a = api.send(
        "POST",
        "/api/v1/acl",
        &rule(json!({"kind": "all"}), "users/${username}/+"),
    );
    assert_eq!(
        (a.status, a.json()["id"].clone()),
        (201, json!(2)),
        "{}",
        a.body
    );
    let before = api.ok("/api/v1/acl");
    let ids: Vec<u64> = before
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(before[0]["who"], json!({"kind": "user", "value": "bob"}));

    for (body, needle) in [
        (
            rule(json!({"kind": "all"}), "a/#/b"),
            "invalid topic filter",
        ),
        (rule(json!({"kind": "all"}), "a+"), "invalid topic filter"),
        (rule(json!({"kind": "all"}), ""), "invalid topic filter"),
        (
            rule(json!({"kind": "all"}), "x/${password}"),
            "unknown placeholder",
        ),
        (rule(json!({"kind": "user"}), "x"), "who.value"),
        (
            rule(json!({"kind": "all", "value": "x"}), "x"),
            "who.value must be absent",
        ),
        (
            rule(json!({"kind": "group", "value": "x"}), "x"),
            "unknown variant `group`",
        ),
        (
            json!({"who": {"kind": "all"}, "permission": "maybe", "action": "all", "topic": "x"}),
            "unknown variant `maybe`",
        ),
        (
            json!({"who": {"kind": "all"}, "permission": "deny", "action": "all"}),
            "missing field `topic`",
        ),
    ] {
        api.send("POST", "/api/v1/acl", &body)
            .assert_err(400, needle);
    }
    api.delete("/api/v1/acl/x").assert_err(400, "not a number");
    api.delete("/api/v1/acl/9").assert_err(404, "no ACL rule 9");
    assert_eq!(api.ok("/api/v1/acl"), before, "errors change nothing");

    assert_eq!(api.delete("/api/v1/acl/1").status, 204);
    let a = api.send(
        "POST",
        "/api/v1/acl",
        &rule(json!({"kind": "client", "value": "c1"}), "c/#"),
    );
    assert_eq!(a.json()["id"], 3, "new rules go last: {}", a.body);
    let ids: Vec<Value> = api
        .ok("/api/v1/acl")
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, [json!(2), json!(3)]);
}

#[test]
fn bans_are_validated_listed_and_lifted() {
    let (_b, api) = start_admin();
    let a = api.send(
        "POST",
        "/api/v1/banned",
        &json!({"kind": "peer", "value": "::0001", "reason": "noisy", "expires_in_secs": 3600}),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json()["value"], "::1", "peers are normalised");
    assert_eq!(
        api.send(
            "POST",
            "/api/v1/banned",
            &json!({"kind": "clientid", "value": "c/1"})
        )
        .status,
        201
    );
    let before = api.ok("/api/v1/banned");
    assert_eq!(before.as_array().map(Vec::len), Some(2));

    for (body, status, needle) in [
        (
            json!({"kind": "clientid", "value": "c/1"}),
            409,
            "already banned",
        ),
        (
            json!({"kind": "peer", "value": "not-an-ip"}),
            400,
            "not an IP address",
        ),
        (
            json!({"kind": "ip", "value": "x"}),
            400,
            "unknown variant `ip`",
        ),
        (
            json!({"kind": "username", "value": ""}),
            400,
            "value must be",
        ),
        (
            json!({"kind": "username", "value": "u", "expires_at_ms": 1, }),
            400,
            "not in the future",
        ),
        (
            json!({"kind": "username", "value": "u", "expires_in_secs": 5, "expires_at_ms": 99_999_999_999_999_u64}),
            400,
            "not both",
        ),
        (
            json!({"kind": "username", "value": "u", "until": 5}),
            400,
            "unknown field `until`",
        ),
    ] {
        api.send("POST", "/api/v1/banned", &body)
            .assert_err(status, needle);
    }
    api.delete("/api/v1/banned/ip/x")
        .assert_err(400, "unknown ban kind");
    api.delete("/api/v1/banned/username/nobody")
        .assert_err(404, "no ban");
    assert_eq!(api.ok("/api/v1/banned"), before, "errors change nothing");

    assert_eq!(
        api.delete("/api/v1/banned/peer/0:0:0:0:0:0:0:1").status,
        204
    );
    assert_eq!(api.delete("/api/v1/banned/clientid/c%2F1").status, 204);
    assert_eq!(api.ok("/api/v1/banned"), json!([]));
}

#[test]
fn cluster_config_is_validated_applied_and_kept() {
    let (mut b, api) = start_admin();
    let entries = api.ok("/api/v1/config");
    assert_eq!(entries[0]["key"], "acl.default");
    assert_eq!(entries[0]["effective"], "allow");
    assert_eq!(entries[1]["key"], "mqtt.allow_anonymous");

    api.send("PUT", "/api/v1/config/acl.default", &json!("maybe"))
        .assert_err(400, "\"allow\" or \"deny\"");
    api.send("PUT", "/api/v1/config/acl.default", &json!(1))
        .assert_err(400, "got a number");
    api.send("PUT", "/api/v1/config/mqtt.allow_anonymous", &json!("no"))
        .assert_err(400, "true or false");
    api.send("PUT", "/api/v1/config/mqtt.bogus", &json!(true))
        .assert_err(400, "unknown cluster config key");
    api.delete("/api/v1/config/acl.default")
        .assert_err(404, "not set");
    assert_eq!(api.ok("/api/v1/config"), entries, "errors change nothing");

    let a = api.send("PUT", "/api/v1/config/acl.default", &json!("deny"));
    assert_eq!(
        (a.status, a.json()["effective"].clone()),
        (200, json!("deny")),
        "{}",
        a.body
    );
    b.terminate();
    b.restart();
    b.wait_for_admin();
    assert_eq!(
        api.ok("/api/v1/config")[0]["value"],
        "deny",
        "kept across a restart"
    );
    assert_eq!(api.delete("/api/v1/config/acl.default").status, 204);
    assert_eq!(api.ok("/api/v1/config")[0]["effective"], "allow");
}
