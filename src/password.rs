//! Passwords: a secret type that cannot be printed, the length policy, and argon2id hashing.

use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::identity::InputError;

/// A password as typed. Debug prints a redaction; the value is zeroed when dropped.
#[derive(Clone)]
pub struct Password(SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// The shortest password accepted.
    pub const MIN_LEN: usize = 12;
    /// The longest password accepted (argon2id hashes it whole).
    pub const MAX_LEN: usize = 512;

    /// A password to check at login: any length up to the maximum (old policies may differ).
    pub fn for_login(raw: String) -> Result<Self, InputError> {
        if raw.is_empty() {
            return Err(InputError::new("password", "enter your password"));
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(InputError::new(
                "password",
                "a password has at most 512 characters",
            ));
        }
        Ok(Self(raw.into()))
    }

    /// A new password: checked against the policy.
    pub fn new_choice(raw: String) -> Result<Self, InputError> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(InputError::new(
                "password",
                format!("a password has at least {} characters", Self::MIN_LEN),
            ));
        }
        if len > Self::MAX_LEN {
            return Err(InputError::new(
                "password",
                "a password has at most 512 characters",
            ));
        }
        if raw.trim().is_empty() {
            return Err(InputError::new(
                "password",
                "a password cannot be only spaces",
            ));
        }
        Ok(Self(raw.into()))
    }

    /// The password in the clear, for hashing only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Password hashes running at once: one per core. Each argon2id hash takes 19 MiB and a core
/// for ~25 ms, so 500 parallel sign-in attempts would otherwise ask for 9.5 GB at once; queued
/// here, they wait their turn holding only a few hundred bytes each. Process-wide like the cores
/// it guards, not per `Rekey`.
static CHECKS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    tokio::sync::Semaphore::new(cores)
});

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST_AT_ONCE: AtomicUsize = AtomicUsize::new(0);

/// The most argon2id computations this process ever ran at once: at most one per core.
pub fn most_hashes_at_once() -> usize {
    MOST_AT_ONCE.load(Ordering::Relaxed)
}

/// Runs one argon2id computation when a core is free for it.
async fn with_a_core<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let _turn = CHECKS
        .acquire()
        .await
        .map_err(|e| Error::Internal(format!("the password check queue closed: {e}")))?;
    let running = RUNNING.fetch_add(1, Ordering::Relaxed) + 1;
    MOST_AT_ONCE.fetch_max(running, Ordering::Relaxed);
    let result = tokio::task::spawn_blocking(work).await;
    RUNNING.fetch_sub(1, Ordering::Relaxed);
    result.map_err(|e| Error::Internal(format!("password task failed: {e}")))?
}

/// Hashes with argon2id (19 MiB, t=2, p=1: the argon2 crate's defaults, OWASP's minimum).
/// CPU-bound for ~25 ms, so it runs on the blocking pool, one per core.
pub async fn hash(password: &Password) -> Result<String> {
    let password = password.clone();
    with_a_core(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    })
    .await
}

/// Checks a password against a stored PHC hash in constant time.
pub async fn verify(password: &Password, stored: &str) -> Result<bool> {
    let password = password.clone();
    let stored = stored.to_string();
    with_a_core(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| Error::Internal(format!("a stored password hash is malformed: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok())
    })
    .await
}

/// A hash of a random password, checked against when the username is unknown so that a
/// failed login takes as long whether or not the account exists.
pub const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Rz1/2s6gpyA0UdEkt25y1NHtsQ7hvaJU5YmrD5fW5A";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_password() {
        let p = Password::new_choice("correct horse battery".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Password([redacted])");
    }

    #[test]
    fn the_policy_names_the_rule() {
        assert_eq!(
            Password::new_choice("short".into()).unwrap_err().message,
            "a password has at least 12 characters"
        );
        assert!(Password::new_choice(" ".repeat(20)).is_err());
        assert!(Password::new_choice("x".repeat(513)).is_err());
        assert!(Password::for_login(String::new()).is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let p = Password::new_choice("correct horse battery".into()).unwrap();
        let a = hash(&p).await.unwrap();
        let b = hash(&p).await.unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify(&p, &a).await.unwrap());
        let wrong = Password::for_login("wrong horse battery".into()).unwrap();
        assert!(!verify(&wrong, &a).await.unwrap());
    }

    #[tokio::test]
    async fn the_decoy_hash_parses() {
        let p = Password::for_login("anything".into()).unwrap();
        assert!(!verify(&p, DECOY_HASH).await.unwrap());
    }
}
