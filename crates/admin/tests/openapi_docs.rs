//! The admin API reference (`docs/admin-api.md`) is checked against the OpenAPI document
//! generated from the handlers: every operation (method and path) must be listed there, and
//! the document must describe the bearer scheme and every schema it refers to.

use std::path::Path;

use holdfast_admin::openapi::ApiDoc;
use utoipa::OpenApi;

fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/admin-api.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the document serializes")
}

#[test]
fn every_operation_is_in_the_reference() {
    let doc = document();
    let docs = reference();
    let mut missing = Vec::new();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 17, "{} paths", paths.len());
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                // Written as `METHOD PATH` in backticks, possibly with a query string.
                let op = format!("`{} {path}", method.to_uppercase());
                if !docs.contains(&format!("{op}`")) && !docs.contains(&format!("{op}?")) {
                    missing.push(op);
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/admin-api.md does not list: {missing:?}"
    );
}

#[test]
fn every_reference_resolves_and_operations_are_unique_and_secured() {
    let doc = document();
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().expect("name");
        assert!(schemas.contains_key(name), "unresolved schema {name}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut ids = std::collections::BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("item").values() {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            let public = op["security"]
                .as_array()
                .is_some_and(|s| s.contains(&serde_json::json!({})));
            if !public {
                assert!(op["responses"]["401"].is_object(), "{id} lacks 401");
            }
        }
    }
}
