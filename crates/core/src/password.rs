//! Password hashing (argon2id) and policy. Plain passwords never leave this module's callers
//! except as hashes; they are never logged or stored.

use crate::{Error, Result};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};

pub const MIN_BYTES: usize = 8;
pub const MAX_BYTES: usize = 1024;

/// OWASP's argon2id minimum: 19 MiB, two passes, one lane.
fn hasher() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, None).expect("valid argon2 parameters"),
    )
}

/// Checks the length policy (bytes, never truncated) and hashes with a fresh salt.
pub fn hash(password: &str) -> Result<String> {
    check_policy(password)?;
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(e.to_string()))
}

/// Runs one argon2 computation on a blocking thread, at most one per core at a time: each
/// takes 19 MiB and a core for tens of milliseconds, so more at once would only add memory
/// (a burst of SCIM creates with passwords reached gigabytes) and latency, never throughput.
/// It must not stall the async workers serving other requests either.
async fn argon2_off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    static LIMIT: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let limit =
        LIMIT.get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));
    let _permit = limit.acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(work).await.map_err(Error::internal)
}

/// [`hash`], off the async workers and within the hashing limit.
pub async fn hash_off_thread(password: Option<String>) -> Result<Option<String>> {
    match password {
        None => Ok(None),
        Some(p) => argon2_off_thread(move || hash(&p)).await?.map(Some),
    }
}

/// [`verify`] — or, with no stored hash, [`verify_dummy`] and false — off the async workers
/// and within the hashing limit.
pub async fn verify_off_thread(password: &str, stored: Option<String>) -> Result<bool> {
    let given = password.to_owned();
    argon2_off_thread(move || match stored {
        Some(stored) => verify(&given, &stored),
        None => {
            verify_dummy(&given);
            false
        }
    })
    .await
}

pub fn check_policy(password: &str) -> Result<()> {
    let n = password.len();
    if !(MIN_BYTES..=MAX_BYTES).contains(&n) {
        return Err(Error::invalid(
            "password",
            format!("must be {MIN_BYTES} to {MAX_BYTES} bytes long"),
        ));
    }
    if is_common(password) {
        return Err(Error::invalid(
            "password",
            "is one of the most common passwords seen in breaches; choose another",
        ));
    }
    Ok(())
}

/// Whether `password` is on the bundled list of commonly breached passwords.
pub fn is_common(password: &str) -> bool {
    static LIST: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();
    let list = LIST.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_lowercase)
            .collect()
    });
    list.contains(&password.to_lowercase())
}

/// Whether a stored hash is weaker than today's parameters (so sign-in rehashes it).
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    let param = |name: &str| {
        parsed
            .params
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .and_then(|(_, v)| v.decimal().ok())
    };
    parsed.algorithm.as_str() != "argon2id" || param("m").unwrap_or(0) < 19_456 || param("t").unwrap_or(0) < 2
}

/// Verifies against a fixed hash: the same work as a real check, for unknown accounts, so
/// timing doesn't tell whether an account exists.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("an unguessable dummy password").expect("hashing works"));
    let _ = verify(password, dummy);
}

/// Constant-time verification against a stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A random password for the first administrator when none is configured: 24 characters
/// from a 62-letter alphabet, about 143 bits.
pub fn random_password() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert_ne!(h, hash("correct horse battery").unwrap(), "each hash has its own salt");
        assert!(!verify("x", "not a phc string"));
    }

    #[test]
    fn length_policy_in_bytes() {
        assert!(hash("short").is_err());
        assert!(check_policy(&"é".repeat(4)).is_ok(), "8 bytes, 4 characters");
        assert!(check_policy(&"a".repeat(1024)).is_ok());
        assert!(check_policy(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn common_passwords_are_refused() {
        assert_eq!(check_policy("Password123").unwrap_err().code(), "invalid_input");
        assert!(check_policy("qwertyuiop").is_err());
        assert!(check_policy("a rarely used phrase").is_ok());
    }

    #[test]
    fn weak_hashes_are_rehashed() {
        assert!(!needs_rehash(&hash("correct horse battery").unwrap()));
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak));
        assert!(verify("correct horse battery", &weak), "weaker hashes still verify");
        assert!(needs_rehash("garbage"));
    }

    #[test]
    fn random_passwords_are_long_and_distinct() {
        let a = random_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, random_password());
    }
}
