//! Checking MQTT passwords without letting CONNECTs exhaust memory or CPU, or tell which
//! usernames exist.
//!
//! - **Bounded concurrency.** At most [`Verifier::concurrency`] hash verifications run at
//!   once (the number of cores); later CONNECTs wait in line within the connect timeout, so
//!   the memory of a storm is that many hashes' worth (4 MiB each for new argon2id hashes),
//!   whatever the number of connections.
//! - **A cache of verified credentials.** Keyed by a keyed BLAKE3 hash (a random key per
//!   process, never stored) of the username, the stored hash and the password, so a
//!   reconnecting device costs one BLAKE3 hash instead of a password hash. An entry is bound
//!   to the stored hash: changing the user's password or deleting the user makes it useless at
//!   once, and [`Verifier::forget_user`] drops it.
//! - **The same work for unknown usernames.** An unknown username is verified against a
//!   dummy hash of the current parameters, so its answer takes as long as a wrong password.
//! - **Counted failures**: `holdfast_auth_failures_total` in `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use super::password;

/// Most cached credentials; at the limit the cache starts again empty.
pub const CACHE_ENTRIES_MAX: usize = 100_000;

/// Why a CONNECT's credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown user or wrong password.
    BadCredentials,
    /// No verification slot freed up in time (a connect storm).
    Busy,
    /// The stored hash is unusable.
    UnusableHash(password::HashError),
}

/// Counters of the verifier, for `/metrics`.
#[derive(Debug, Default)]
pub struct VerifierStats {
    /// CONNECTs refused for a bad username or password.
    pub failures: AtomicU64,
    /// Credentials accepted from the cache.
    pub cache_hits: AtomicU64,
    /// Password hashes verified.
    pub verifications: AtomicU64,
    /// CONNECTs refused because no verification slot freed up in time.
    pub busy: AtomicU64,
}

/// The password checker shared by every connection.
pub struct Verifier {
    permits: Arc<tokio::sync::Semaphore>,
    concurrency: usize,
    key: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], String>>,
    dummy: OnceLock<String>,
    /// Checks between a cache miss and the end of their verification, waiting ones included.
    pending: AtomicUsize,
    pub stats: VerifierStats,
}

/// One pending check; the last of a run to end gives the pooled argon2 memory back to the
/// system (also when its connection goes away mid-check).
struct Pending<'a>(&'a AtomicUsize);

