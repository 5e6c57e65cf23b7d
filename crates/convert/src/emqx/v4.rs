//! EMQX 4.x `emqx_ctl data export` JSON (4.0 to 4.4): `auth_mnesia` (and 4.0 to 4.2
//! `auth_clientid` / `auth_username`), `acl_mnesia`, `blacklist`, `apps`. Everything else
//! (rules, resources, modules, schemas, dashboard users) goes to the report.
//!
//! Passwords: the export holds base64 of what EMQX stored, which is either the bare hex hash
//! of the password (as long as the hash's hex) or a 4-byte salt followed by the hex hash of
//! salt ‖ password, with the hash named by the `mnesia_authentication` module's
//! `password_hash` (sha256 by default). Both become `$emqx$` hashes Holdfast verifies.
//!
//! ACL: EMQX 4 checks a client's `clientid` rules, then its `username` rules, then the
//! `all` rules, each in the order stored; the first match decides. Written in that order:
//! every clientid rule, every username rule, every `all` rule.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use holdfast_store::Command;
use holdfast_store::records::{ApiKeyRecord, BannedRecord, UserRecord};
use serde_json::Value;

use crate::acl::{AclBuilder, BOTH, PUBLISH, SUBSCRIBE, WHO_ALL, WHO_CLIENT, WHO_USER, now_ms};
use crate::{ConvertError, ForeignSource, Report, Sink};

const WHAT: &str = "EMQX 4.x JSON export";
/// Keys with no Holdfast meaning, reported as a whole when not empty.
const REPORTED: [(&str, &str); 7] = [
    (
        "rules",
        "EMQX rule engine rules: Holdfast has no rule engine",
    ),
    (
        "resources",
        "rule engine resources (webhooks, bridges): no Holdfast equivalent",
    ),
    ("modules", "EMQX modules: no Holdfast equivalent"),
    ("schemas", "schema registry: no Holdfast equivalent"),
    (
        "users",
        "dashboard users: Holdfast's admin API uses API keys, not users",
    ),
    ("configs", "EMQX configs: no Holdfast equivalent"),
    (
        "listeners_state",
        "listener state: set listeners in holdfast.toml",
    ),
];

/// A parsed 4.x export.
#[derive(Debug)]
pub struct V4 {
    file: String,
    json: serde_json::Map<String, Value>,
}

