//! A blocking HTTP client for the admin API tests: any method, raw or JSON body, optional
//! bearer key; answers are `(status, JSON)` whatever the status.

use std::time::Duration;

use serde_json::Value;

/// One answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub content_type: String,
    pub www_authenticate: Option<String>,
}

impl Answer {
    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Value {
        if self.body.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.body))
    }

    /// Asserts a JSON error answer with `status` whose message contains `needle`.
    #[track_caller]
    pub fn assert_err(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.content_type.starts_with("application/json"),
            "{self:?}"
        );
        let msg = self.error();
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    }

    /// The `error` message of an error answer.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {}", self.body))
            .to_string()
    }
}

/// A broker with its admin API, and a client holding the bootstrap key.
pub fn start_admin() -> (super::Broker, Http) {
    let b = super::Broker::start_with_admin(&[], None);
    let api = Http::new(&b.admin_url(), Some(&b.admin_key()));
    (b, api)
}

/// The admin API of one broker.
#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub key: Option<String>,
    agent: ureq::Agent,
}

impl Http {
    pub fn new(base: &str, key: Option<&str>) -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Http {
            base: base.to_string(),
            key: key.map(str::to_string),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// The same API with another key (or none).
    pub fn with_key(&self, key: Option<&str>) -> Http {
        Http::new(&self.base, key)
    }

    /// Send `method path` with an optional raw body (sent as `content_type`).
    pub fn raw(&self, method: &str, path: &str, body: Option<(&str, &str)>) -> Answer {
        let uri = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(uri);
        if let Some(k) = &self.key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let resp = match body {
            Some((content_type, text)) => {
                let req = req
                    .header("Content-Type", content_type)
                    .body(text.to_string())
                    .expect("request");
                self.agent.run(req)
            }
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let www_authenticate = header("www-authenticate");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("body");
        Answer {
            status,
            body,
            content_type,
            www_authenticate,
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.raw("GET", path, None)
    }

    pub fn delete(&self, path: &str) -> Answer {
        self.raw("DELETE", path, None)
    }

    /// `method path` with a JSON body.
    pub fn send(&self, method: &str, path: &str, body: &Value) -> Answer {
        self.raw(method, path, Some(("application/json", &body.to_string())))
    }

    /// `GET path`, asserting 200; the JSON body.
    pub fn ok(&self, path: &str) -> Value {
        let a = self.get(path);
        assert_eq!(a.status, 200, "GET {path}: {}", a.body);
        a.json()
    }
}
