//! Password hashes: argon2id for new hashes; verification also of the formats that imports
//! from EMQX and Mosquitto bring in.
//!
//! New hashes are argon2id with m = 4 MiB, t = 2, p = 1 ([`ARGON2_MEMORY_KIB`],
//! [`ARGON2_ITERATIONS`]): about 3.4 ms on one core, chosen for device credentials that are
//! verified on every cold CONNECT (the verifier caches them after). Any hash keeps verifying
//! with the parameters written in it; a stored argon2 hash asking more than
//! [`ARGON2_MEMORY_KIB_MAX`] or [`ARGON2_ITERATIONS_MAX`] is refused as malformed, so an
//! imported hash cannot make each verification a memory bomb.
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
//! | `$emqx$<sha\|sha256\|sha512>$<prefix\|suffix\|none>$<salt b64>$<hex>` | EMQX salted hash with a binary salt (`holdfast convert emqx`) |
//! | `$emqx-pbkdf2$<sha\|sha256\|sha512>$<iterations>$<salt b64>$<hex>` | EMQX PBKDF2-HMAC (derived key length: that of the hex) |

use argon2::password_hash::{PasswordHash, PasswordVerifier, SaltString};
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
    #[error(
        "{0} password hash asks more than this broker allows per verification (argon2: 64 MiB, 16 passes, 8 lanes; pbkdf2 and mosquitto $7$: 1,000,000 iterations; bcrypt: cost 14)"
    )]
    Costly(&'static str),
}

/// Memory cost of new argon2id hashes, in KiB.
pub const ARGON2_MEMORY_KIB: u32 = 4096;
/// Passes of new argon2id hashes.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Largest memory cost a stored argon2 hash may ask (64 MiB).
pub const ARGON2_MEMORY_KIB_MAX: u32 = 65_536;
/// Most passes a stored argon2 hash may ask.
pub const ARGON2_ITERATIONS_MAX: u32 = 16;
/// Most lanes a stored argon2 hash may ask.
pub const ARGON2_LANES_MAX: u32 = 8;

/// Most PBKDF2 iterations a stored hash may ask.
pub const PBKDF2_ITERATIONS_MAX: u32 = 1_000_000;
/// Largest bcrypt cost a stored hash may ask (2^14 rounds, about a second).
pub const BCRYPT_COST_MAX: u32 = 14;

fn argon2_params() -> argon2::Params {
    // Constant, valid parameters (argon2 accepts m >= 8 p, t >= 1, p >= 1).
    argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, 1, None).unwrap_or_default()
}

/// Argon2 work memory. Each buffer is allocated with a capacity above glibc's largest mmap
/// threshold (32 MiB on 64-bit), so that it is always a mapping of its own, unmapped when it is
/// dropped; only the pages a hash touches (its `m` KiB) are resident. Heap-allocated 4 MiB
/// blocks, as `Argon2::verify_password` makes them, were kept by glibc after their free: 300
/// concurrent wrong-password CONNECTs took the node from 19 to 165 MiB of RSS, for good.
const ARGON2_MAPPED_BLOCKS: usize = 33 * 1024;
/// During a run of verifications (a reconnect storm) the connection verifier reuses buffers
/// from this pool, at most [`ARGON2_POOLED_MAX`] of at most [`ARGON2_POOLED_KIB_MAX`], instead
/// of faulting in fresh pages for each; [`release_pooled_memory`] unmaps all but one once it
/// is idle.
const ARGON2_POOLED_MAX: usize = 16;
/// Largest buffer the pool keeps (20 MiB: the 19 MiB of hashes made before m = 4 MiB became
/// the default fit); a costlier stored hash gets memory of its own.
const ARGON2_POOLED_KIB_MAX: u32 = 20_480;

static ARGON2_POOL: std::sync::Mutex<Vec<Vec<argon2::Block>>> = std::sync::Mutex::new(Vec::new());