/// Is this the start of a 4.x JSON export? (A JSON object, not gzip.)
pub fn looks_like(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

pub fn parse(file: &str, bytes: &[u8]) -> Result<V4, ConvertError> {
    let json: Value = serde_json::from_slice(bytes).map_err(|e| {
        ConvertError::corrupt(
            file,
            format!("line {} column {}", e.line(), e.column()),
            WHAT,
            e.to_string(),
        )
    })?;
    let Value::Object(json) = json else {
        return Err(ConvertError::corrupt(
            file,
            "top level",
            WHAT,
            "not a JSON object",
        ));
    };
    match json.get("version").and_then(Value::as_str) {
        Some(v) if v.starts_with("4.") => {}
        other => {
            return Err(ConvertError::Unsupported(format!(
                "{file}: EMQX export version {other:?}; 4.0 to 4.4 JSON exports are read"
            )));
        }
    }
    Ok(V4 {
        file: file.to_string(),
        json,
    })
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn hex_len(alg: &str) -> Option<usize> {
    match alg {
        "sha" => Some(40),
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    }
}

/// The Holdfast hash for what EMQX 4 stored, or why there is none.
pub(crate) fn v4_hash(alg: &str, stored: &[u8]) -> Result<String, String> {
    let Some(n) = hex_len(alg) else {
        return Err(format!(
            "hash algorithm {alg}: Holdfast verifies sha, sha256 and sha512 EMQX hashes"
        ));
    };
    let is_hex = |b: &[u8]| b.iter().all(u8::is_ascii_hexdigit);
    if stored.len() == n && is_hex(stored) {
        let hex = String::from_utf8_lossy(stored).to_ascii_lowercase();
        return Ok(format!("$emqx${alg}$none$${hex}"));
    }
    if stored.len() == 4 + n && is_hex(&stored[4..]) {
        let hex = String::from_utf8_lossy(&stored[4..]).to_ascii_lowercase();
        return Ok(format!(
            "$emqx${alg}$prefix${}${hex}",
            STANDARD.encode(&stored[..4])
        ));
    }
    Err(format!(
        "the stored password ({} bytes) is not a {alg} hash, bare or after a 4-byte salt: EMQX \
         could not verify it either",
        stored.len()
    ))
}

impl ForeignSource for V4 {
    fn describe(&self) -> String {
        format!(
            "emqx {}",
            self.json
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or("4")
        )
    }

    fn read(&mut self, sink: &mut Sink<'_>, report: &mut Report) -> Result<(), ConvertError> {
        let file = self.file.clone();
        let file = file.as_str();
        let list = |key: &str| -> Result<Vec<Value>, ConvertError> {
            match self.json.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => Ok(a.clone()),
                Some(_) => Err(ConvertError::corrupt(file, key, WHAT, "not a list")),
            }
        };
        let bad = |key: &str, i: usize, why: &str| {
            ConvertError::corrupt(file, format!("{key}[{i}]"), WHAT, why)
        };
        let now = now_ms();
        // The password hash: the mnesia_authentication module's, else EMQX's default.
        let alg = list("modules")?
            .iter()
            .find(|m| text(m, "type") == Some("mnesia_authentication"))
            .and_then(|m| m.get("config").and_then(|c| text(c, "password_hash")))
            .unwrap_or("sha256")
            .to_string();
        let mut users: Vec<(String, String, Vec<u8>, bool)> = Vec::new();
        for key in ["auth_mnesia", "auth_clientid", "auth_username"] {
            for (i, u) in list(key)?.iter().enumerate() {
                let login = text(u, "login")
                    .or_else(|| text(u, "clientid"))
                    .or_else(|| text(u, "username"))
                    .ok_or_else(|| bad(key, i, "no login"))?;
                let kind = match (key, text(u, "type")) {
                    ("auth_clientid", _) | (_, Some("clientid")) => "clientid",
                    _ => "username",
                };
                let pw = text(u, "password").ok_or_else(|| bad(key, i, "no password"))?;
                let stored = STANDARD
                    .decode(pw)
                    .map_err(|_| bad(key, i, "password is not base64"))?;
                let superuser = u
                    .get("is_superuser")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                users.push((format!("{kind} {login}"), kind.into(), stored, superuser));
                let _ = login;
            }
        }
        for (name, kind, stored, superuser) in users {
            let login = name
                .split_once(' ')
                .map(|(_, l)| l)
                .unwrap_or(&name)
                .to_string();
            if kind == "clientid" {
                report.not_carried(
                    file,
                    format!("auth {name}"),
                    "authentication by client id and password: Holdfast authenticates \
                     usernames only (make it a user, and have the client send it as its username)",
                );
                continue;
            }
            match v4_hash(&alg, &stored) {
                Ok(hash) => {
                    sink(Command::PutUser {
                        username: login,
                        rec: UserRecord {
                            password_hash: hash,
                            superuser,
                            created_at_ms: now,
                        },
                    })?;
                    report.carried(file, "users");
                }
                Err(why) => report.not_carried(file, format!("auth {name}"), why),
            }
        }
        // ACL: clientid rules, username rules, then `all`.
        let mut acl = AclBuilder::default();
        let acls = list("acl_mnesia")?;
        let mut rules: Vec<(u8, String, bool, u8, String)> = Vec::new();
        for (i, a) in acls.iter().enumerate() {
            let topic = text(a, "topic").ok_or_else(|| bad("acl_mnesia", i, "no topic"))?;
            let (who_kind, who) = match (text(a, "type"), text(a, "type_value"), text(a, "login")) {
                (Some("clientid"), Some(v), _) => (WHO_CLIENT, v),
                (Some("username"), Some(v), _) => (WHO_USER, v),
                (Some("all"), _, _) | (None, None, None) => (WHO_ALL, ""),
                // 4.2 and older: `login` with the kind the auth plugin was set to (username
                // by default).
                (None, _, Some(l)) => (WHO_USER, l),
                _ => return Err(bad("acl_mnesia", i, "unknown rule subject")),
            };
            let allow = match (text(a, "access"), a.get("allow")) {
                (Some("allow"), _) => true,
                (Some("deny"), _) => false,
                (None, Some(Value::Bool(b))) => *b,
                (None, Some(Value::String(s))) => s == "true",
                _ => return Err(bad("acl_mnesia", i, "no access")),
            };
            let action = match text(a, "action") {
                Some("pub") | Some("publish") => PUBLISH,
                Some("sub") | Some("subscribe") => SUBSCRIBE,
                Some("pubsub") | Some("all") => BOTH,
                _ => return Err(bad("acl_mnesia", i, "unknown action")),
            };
            rules.push((who_kind, who.to_string(), allow, action, topic.to_string()));
        }
        for kind in [WHO_CLIENT, WHO_USER, WHO_ALL] {
            for (k, who, allow, action, topic) in rules.iter().filter(|r| r.0 == kind) {
                let topic = topic
                    .replace("%u", "${username}")
                    .replace("%c", "${clientid}");
                sink(acl.rule(*k, who, *allow, *action, &topic))?;
                report.carried(file, "acl");
            }
        }
        for (i, b) in list("blacklist")?.iter().enumerate() {
            let who = b.get("who").ok_or_else(|| bad("blacklist", i, "no who"))?;
            let (kind, value) = if let Some(c) = text(who, "clientid") {
                (0u8, c)
            } else if let Some(u) = text(who, "username") {
                (1, u)
            } else if let Some(p) = text(who, "peerhost") {
                (2, p)
            } else {
                return Err(bad(
                    "blacklist",
                    i,
                    "who is not clientid, username or peerhost",
                ));
            };
            let secs = |k: &str| b.get(k).and_then(Value::as_u64);
            sink(Command::PutBanned {
                kind,
                value: value.to_string(),
                rec: BannedRecord {
                    reason: text(b, "reason").map(str::to_string),
                    expires_at_ms: secs("until").map(|s| s * 1000),
                    created_at_ms: secs("at").map(|s| s * 1000).unwrap_or(now),
                },
            })?;
            report.carried(file, "banned");
        }
        for (i, a) in list("apps")?.iter().enumerate() {
            let id = text(a, "id").ok_or_else(|| bad("apps", i, "no id"))?;
            let secret = text(a, "secret").ok_or_else(|| bad("apps", i, "no secret"))?;
            if id.contains('.') || id.is_empty() {
                report.not_carried(
                    file,
                    format!("app {id}"),
                    "a key id with '.' cannot be presented as <key_id>.<secret>",
                );
                continue;
            }
            if a.get("status").and_then(Value::as_bool) == Some(false) {
                report.not_carried(file, format!("app {id}"), "disabled");
                continue;
            }
            // 4.x exports the secret itself; Holdfast keeps only a hash of it.
            let salt: [u8; 16] = rand_salt();
            let mut dk = [0u8; 32];
            pbkdf2_sha256(secret.as_bytes(), &salt, &mut dk);
            sink(Command::PutApiKey {
                key_id: id.to_string(),
                rec: ApiKeyRecord {
                    name: text(a, "name").unwrap_or(id).to_string(),
                    secret_hash: format!(
                        "$emqx-pbkdf2$sha256${PBKDF2_ROUNDS}${}${}",
                        STANDARD.encode(salt),
                        dk.iter().map(|b| format!("{b:02x}")).collect::<String>()
                    ),
                    role: 0,
                    expires_at_ms: a.get("expired").and_then(Value::as_u64).map(|s| s * 1000),
                    created_at_ms: now,
                },
            })?;
            report.mapped(
                file,
                format!("app {id}"),
                "an admin API key: present it as `Authorization: Bearer <id>.<secret>` (EMQX took \
                 HTTP Basic); its secret is kept as a PBKDF2 hash",
            );
        }
        for (key, why) in REPORTED {
            if let Some(Value::Array(a)) = self.json.get(key) {
                for (i, item) in a.iter().enumerate() {
                    let name = text(item, "id")
                        .or_else(|| text(item, "username"))
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string());
                    report.not_carried(file, format!("{key} {name}"), why);
                }
            }
        }
        Ok(())
    }
}

