//! Admin API on the real binary, runtime state: clients (list, kick), subscriptions,
//! retained messages (list, get, delete), node info, stats, Prometheus metrics, the OpenAPI
//! document and unknown routes.

mod common;
mod support;

use std::time::Duration;

use common::http::start_admin;
use holdfast_codec::{DisconnectReasonCode, QoS};
use serde_json::json;
use support::{WAIT, connect5, expect_disconnect, publish_packet, subscribe};

#[test]
fn clients_subscriptions_kick_and_retained() {
    let (b, api) = start_admin();
    let mut c = connect5(b.addr(), "dev-1");
    subscribe(&mut c, 1, "cmd/#", QoS::AtLeastOnce);
    let mut p = connect5(b.addr(), "pub");
    p.send(publish_packet(
        "state/door",
        &b"open"[..],
        QoS::AtMostOnce,
        0,
        true,
    ));
    p.send(publish_packet(
        "state/win",
        &b"\xff\x00"[..],
        QoS::AtMostOnce,
        0,
        true,
    ));
    std::thread::sleep(Duration::from_millis(300));

    let clients = api.ok("/api/v1/clients");
    let dev = clients
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["client_id"] == "dev-1")
        .expect("dev-1 listed")
        .clone();
    assert_eq!(
        (
            dev["connected"].clone(),
            dev["protocol"].clone(),
            dev["peer"].clone()
        ),
        (json!(true), json!(5), json!("127.0.0.1"))
    );
    let subs = api.ok("/api/v1/subscriptions");
    assert_eq!(
        subs,
        json!([{"client_id": "dev-1", "filter": "cmd/#", "qos": 1, "no_local": false,
        "retain_as_published": false, "retain_handling": 0, "sub_id": null}])
    );

    let listed = api.ok("/api/v1/retained?topic=state/%2B");
    let topics: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["topic"].as_str())
        .collect();
    assert_eq!(topics, ["state/door", "state/win"]);
    assert_eq!(
        api.ok("/api/v1/retained?topic=state/%23&limit=1")
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let door = api.ok("/api/v1/retained/state/door");
    assert_eq!(
        (
            door["payload_base64"].clone(),
            door["payload_bytes"].clone()
        ),
        (json!("b3Blbg=="), json!(4))
    );
    assert_eq!(
        api.ok("/api/v1/retained/state%2Fwin")["payload_base64"],
        "/wA="
    );
    api.get("/api/v1/retained?topic=a/%23/b")
        .assert_err(400, "invalid topic filter");
    api.get("/api/v1/retained?limit=0").assert_err(400, "limit");
    api.get("/api/v1/retained?color=red")
        .assert_err(400, "unknown field `color`");
    api.get("/api/v1/retained/state/%2B")
        .assert_err(400, "invalid topic");
    assert_eq!(api.delete("/api/v1/retained/state/door").status, 204);
    api.get("/api/v1/retained/state/door")
        .assert_err(404, "no retained message");
    api.delete("/api/v1/retained/state/door")
        .assert_err(404, "no retained message");

    assert_eq!(api.delete("/api/v1/clients/dev-1").status, 204);
    assert_eq!(
        expect_disconnect(&mut c, WAIT),
        DisconnectReasonCode::AdministrativeAction
    );
    api.delete("/api/v1/clients/nobody")
        .assert_err(404, "not connected");
}

#[test]
fn node_stats_metrics_openapi_and_unknown_routes() {
    let (b, api) = start_admin();
    let node = api.ok("/api/v1/node");
    let identity = std::fs::read_to_string(b.data_dir().join("node.toml")).expect("node.toml");
    assert!(
        identity.contains(node["id"].as_str().expect("id")),
        "{node}"
    );
    assert!(
        node["name"]
            .as_str()
            .expect("name")
            .starts_with("holdfast@")
    );
    let tcp = format!("127.0.0.1:{}", b.port);
    assert!(
        node["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .any(|l| l["addr"] == tcp.as_str())
    );
    assert_eq!(node["stats"]["api_keys"], 1);
    let _c = connect5(b.addr(), "counted");
    assert_eq!(api.ok("/api/v1/stats")["connections"], 1);

    let m = api.with_key(None).get("/metrics");
    assert_eq!(m.status, 200, "public by default");
    assert!(
        m.content_type.starts_with("text/plain"),
        "{}",
        m.content_type
    );
    for line in [
        "holdfast_connections 1",
        "# TYPE holdfast_messages_received_total counter",
        "holdfast_api_keys 1",
    ] {
        assert!(m.body.contains(line), "{line} missing:\n{}", m.body);
    }

    let doc = api.with_key(None).get("/api/v1/openapi.json");
    assert_eq!(doc.status, 200, "the document is public");
    let doc = doc.json();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/users/{username}",
        "/api/v1/acl/{id}",
        "/api/v1/banned/{kind}/{value}",
        "/api/v1/api_keys/{key_id}",
        "/api/v1/config/{key}",
        "/api/v1/clients/{client_id}",
        "/api/v1/subscriptions",
        "/api/v1/retained/{topic}",
        "/api/v1/node",
        "/api/v1/stats",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} not documented");
    }

    api.get("/api/v1/nothing")
        .assert_err(404, "no endpoint /api/v1/nothing");
    let a = api.send("PATCH", "/api/v1/acl", &json!({}));
    assert_eq!(a.status, 405, "{}", a.body);
}
