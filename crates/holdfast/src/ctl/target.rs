//! Where `holdfast ctl` sends its requests: `--url`/`--api-key` (or `HOLDFAST_CTL_URL` /
//! `HOLDFAST_CTL_API_KEY`), else the same config resolution as `holdfast start`: the URL from
//! `admin.bind` and the key from `<data_dir>/admin.key`. So on the broker's machine a plain
//! `holdfast ctl ...` reaches the local node with its bootstrap key.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::settings;

/// File holding the bootstrap key, inside the data dir.
const KEY_FILE: &str = "admin.key";

/// How to reach the admin API.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Admin API base URL, e.g. http://127.0.0.1:18083 [default: from admin.bind]
    #[arg(long, env = "HOLDFAST_CTL_URL", global = true, value_name = "URL")]
    url: Option<String>,
    /// API key `<key_id>.<secret>` [default: the contents of <data_dir>/admin.key]
    #[arg(
        long,
        env = "HOLDFAST_CTL_API_KEY",
        global = true,
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
    /// Config file of the node, to find admin.bind and the data dir (searched as by `start`)
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Data dir of the node, to find admin.key (resolved as by `start`)
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// A resolved target.
#[derive(Debug)]
pub struct Target {
    /// Base URL without a trailing slash.
    pub url: String,
    pub api_key: String,
}

impl TargetArgs {
    /// Resolve the URL and the key.
    pub fn resolve(&self) -> anyhow::Result<Target> {
        if let (Some(url), Some(key)) = (&self.url, &self.api_key) {
            return Ok(Target {
                url: url.trim_end_matches('/').to_string(),
                api_key: key.trim().to_string(),
            });
        }
        let s = self.settings()?;
        let url = self.url_from(&s)?;
        let api_key = match &self.api_key {
            Some(k) => k.trim().to_string(),
            None => {
                let path = s.data_dir.path.join(KEY_FILE);
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "cannot read the API key from {} (data dir chosen by: {}); give \
                         --api-key or $HOLDFAST_CTL_API_KEY, or run as the broker's user",
                        path.display(),
                        s.data_dir.rule
                    )
                })?;
                text.trim().to_string()
            }
        };
        Ok(Target { url, api_key })
    }

    /// Resolve the URL only (for calls that need no key, such as the health probe).
    pub fn resolve_url(&self) -> anyhow::Result<String> {
        match &self.url {
            Some(url) => Ok(url.trim_end_matches('/').to_string()),
            None => self.url_from(&self.settings()?),
        }
    }

    fn settings(&self) -> anyhow::Result<settings::Settings> {
        settings::resolve(self.config.as_deref(), self.data_dir.as_deref()).context(
            "cannot resolve the node's settings to find the admin API (or give --url and \
             --api-key)",
        )
    }

    fn url_from(&self, s: &settings::Settings) -> anyhow::Result<String> {
        Ok(match &self.url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                if !s.config.admin.enabled {
                    bail!(
                        "the admin API is disabled on this node (admin.enabled = false); enable \
                         it or give --url"
                    );
                }
                format!("http://{}", reachable(s.config.admin.bind))
            }
        })
    }
}

/// A bind address to connect to: a wildcard bind is reached on loopback.
fn reachable(bind: SocketAddr) -> SocketAddr {
    match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bind.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), bind.port())
        }
        _ => bind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_reached_on_loopback() {
        let a: SocketAddr = "0.0.0.0:18083".parse().expect("addr");
        assert_eq!(reachable(a).to_string(), "127.0.0.1:18083");
        let b: SocketAddr = "[::]:9".parse().expect("addr");
        assert_eq!(reachable(b).to_string(), "[::1]:9");
        let c: SocketAddr = "10.1.2.3:80".parse().expect("addr");
        assert_eq!(reachable(c), c);
    }
}
