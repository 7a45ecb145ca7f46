//! Password hashing (argon2id) and policy. Plain passwords never leave this module's callers
//! except as hashes; they are never logged or stored.

use crate::{Error, Result};
use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use subtle::ConstantTimeEq;

pub const MIN_BYTES: usize = 8;
pub const MAX_BYTES: usize = 1024;

/// OWASP's argon2id minimum: 19 MiB, two passes, one lane.
const MEMORY_KIB: u32 = 19_456;

fn params() -> Params {
    Params::new(MEMORY_KIB, 2, 1, None).expect("valid argon2 parameters")
}

thread_local! {
    /// This thread's argon2 working memory, kept between computations: allocating 19 MiB
    /// (aligned) for each one left the allocator holding hundreds of megabytes it never
    /// gave back. Every block is written before it is read, so nothing needs clearing.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2 of `password` and `salt` into `out`, in this thread's kept memory; parameters
/// asking for more than today's (a hash stored with heavier ones) get memory of their own.
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    if blocks > MEMORY_KIB as usize {
        return argon2.hash_password_into(password, salt, out);
    }
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Checks the length policy (bytes, never truncated) and hashes with a fresh salt, as a
/// PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> Result<String> {
    check_policy(password)?;
    let salt: [u8; 16] = rand::random();
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let internal = |e: &dyn std::fmt::Display| Error::internal(e.to_string());
    argon2_into(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password.as_bytes(),
        &salt,
        &mut out,
    )
    .map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| internal(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| internal(&e))?),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

/// Runs one argon2 computation on one of a few threads kept for it, one per core: each
/// computation takes 19 MiB and a core for tens of milliseconds, so more at once would add
/// memory and latency, never throughput. Their own threads, not the blocking pool, because
/// the allocator keeps a freed 19 MiB block in the arena of the thread that freed it: on a
/// thread that hashes again it is reused, while a burst of SCIM creates with passwords
/// spread over the blocking pool's many threads left hundreds of megabytes resident. Nor
/// may it stall the async workers serving other requests.
async fn argon2_off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    type Job = Box<dyn FnOnce() + Send>;
    static JOBS: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> = std::sync::OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (send, receive) = std::sync::mpsc::channel::<Job>();
        let receive = std::sync::Arc::new(std::sync::Mutex::new(receive));
        for n in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            let receive = receive.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job, not while running it.
                    let job = match receive.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        std::sync::Mutex::new(send)
    });
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // The caller may have gone (a dropped request); the result is then of no use.
        let _ = done.send(work());
    });
    jobs.lock()
        .map_err(|_| Error::internal("the password hashing queue is poisoned"))?
        .send(job)
        .map_err(|_| Error::internal("no password hashing thread is running"))?;
    result
        .await
        .map_err(|_| Error::internal("a password hashing thread stopped"))
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
    if is_predictable(password) {
        return Err(Error::invalid(
            "password",
            "is a season, a month or a common password with digits or symbols added (like Summer2024!), the first thing attackers try; choose another",
        ));
    }
    Ok(())
}

/// Seasons and months, the words of the passwords people rotate (`Summer2024!`, `March#1`).
const CALENDAR_WORDS: &[&str] = &[
    "spring",
    "summer",
    "autumn",
    "fall",
    "winter",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Whether `password` is a calendar word or a common password, dressed up: a capital, digits
/// and symbols at its end (a year, `!`), letters swapped for look-alikes (`P@ssw0rd`).
pub fn is_predictable(password: &str) -> bool {
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c == ' ');
    let plain: String = stem
        .chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '$' | '5' => 's',
            '7' => 't',
            c => c,
        })
        .collect();
    let dressed = stem.len() < lower.len() || plain != stem;
    CALENDAR_WORDS.contains(&plain.as_str()) || (dressed && plain.len() >= 4 && (is_common(&plain) || is_common(stem)))
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

/// Constant-time verification against a stored PHC string (any argon2 variant and
/// parameters it names).
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2_into(algorithm, version, params, password.as_bytes(), salt, &mut out).is_err() {
        return false;
    }
    out.ct_eq(expected.as_bytes()).into()
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
    use argon2::password_hash::PasswordHasher;

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
    fn verifies_hashes_made_by_the_argon2_crate_itself() {
        // Hashes stored before rollcall computed them in kept memory, and other variants.
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i] {
            let a = Argon2::new(algorithm, Version::V0x13, Params::new(8_192, 1, 1, None).unwrap());
            let stored = a.hash_password(b"an older password").unwrap().to_string();
            assert!(verify("an older password", &stored), "{stored}");
            assert!(!verify("an older passwore", &stored));
        }
        // Heavier than today's parameters: computed in memory of its own, still verified.
        let heavy = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(40_000, 1, 1, None).unwrap(),
        );
        let stored = heavy.hash_password(b"a heavier password").unwrap().to_string();
        assert!(verify("a heavier password", &stored));
        // Ours verify with the crate's own verifier too.
        use argon2::password_hash::PasswordVerifier;
        let ours = hash("correct horse battery").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
    }

    #[test]
    fn seasonal_and_dressed_up_passwords_are_refused() {
        for p in [
            "Summer2024!",
            "winter2025",
            "Autumn#1",
            "September2026?",
            "P@ssw0rd2024",
            "Qwertyuiop1!",
            "Dragon2024!!",
        ] {
            assert!(check_policy(p).is_err(), "{p} should be refused");
        }
        for p in [
            "a rarely used phrase",
            "summer of the heron 2024",
            "Correct-Horse-Battery-9",
        ] {
            assert!(check_policy(p).is_ok(), "{p} should be allowed");
        }
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