/// PBKDF2 rounds for API-key secrets kept from a 4.x export.
const PBKDF2_ROUNDS: u32 = 10_000;

fn rand_salt() -> [u8; 16] {
    let mut s = [0u8; 16];
    // Not secret, only unique: time and a per-process counter are enough for a salt.
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    s[..8].copy_from_slice(&t.to_le_bytes());
    s[8..].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    s
}

fn pbkdf2_sha256(pw: &[u8], salt: &[u8], out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw, salt, PBKDF2_ROUNDS, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_server::auth::password;

    #[test]
    fn stored_passwords_become_verifiable_hashes() {
        use sha2::Digest;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let salt = [1u8, b'$', 0, 255];
        let mut stored = salt.to_vec();
        stored.extend(hex(&sha2::Sha256::digest([&salt[..], b"pw"].concat())).into_bytes());
        let h = v4_hash("sha256", &stored).expect("salted");
        assert_eq!(password::verify(&h, "pw"), Ok(true));
        assert_eq!(password::verify(&h, "no"), Ok(false));
        let bare = hex(&sha2::Sha256::digest(b"pw")).into_bytes();
        assert_eq!(
            password::verify(&v4_hash("sha256", &bare).expect("bare"), "pw"),
            Ok(true)
        );
        assert!(v4_hash("sha256", &stored[..20]).is_err());
        assert!(v4_hash("md5", &stored).is_err());
    }
}