fn argon2_pool() -> std::sync::MutexGuard<'static, Vec<Vec<argon2::Block>>> {
    ARGON2_POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Unmap the pooled argon2 memory but one buffer, which the next cold CONNECT reuses (the
/// verifier calls this when no check is pending): a node that checks passwords keeps one
/// verification's memory (4 MiB at the default cost), one that does not keeps none.
pub fn release_pooled_memory() {
    let drained: Vec<_> = {
        let mut pool = argon2_pool();
        let keep = pool.len().min(1);
        pool.drain(keep..).collect()
    };
    drop(drained);
}

/// Verify against an argon2 PHC string with its own parameters (`p`).
fn argon2_verify(
    h: &PasswordHash<'_>,
    p: argon2::Params,
    pw: &[u8],
    pooled: bool,
) -> Result<bool, HashError> {
    fn malformed<E>(_: E) -> HashError {
        HashError::Malformed("argon2")
    }
    let (Some(want), Some(salt)) = (h.hash, h.salt) else {
        return Err(HashError::Malformed("argon2"));
    };
    let algorithm = argon2::Algorithm::try_from(h.algorithm).map_err(malformed)?;
    let version = match h.version {
        Some(v) => argon2::Version::try_from(v).map_err(malformed)?,
        None => argon2::Version::default(),
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(malformed)?;
    let blocks = p.block_count();
    let pooled = pooled && p.m_cost() <= ARGON2_POOLED_KIB_MAX;
    let argon = argon2::Argon2::new(algorithm, version, p);
    let mut got = vec![0u8; want.len()];
    with_argon2_memory(pooled, blocks, |memory| {
        argon.hash_password_into_with_memory(pw, salt, &mut got, memory)
    })
    .map_err(|_| HashError::Malformed("argon2"))?;
    Ok(bool::from(got.as_slice().ct_eq(want.as_bytes())))
}

/// Run `f` with at least `blocks` argon2 blocks of work memory: from the pool when `pooled`,
/// else mapped for this call and unmapped after it.
fn with_argon2_memory<R>(
    pooled: bool,
    blocks: usize,
    f: impl FnOnce(&mut [argon2::Block]) -> R,
) -> R {
    let mut memory = if pooled {
        argon2_pool().pop().unwrap_or_default()
    } else {
        Vec::new()
    };
    if memory.len() < blocks {
        if memory.capacity() < blocks.max(ARGON2_MAPPED_BLOCKS) {
            memory = Vec::with_capacity(blocks.max(ARGON2_MAPPED_BLOCKS));
        }
        memory.resize(blocks, argon2::Block::default());
    }
    let r = f(&mut memory[..]);
    if pooled {
        let mut pool = argon2_pool();
        if pool.len() < ARGON2_POOLED_MAX {
            pool.push(memory);
        }
    }
    r
}

/// Hash a new password with argon2id ([`ARGON2_MEMORY_KIB`], [`ARGON2_ITERATIONS`]) into a
/// PHC string.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let params = argon2_params();
    let blocks = params.block_count();
    let params_string = argon2::password_hash::ParamsString::try_from(&params)
        .expect("constant argon2 parameters print");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .expect("a generated salt decodes");
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    // In mapped memory, as verification is: hashing for each new user must not leave freed
    // 4 MiB blocks in the heap either.
    with_argon2_memory(false, blocks, |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, memory)
    })
    .expect("argon2 with constant parameters hashes any password");
    PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: params_string,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).expect("32 bytes is a valid output")),
    }
    .to_string()
}

/// Check that `hash` is a format this broker can verify.
pub fn validate(hash: &str) -> Result<(), HashError> {
    // Verifying against a dummy password parses the hash fully.
    verify(hash, "").map(|_| ())
}

/// Does `password` match `hash`? `Err` when the hash itself is unusable.
pub fn verify(hash: &str, password: &str) -> Result<bool, HashError> {
    verify_with(hash, password, false)
}

/// [`verify`], reusing pooled argon2 memory: for the connection verifier, which calls
/// [`release_pooled_memory`] when it is idle.
pub fn verify_pooled(hash: &str, password: &str) -> Result<bool, HashError> {
    verify_with(hash, password, true)
}

