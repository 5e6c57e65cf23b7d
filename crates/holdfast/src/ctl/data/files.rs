//! `holdfast ctl data files` and `holdfast ctl data delete NAME`: the archives in the node's
//! backup dir.

use serde_json::{Value, json};

use super::progress::human_bytes;
use crate::ctl::client::{Client, seg};
use crate::ctl::output::{Output, field, time_field};

/// `data files`.
pub fn list(c: &Client, out: Output) -> anyhow::Result<()> {
    let v = c.get("/data/files")?;
    if out.json {
        return out.print_json(&v);
    }
    println!("backup dir {}", field(&v, "dir"));
    Output { json: false }.table(
        &v["files"],
        &[
            ("NAME", &|f| field(f, "name")),
            ("SIZE", &|f| {
                human_bytes(f.get("bytes").and_then(Value::as_u64).unwrap_or(0))
            }),
            ("MODIFIED", &|f| time_field(f, "modified_at_ms")),
            ("FORM", &|f| field(f, "format")),
        ],
    )
}

/// `data delete NAME`.
pub fn delete(c: &Client, out: Output, name: &str) -> anyhow::Result<()> {
    c.delete(&format!("/data/files/{}", seg(name)))?;
    out.done(
        &json!({"deleted": name}),
        &format!("archive {name} deleted from the node's backup dir"),
    )
}
