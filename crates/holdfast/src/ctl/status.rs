//! `holdfast ctl status`: the node's identity, uptime, listeners and counts.

use serde_json::Value;

use super::client::Client;
use super::output::{Output, field};

pub fn run(c: &Client, out: Output) -> anyhow::Result<()> {
    let v = c.get("/node")?;
    if out.json {
        return out.print_json(&v);
    }
    println!("node       {} ({})", field(&v, "name"), field(&v, "id"));
    println!("version    {}", field(&v, "version"));
    let up = v.get("uptime_secs").and_then(Value::as_u64).unwrap_or(0);
    println!(
        "uptime     {}d {:02}h {:02}m {:02}s",
        up / 86_400,
        up % 86_400 / 3600,
        up % 3600 / 60,
        up % 60
    );
    for l in v
        .get("listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("listener   {:<6} {}", field(l, "name"), field(l, "addr"));
    }
    let s = v.get("stats").cloned().unwrap_or(Value::Null);
    let counts = [
        "connections",
        "sessions",
        "subscriptions",
        "retained",
        "users",
        "acl_rules",
        "banned",
        "api_keys",
    ];
    let line: Vec<String> = counts
        .iter()
        .map(|k| format!("{k}={}", field(&s, k)))
        .collect();
    println!("counts     {}", line.join(" "));
    println!(
        "messages   received={} sent={} dropped={}",
        field(&s, "messages_received"),
        field(&s, "messages_sent"),
        field(&s, "messages_dropped")
    );
    Ok(())
}
