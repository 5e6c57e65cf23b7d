//! A small blocking HTTP client for the admin API (ureq). Every request carries the API key;
//! an error answer becomes an `Err` holding the server's own message.

use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::Value;

use super::target::Target;

/// Longest a request may take, connecting and reading included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read, in bytes.
const RESPONSE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// A client bound to one node.
pub struct Client {
    agent: ureq::Agent,
    target: Target,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Client")
            .field("url", &self.target.url)
            .finish()
    }
}

/// Percent-encode one path segment (everything but RFC 3986 unreserved characters).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    pub fn new(target: Target) -> Client {
        Client::with_timeout(target, REQUEST_TIMEOUT)
    }

    /// A client whose requests may take up to `timeout` (exports and imports of large stores).
    pub fn with_timeout(target: Target, timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            target,
        }
    }

    /// The node's base URL, without `/api/v1`.
    pub fn base_url(&self) -> &str {
        &self.target.url
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.target.url)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.target.api_key)
    }

    /// `GET /api/v1{path}`.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.auth())
            .call();
        self.finish("GET", path, r)
    }

    /// `DELETE /api/v1{path}`.
    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .agent
            .delete(self.url(path))
            .header("Authorization", self.auth())
            .call();
        self.finish("DELETE", path, r)
    }

    /// `POST`, `PUT` or `PATCH` a JSON body.
    pub fn send(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let url = self.url(path);
        let req = match method {
            "POST" => self.agent.post(url),
            "PUT" => self.agent.put(url),
            "PATCH" => self.agent.patch(url),
            other => return Err(anyhow!("unsupported method {other}")),
        };
        let r = req.header("Authorization", self.auth()).send_json(body);
        self.finish(method, path, r)
    }

    /// `POST /api/v1{path}` with a file as the raw body (`application/octet-stream`).
    pub fn upload(&self, path: &str, file: &std::fs::File) -> anyhow::Result<Value> {
        let r = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.auth())
            .content_type("application/octet-stream")
            .send(file);
        self.finish("POST", path, r)
    }

    /// `GET /api/v1{path}`, copying the body into `out`; returns the bytes copied.
    pub fn download(&self, path: &str, out: &mut dyn std::io::Write) -> anyhow::Result<u64> {
        let r = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.auth())
            .call();
        let mut resp =
            r.with_context(|| format!("cannot reach the admin API at {}", self.target.url))?;
        if !resp.status().is_success() {
            return self.finish("GET", path, Ok(resp)).map(|_| 0);
        }
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        std::io::copy(&mut reader, out).with_context(|| format!("GET {path}: download failed"))
    }

    fn finish(
        &self,
        method: &str,
        path: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut resp = r.with_context(|| {
            format!(
                "cannot reach the admin API at {} (is the broker running? check admin.bind, \
                 or give --url)",
                self.target.url
            )
        })?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(RESPONSE_BYTES_MAX)
            .read_to_string()
            .with_context(|| format!("{method} {path}: cannot read the answer"))?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .with_context(|| format!("{method} {path}: the answer is not JSON"));
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(text);
        Err(anyhow!("{message} (HTTP {status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("sensor-1_x.y~"), "sensor-1_x.y~");
        assert_eq!(seg("é"), "%C3%A9");
        assert_eq!(seg("::1"), "%3A%3A1");
    }
}
