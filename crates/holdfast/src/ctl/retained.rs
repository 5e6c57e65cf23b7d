//! `holdfast ctl retained list|get|del`: retained messages.

use clap::Subcommand;
use serde_json::json;

use super::client::{Client, seg};
use super::output::{Output, field, time_field};

/// Retained messages.
#[derive(Debug, Subcommand)]
pub enum RetainedCmd {
    /// List retained messages (without payloads).
    List {
        /// Only those matching this topic filter (`+` and `#` allowed)
        #[arg(long, value_name = "FILTER")]
        topic: Option<String>,
        /// At most this many (the server's default is 1000)
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show one retained message with its payload (base64 in --json).
    Get { topic: String },
    /// Delete the retained message on a topic.
    Del { topic: String },
}

pub fn run(cmd: RetainedCmd, c: &Client, out: Output) -> anyhow::Result<()> {
    match cmd {
        RetainedCmd::List { topic, limit } => {
            let mut query = Vec::new();
            if let Some(t) = topic {
                query.push(format!("topic={}", seg(&t)));
            }
            if let Some(l) = limit {
                query.push(format!("limit={l}"));
            }
            let path = match query.is_empty() {
                true => "/retained".to_string(),
                false => format!("/retained?{}", query.join("&")),
            };
            let v = c.get(&path)?;
            out.table(
                &v,
                &[
                    ("TOPIC", &|m| field(m, "topic")),
                    ("QOS", &|m| field(m, "qos")),
                    ("BYTES", &|m| field(m, "payload_bytes")),
                    ("EXPIRES", &|m| time_field(m, "expires_at_ms")),
                ],
            )
        }
        RetainedCmd::Get { topic } => {
            let v = c.get(&format!("/retained/{}", seg(&topic)))?;
            if out.json {
                return out.print_json(&v);
            }
            use base64::Engine;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(field(&v, "payload_base64"))
                .unwrap_or_default();
            println!("topic    {}", field(&v, "topic"));
            println!("qos      {}", field(&v, "qos"));
            println!("bytes    {}", field(&v, "payload_bytes"));
            match String::from_utf8(payload) {
                Ok(text) => println!("payload  {text}"),
                Err(_) => println!("payload  (binary; base64) {}", field(&v, "payload_base64")),
            }
            Ok(())
        }
        RetainedCmd::Del { topic } => {
            c.delete(&format!("/retained/{}", seg(&topic)))?;
            out.done(
                &json!({"deleted": topic}),
                &format!("retained message on {topic} deleted"),
            )
        }
    }
}