impl<'a> Pending<'a> {
    fn new(count: &'a AtomicUsize) -> Pending<'a> {
        count.fetch_add(1, Ordering::AcqRel);
        Pending(count)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            password::release_pooled_memory();
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key or the cache.
        f.debug_struct("Verifier")
            .field("concurrency", &self.concurrency)
            .field("cached", &self.cache.lock().len())
            .finish_non_exhaustive()
    }
}

impl Default for Verifier {
    fn default() -> Verifier {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Verifier::new(cores)
    }
}

impl Verifier {
    /// A verifier running at most `concurrency` (at least 1) verifications at once.
    pub fn new(concurrency: usize) -> Verifier {
        let concurrency = concurrency.max(1);
        Verifier {
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency)),
            concurrency,
            key: rand::random(),
            cache: Mutex::new(HashMap::new()),
            dummy: OnceLock::new(),
            pending: AtomicUsize::new(0),
            stats: VerifierStats::default(),
        }
    }

    /// Verifications that may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Credentials in the cache now.
    pub fn cached(&self) -> usize {
        self.cache.lock().len()
    }

    fn cache_key(&self, username: &str, stored: &str, password: &[u8]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        for part in [username.as_bytes(), stored.as_bytes(), password] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        *h.finalize().as_bytes()
    }

    /// Check `password` for `username`, whose stored hash is `stored` (`None`: no such user),
    /// waiting at most `wait` for a verification slot.
    pub async fn check(
        &self,
        username: &str,
        stored: Option<&str>,
        password: &[u8],
        wait: Duration,
    ) -> Result<(), Refusal> {
        let key = stored.map(|s| self.cache_key(username, s, password));
        if let Some(k) = &key
            && self.cache.lock().get(k).is_some_and(|u| u == username)
        {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let pending = Pending::new(&self.pending);
        let permit = match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                self.stats.busy.fetch_add(1, Ordering::Relaxed);
                return Err(Refusal::Busy);
            }
        };
        let hash = match stored {
            Some(s) => s.to_string(),
            None => self.dummy().to_string(),
        };
        let pw = String::from_utf8_lossy(password).into_owned();
        self.stats.verifications.fetch_add(1, Ordering::Relaxed);
        // Off the async workers; the permit is held until the hash is done even if the
        // connection that asked is gone.
        let verified = tokio::task::spawn_blocking(move || {
            let r = password::verify_pooled(&hash, &pw);
            drop(permit);
            r
        })
        .await
        .unwrap_or(Ok(false));
        drop(pending);
        match (verified, key) {
            (Ok(true), Some(k)) => {
                let mut cache = self.cache.lock();
                if cache.len() >= CACHE_ENTRIES_MAX {
                    cache.clear();
                }
                cache.insert(k, username.to_string());
                Ok(())
            }
            (Ok(_), _) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                Err(Refusal::BadCredentials)
            }
            (Err(e), _) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                Err(Refusal::UnusableHash(e))
            }
        }
    }

    /// Drop every cached credential of `username` (its password or the user changed).
    pub fn forget_user(&self, username: &str) {
        let mut cache = self.cache.lock();
        if !cache.is_empty() {
            cache.retain(|_, u| u != username);
        }
    }

    /// Drop every cached credential (a bulk change of the users table, such as an import).
    pub fn forget_all(&self) {
        self.cache.lock().clear();
    }

    /// A hash of a random password with the current parameters, for unknown usernames.
    fn dummy(&self) -> &str {
        self.dummy.get_or_init(|| {
            let secret: [u8; 16] = rand::random();
            password::hash(&String::from_utf8_lossy(&secret))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn cache_hits_are_bound_to_the_stored_hash_and_user() {
        let v = Verifier::new(2);
        let h = password::hash("pw");
        assert_eq!(v.check("u", Some(&h), b"pw", WAIT).await, Ok(()));
        assert_eq!(v.stats.verifications.load(Ordering::Relaxed), 1);
        assert_eq!(v.check("u", Some(&h), b"pw", WAIT).await, Ok(()));
        assert_eq!(v.stats.cache_hits.load(Ordering::Relaxed), 1);
        // A wrong password is never cached, and is verified each time.
        for _ in 0..2 {
            assert_eq!(
                v.check("u", Some(&h), b"nope", WAIT).await,
                Err(Refusal::BadCredentials)
            );
        }
        assert_eq!(v.stats.failures.load(Ordering::Relaxed), 2);
        // A new hash (password changed) misses the cache, whatever the password.
        let h2 = password::hash("new");
        assert_eq!(
            v.check("u", Some(&h2), b"pw", WAIT).await,
            Err(Refusal::BadCredentials)
        );
        v.forget_user("u");
        assert_eq!(v.cached(), 0);
        // Unknown users are verified (against the dummy hash) and refused.
        let before = v.stats.verifications.load(Ordering::Relaxed);
        assert_eq!(
            v.check("ghost", None, b"pw", WAIT).await,
            Err(Refusal::BadCredentials)
        );
        assert_eq!(v.stats.verifications.load(Ordering::Relaxed), before + 1);
    }

    #[tokio::test]
    async fn a_full_line_is_refused_as_busy_after_the_wait() {
        let v = Verifier::new(1);
        let _held = v.permits.clone().acquire_owned().await.expect("permit");
        let h = password::hash("pw");
        assert_eq!(
            v.check("u", Some(&h), b"pw", Duration::from_millis(50))
                .await,
            Err(Refusal::Busy)
        );
        assert_eq!(v.stats.busy.load(Ordering::Relaxed), 1);
    }
}