fn verify_with(hash: &str, password: &str, pooled: bool) -> Result<bool, HashError> {
    let pw = password.as_bytes();
    if hash.starts_with("$argon2") {
        let h = PasswordHash::new(hash).map_err(|_| HashError::Malformed("argon2"))?;
        if h.hash.is_none() || h.salt.is_none() {
            return Err(HashError::Malformed("argon2"));
        }
        let p = argon2::Params::try_from(&h).map_err(|_| HashError::Malformed("argon2"))?;
        if p.m_cost() > ARGON2_MEMORY_KIB_MAX
            || p.t_cost() > ARGON2_ITERATIONS_MAX
            || p.p_cost() > ARGON2_LANES_MAX
        {
            return Err(HashError::Costly("argon2"));
        }
        return argon2_verify(&h, p, pw, pooled);
    }
    if hash.starts_with("$pbkdf2") {
        let h = PasswordHash::new(hash).map_err(|_| HashError::Malformed("pbkdf2"))?;
        if h.hash.is_none() || h.salt.is_none() {
            return Err(HashError::Malformed("pbkdf2"));
        }
        let rounds = h.params.get_decimal("i").unwrap_or(0);
        if rounds > PBKDF2_ITERATIONS_MAX {
            return Err(HashError::Costly("pbkdf2"));
        }
        return Ok(pbkdf2::Pbkdf2.verify_password(pw, &h).is_ok());
    }
    if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
        let cost: u32 = hash
            .get(4..6)
            .and_then(|c| c.parse().ok())
            .ok_or(HashError::Malformed("bcrypt"))?;
        if cost > BCRYPT_COST_MAX {
            return Err(HashError::Costly("bcrypt"));
        }
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
        if iter > PBKDF2_ITERATIONS_MAX {
            return Err(HashError::Costly("mosquitto $7$"));
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
    if let Some(rest) = hash.strip_prefix("$emqx$") {
        return emqx_salted(rest, pw);
    }
    if let Some(rest) = hash.strip_prefix("$emqx-pbkdf2$") {
        return emqx_pbkdf2(rest, pw);
    }
    Err(HashError::UnknownFormat)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Exactly four `$`-separated fields, or `None`.
fn four_fields(rest: &str) -> Option<[&str; 4]> {
    let mut parts = rest.split('$');
    let fields = [parts.next()?, parts.next()?, parts.next()?, parts.next()?];
    parts.next().is_none().then_some(fields)
}

/// `$emqx$<alg>$<position>$<salt b64>$<hex>`: EMQX's `hash_data(alg, salt ‖ pw | pw ‖ salt | pw)`.
fn emqx_salted(rest: &str, pw: &[u8]) -> Result<bool, HashError> {
    const WHAT: &str = "emqx salted";
    let [alg, pos, salt, want] = four_fields(rest).ok_or(HashError::Malformed(WHAT))?;
    let salt = STANDARD
        .decode(salt)
        .map_err(|_| HashError::Malformed(WHAT))?;
    let want = unhex(want).ok_or(HashError::Malformed(WHAT))?;
    let input: Vec<u8> = match pos {
        "prefix" => [salt.as_slice(), pw].concat(),
        "suffix" => [pw, salt.as_slice()].concat(),
        "none" => pw.to_vec(),
        _ => return Err(HashError::Malformed(WHAT)),
    };
    let got: Vec<u8> = match alg {
        "sha" => sha1::Sha1::digest(&input).to_vec(),
        "sha256" => Sha256::digest(&input).to_vec(),
        "sha512" => Sha512::digest(&input).to_vec(),
        _ => return Err(HashError::Malformed(WHAT)),
    };
    if got.len() != want.len() {
        return Err(HashError::Malformed(WHAT));
    }
    Ok(bool::from(got.as_slice().ct_eq(&want)))
}

/// `$emqx-pbkdf2$<mac>$<iterations>$<salt b64>$<hex>`: EMQX's `pbkdf2_hmac(mac, pw, salt, i, len)`.
fn emqx_pbkdf2(rest: &str, pw: &[u8]) -> Result<bool, HashError> {
    const WHAT: &str = "emqx pbkdf2";
    let [mac, iter, salt, want] = four_fields(rest).ok_or(HashError::Malformed(WHAT))?;
    let iter: u32 = iter.parse().map_err(|_| HashError::Malformed(WHAT))?;
    if iter == 0 {
        return Err(HashError::Malformed(WHAT));
    }
    if iter > PBKDF2_ITERATIONS_MAX {
        return Err(HashError::Costly(WHAT));
    }
    let salt = STANDARD
        .decode(salt)
        .map_err(|_| HashError::Malformed(WHAT))?;
    let want = unhex(want).ok_or(HashError::Malformed(WHAT))?;
    if want.is_empty() || want.len() > 128 {
        return Err(HashError::Malformed(WHAT));
    }
    let mut got = vec![0u8; want.len()];
    match mac {
        "sha" => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(pw, &salt, iter, &mut got),
        "sha256" => pbkdf2::pbkdf2_hmac::<Sha256>(pw, &salt, iter, &mut got),
        "sha512" => pbkdf2::pbkdf2_hmac::<Sha512>(pw, &salt, iter, &mut got),
        _ => return Err(HashError::Malformed(WHAT)),
    }
    Ok(bool::from(got.as_slice().ct_eq(&want)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[test]
    fn costly_stored_hashes_are_refused_and_old_defaults_still_verify() {
        let salt = SaltString::from_b64("c2FsdHNhbHQ").expect("salt");
        let hash_with = |m, t| {
            argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon2::Params::new(m, t, 1, None).expect("params"),
            )
            .hash_password(b"pw", &salt)
            .expect("hash")
            .to_string()
        };
        // The crate's defaults (19 MiB, 2 passes), which older versions wrote.
        let old = hash_with(19_456, 2);
        assert_eq!(verify(&old, "pw"), Ok(true));
        assert_eq!(verify(&old, "px"), Ok(false));
        let bomb = old.replace("m=19456", "m=4194304");
        assert_eq!(verify(&bomb, "pw"), Err(HashError::Costly("argon2")));
        let slow = old.replace("t=2", "t=1000");
        assert_eq!(verify(&slow, "pw"), Err(HashError::Costly("argon2")));
        assert_eq!(
            verify("$7$100000000$c2FsdA==$aGFzaA==", "pw"),
            Err(HashError::Costly("mosquitto $7$"))
        );
        assert_eq!(
            verify(
                "$2b$31$abcdefghijklmnopqrstuu5Fh6Ca5vUgLdvFpgDHw1kHnxmC.JRW",
                "pw"
            ),
            Err(HashError::Costly("bcrypt"))
        );
    }

    /// Pooled memory is reused without being cleared; every answer must still be the
    /// crate's own, for new hashes and for other argon2 variants and parameters.
    #[test]
    fn pooled_argon2_verification_agrees_with_the_crate() {
        let mut hashes = vec![hash("pw-0"), hash("pw-1")];
        for (alg, m, t, p) in [
            (argon2::Algorithm::Argon2i, 256, 3, 2),
            (argon2::Algorithm::Argon2d, 64, 1, 1),
            (argon2::Algorithm::Argon2id, 19_456, 2, 1),
        ] {
            let params = argon2::Params::new(m, t, p, Some(24)).expect("params");
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            let a = argon2::Argon2::new(alg, argon2::Version::V0x13, params);
            hashes.push(a.hash_password(b"pw-2", &salt).expect("hash").to_string());
        }
        for h in &hashes {
            let parsed = PasswordHash::new(h).expect("phc");
            for pw in ["pw-0", "pw-1", "pw-2", ""] {
                let crate_says = argon2::Argon2::default()
                    .verify_password(pw.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(verify(h, pw), Ok(crate_says), "{h} {pw:?}");
                assert_eq!(verify_pooled(h, pw), Ok(crate_says), "pooled: {h} {pw:?}");
            }
        }
        assert_eq!(verify(&hashes[0], "pw-0"), Ok(true));
        assert_eq!(verify(&hashes[4], "pw-2"), Ok(true));
        release_pooled_memory();
        assert!(argon2_pool().len() <= 1);
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash("s3cret");
        assert!(h.starts_with("$argon2id$v=19$m=4096,t=2,p=1$"), "{h}");
        assert_eq!(verify(&h, "s3cret"), Ok(true));
        assert_eq!(verify(&h, "wrong"), Ok(false));
        // The crate itself accepts what the pooled hasher wrote.
        let parsed = PasswordHash::new(&h).expect("phc");
        assert!(
            argon2::Argon2::default()
                .verify_password(b"s3cret", &parsed)
                .is_ok()
        );
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
    fn emqx_salted_and_pbkdf2_verify() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        // A binary salt, as EMQX 4.x writes (4 random bytes, here with a '$' in them).
        let salt = [0x24u8, 0xff, 0x00, 0x10];
        let b64 = STANDARD.encode(salt);
        let pre = hex(&Sha256::digest([&salt[..], b"pw"].concat()));
        let h = format!("$emqx$sha256$prefix${b64}${pre}");
        assert_eq!(verify(&h, "pw"), Ok(true));
        assert_eq!(verify(&h, "px"), Ok(false));
        let suf = hex(&Sha512::digest([&b"pw"[..], &salt[..]].concat()));
        assert_eq!(
            verify(&format!("$emqx$sha512$suffix${b64}${suf}"), "pw"),
            Ok(true)
        );
        let plain1 = hex(&sha1::Sha1::digest(b"pw"));
        assert_eq!(verify(&format!("$emqx$sha$none$${plain1}"), "pw"), Ok(true));
        assert_eq!(
            verify(&format!("$emqx$md4$none$${plain1}"), "pw"),
            Err(HashError::Malformed("emqx salted"))
        );
        let mut dk = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"pw", b"salt", 7, &mut dk);
        let p = format!(
            "$emqx-pbkdf2$sha256$7${}${}",
            STANDARD.encode(b"salt"),
            hex(&dk)
        );
        assert_eq!(verify(&p, "pw"), Ok(true));
        assert_eq!(verify(&p, "pX"), Ok(false));
        assert_eq!(
            verify("$emqx-pbkdf2$sha256$9999999$c2FsdA==$00", "pw"),
            Err(HashError::Costly("emqx pbkdf2"))
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
