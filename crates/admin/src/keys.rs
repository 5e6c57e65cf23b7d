//! API keys: roles, generation and the `<key_id>.<secret>` token format.
//!
//! A key id is 16 hex digits and names the key in the `api_keys` table (it is not secret); the
//! secret is 64 hex digits (32 random bytes) and only its argon2id hash is stored. The secret
//! is shown once, when the key is created.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every endpoint, reads and writes.
    Admin,
    /// Reads only (`GET`); any write is refused with 403.
    Viewer,
}

impl Role {
    /// The stored `ApiKeyRecord::role` value.
    pub fn to_record(self) -> u8 {
        match self {
            Role::Admin => 0,
            Role::Viewer => 1,
        }
    }

    /// The role of a stored record; unknown values get the least power.
    pub fn from_record(v: u8) -> Role {
        match v {
            0 => Role::Admin,
            _ => Role::Viewer,
        }
    }
}

/// Length of a key id, in hex digits.
pub const KEY_ID_CHARS: usize = 16;
/// Length of a secret, in hex digits.
pub const SECRET_CHARS: usize = 64;

/// A freshly generated key: its id and its secret (to show once, then forget).
#[derive(Debug)]
pub struct NewKey {
    pub key_id: String,
    pub secret: String,
}

impl NewKey {
    /// A random key id and secret from the OS-seeded CSPRNG.
    pub fn generate() -> NewKey {
        let id: [u8; KEY_ID_CHARS / 2] = rand::random();
        let secret: [u8; SECRET_CHARS / 2] = rand::random();
        NewKey {
            key_id: hex(&id),
            secret: hex(&secret),
        }
    }

    /// The bearer token: `<key_id>.<secret>`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.key_id, self.secret)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Split a bearer token into key id and secret. `None` when it is not `<key_id>.<secret>`.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back() {
        let k = NewKey::generate();
        assert_eq!(k.key_id.len(), KEY_ID_CHARS);
        assert_eq!(k.secret.len(), SECRET_CHARS);
        let token = k.token();
        assert_eq!(
            parse_token(&token),
            Some((k.key_id.as_str(), k.secret.as_str()))
        );
        assert_eq!(parse_token("nodot"), None);
        assert_eq!(parse_token(".secret"), None);
        assert_eq!(parse_token("id."), None);
    }

    #[test]
    fn roles_round_trip_and_unknown_is_viewer() {
        for r in [Role::Admin, Role::Viewer] {
            assert_eq!(Role::from_record(r.to_record()), r);
        }
        assert_eq!(Role::from_record(7), Role::Viewer);
    }
}
