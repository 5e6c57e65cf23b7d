//! Password hashes: argon2id for new hashes; verification also of the formats that imports
//! from EMQX and Mosquitto bring in.
//!
//! | prefix | scheme |
//! |---|---|
//! | `$argon2id$`, `$argon2i$`, `$argon2d$` | Argon2 PHC string (default for new users) |
//! | `$pbkdf2-sha256$`, `$pbkdf2-sha512$`, `$pbkdf2$` | PBKDF2 PHC string |
//! | `$2a$`, `$2b$`, `$2y$` | bcrypt |
//! | `$7$<iterations>$<salt b64>$<hash b64>` | Mosquitto `mosquitto_passwd`: PBKDF2-HMAC-SHA512 |
//! | `$6$<salt b64>$<hash b64>` | Mosquitto legacy: SHA-512(password ‖ salt) |
//! | `$sha256-prefix$<salt>$<hex>` | EMQX salted SHA-256, SHA-256(salt ‖ password) |
//! | `$sha256-suffix$<salt>$<hex>` | EMQX salted SHA-256, SHA-256(password ‖ salt) |

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Why a hash could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error(
        "unknown password hash format (expected argon2, pbkdf2, bcrypt, mosquitto $6$/$7$ or $sha256-prefix$/$sha256-suffix$)"
    )]
    UnknownFormat,
    #[error("malformed {0} password hash")]
    Malformed(&'static str),
}

/// Hash a new password with argon2id (default parameters) into a PHC string.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .expect("argon2 with default parameters hashes any password")
}

/// Check that `hash` is a format this broker can verify.
pub fn validate(hash: &str) -> Result<(), HashError> {
    // Verifying against a dummy password parses the hash fully.
    verify(hash, "").map(|_| ())
}

