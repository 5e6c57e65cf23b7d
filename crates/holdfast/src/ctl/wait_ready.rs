//! `holdfast ctl wait-ready`: poll `GET /api/v1/health` (no key needed) until the node answers
//! 200, for scripts and supervisors that start a node and then administer it.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::Value;

use super::output::Output;

/// Arguments of `holdfast ctl wait-ready`.
#[derive(Debug, Args)]
pub struct WaitReadyArgs {
    /// Give up after this many seconds (exit 1 with the last reason)
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    timeout: f64,
}

/// Time between two polls.
const POLL: Duration = Duration::from_millis(100);

pub fn run(args: WaitReadyArgs, url: &str, out: Output) -> anyhow::Result<()> {
    if !(args.timeout.is_finite() && args.timeout >= 0.0) {
        bail!("--timeout must be a number of seconds >= 0");
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let probe = format!("{url}/api/v1/health");
    let started = Instant::now();
    loop {
        let last = match agent.get(&probe).call() {
            Ok(mut resp) => {
                let code = resp.status().as_u16();
                let body: Value = resp
                    .body_mut()
                    .with_config()
                    .limit(64 * 1024)
                    .read_json()
                    .unwrap_or(Value::Null);
                if code == 200 {
                    let waited = started.elapsed().as_secs_f64();
                    if out.json {
                        return out.print_json(&serde_json::json!({
                            "status": "ready", "waited_secs": waited,
                        }));
                    }
                    println!("ready ({waited:.1} s)");
                    return Ok(());
                }
                match body.get("reason").and_then(Value::as_str) {
                    Some(r) => format!("HTTP {code}: {r}"),
                    None => format!("HTTP {code}"),
                }
            }
            Err(e) => format!("cannot reach {probe}: {e}"),
        };
        if Instant::now() + POLL > deadline {
            bail!("not ready after {} s: {last}", args.timeout);
        }
        std::thread::sleep(POLL);
    }
}