/// Does `password` match `hash`? `Err` when the hash itself is unusable.
pub fn verify(hash: &str, password: &str) -> Result<bool, HashError> {
    let pw = password.as_bytes();
    if hash.starts_with("$argon2") {
        let h = PasswordHash::new(hash).map_err(|_| HashError::Malformed("argon2"))?;
        if h.hash.is_none() || h.salt.is_none() {
            return Err(HashError::Malformed("argon2"));
        }
        return Ok(argon2::Argon2::default().verify_password(pw, &h).is_ok());
    }
    if hash.starts_with("$pbkdf2") {
        let h = PasswordHash::new(hash).map_err(|_| HashError::Malformed("pbkdf2"))?;
        if h.hash.is_none() || h.salt.is_none() {
            return Err(HashError::Malformed("pbkdf2"));
        }
        return Ok(pbkdf2::Pbkdf2.verify_password(pw, &h).is_ok());
    }
    if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
        return bcrypt::verify(password, hash).map_err(|_| HashError::Malformed("bcrypt"));
    }
    if let Some(rest) = hash.strip_prefix("$7$") {
        let mut parts = rest.split('$');
        let (Some(iter), Some(salt), Some(want), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HashError::Malformed("mosquitto $7$"));
        };
        let iter: u32 = iter
            .parse()
            .map_err(|_| HashError::Malformed("mosquitto $7$"))?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| HashError::Malformed("mosquitto $7$"))?;
        let want = STANDARD
            .decode(want)
            .map_err(|_| HashError::Malformed("mosquitto $7$"))?;
        if want.is_empty() || want.len() > 64 || iter == 0 {
            return Err(HashError::Malformed("mosquitto $7$"));
        }
        let mut got = vec![0u8; want.len()];
        pbkdf2::pbkdf2_hmac::<Sha512>(pw, &salt, iter, &mut got);
        return Ok(bool::from(got.ct_eq(&want)));
    }
    if let Some(rest) = hash.strip_prefix("$6$") {
        let (salt, want) = rest
            .split_once('$')
            .ok_or(HashError::Malformed("mosquitto $6$"))?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| HashError::Malformed("mosquitto $6$"))?;
        let want = STANDARD
            .decode(want)
            .map_err(|_| HashError::Malformed("mosquitto $6$"))?;
        let got = Sha512::new()
            .chain_update(pw)
            .chain_update(&salt)
            .finalize();
        return Ok(bool::from(got.as_slice().ct_eq(&want)));
    }
    for (prefix, salt_first) in [("$sha256-prefix$", true), ("$sha256-suffix$", false)] {
        if let Some(rest) = hash.strip_prefix(prefix) {
            let (salt, want) = rest
                .rsplit_once('$')
                .ok_or(HashError::Malformed("salted sha256"))?;
            if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(HashError::Malformed("salted sha256"));
            }
            let mut d = Sha256::new();
            if salt_first {
                d.update(salt.as_bytes());
                d.update(pw);
            } else {
                d.update(pw);
                d.update(salt.as_bytes());
            }
            let got: String = d.finalize().iter().map(|b| format!("{b:02x}")).collect();
            return Ok(bool::from(
                got.as_bytes().ct_eq(want.to_ascii_lowercase().as_bytes()),
            ));
        }
    }
    Err(HashError::UnknownFormat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[test]
    fn argon2id_round_trip() {
        let h = hash("s3cret");
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(verify(&h, "s3cret"), Ok(true));
        assert_eq!(verify(&h, "wrong"), Ok(false));
    }

    #[test]
    fn pbkdf2_and_bcrypt_verify() {
        let salt = SaltString::from_b64("c2FsdHNhbHQ").expect("salt");
        let p = pbkdf2::Pbkdf2
            .hash_password_customized(
                b"pw",
                Some(pbkdf2::Algorithm::Pbkdf2Sha256.ident()),
                None,
                pbkdf2::Params {
                    rounds: 1000,
                    output_length: 32,
                },
                &salt,
            )
            .expect("hash")
            .to_string();
        assert!(p.starts_with("$pbkdf2-sha256$"), "{p}");
        assert_eq!(verify(&p, "pw"), Ok(true));
        assert_eq!(verify(&p, "px"), Ok(false));
        let b = bcrypt::hash("pw", 4).expect("bcrypt");
        assert_eq!(verify(&b, "pw"), Ok(true));
        assert_eq!(verify(&b, "no"), Ok(false));
    }

    #[test]
    fn mosquitto_formats_verify() {
        // $7$: PBKDF2-HMAC-SHA512, as mosquitto_passwd writes it.
        let salt = b"0123456789abcdef";
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(b"pw", salt, 101, &mut out);
        let h7 = format!("$7$101${}${}", STANDARD.encode(salt), STANDARD.encode(out));
        assert_eq!(verify(&h7, "pw"), Ok(true));
        assert_eq!(verify(&h7, "pX"), Ok(false));
        let d = Sha512::new()
            .chain_update(b"pw")
            .chain_update(salt)
            .finalize();
        let h6 = format!("$6${}${}", STANDARD.encode(salt), STANDARD.encode(d));
        assert_eq!(verify(&h6, "pw"), Ok(true));
        assert_eq!(verify(&h6, "p"), Ok(false));
    }

    #[test]
    fn salted_sha256_both_positions() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let pre = hex(&Sha256::new()
            .chain_update(b"SALT")
            .chain_update(b"pw")
            .finalize());
        let suf = hex(&Sha256::new()
            .chain_update(b"pw")
            .chain_update(b"SALT")
            .finalize());
        assert_eq!(
            verify(&format!("$sha256-prefix$SALT${pre}"), "pw"),
            Ok(true)
        );
        assert_eq!(
            verify(&format!("$sha256-suffix$SALT${suf}"), "pw"),
            Ok(true)
        );
        assert_eq!(
            verify(&format!("$sha256-suffix$SALT${pre}"), "pw"),
            Ok(false)
        );
    }

    #[test]
    fn unusable_hashes_are_errors() {
        assert_eq!(verify("plain", "x"), Err(HashError::UnknownFormat));
        assert_eq!(
            validate("$7$abc$x$y"),
            Err(HashError::Malformed("mosquitto $7$"))
        );
        assert!(validate("$argon2id$garbage").is_err());
    }
}
