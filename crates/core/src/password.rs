//! Passwords: the rules a new password must meet, and argon2id hashing.
//!
//! Hashing uses argon2id with the `argon2` crate's defaults, OWASP's recommended minimum:
//! 19 MiB of memory, 2 passes, 1 lane. It is deliberately slow and memory-hungry, so callers
//! run it through [`off_thread`], which keeps it off the async workers and runs it on a fixed
//! set of threads, one per core: a burst of joins or sign-ins queues instead of multiplying
//! 19 MiB. The fixed threads matter as much as their number: the allocator keeps a freed
//! 19 MiB block for later in one of its arenas, and a thread may move between arenas, so
//! allocating 19 MiB per hash grew the process by hundreds of MiB in a join burst. Each
//! hashing thread therefore keeps one working area and hashes in it every time, so hashing
//! holds at most one 19 MiB area per core, allocated on first use.

use std::cell::RefCell;
use std::fmt;
use std::sync::{LazyLock, Mutex, mpsc};

use argon2::password_hash::{Output, ParamsString, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash as PhcHash, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use crate::id::random_bytes;

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;
/// Longest password accepted; bounds the work one request can ask of the hasher.
pub const MAX_LEN: usize = 256;

/// Work for the hashing threads.
type HashJob = Box<dyn FnOnce() + Send>;

/// The queue of the hashing threads, one per core, started on first use.
static HASHERS: LazyLock<mpsc::Sender<HashJob>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::channel::<HashJob>();
    let queue = std::sync::Arc::new(Mutex::new(queue));
    for _ in 0..std::thread::available_parallelism().map_or(1, usize::from) {
        let queue = queue.clone();
        // A thread that cannot start leaves the work to the others; if none can, the queue
        // has no receiver left and every caller hears `HasherGone`.
        let _ = std::thread::Builder::new().name("usher-argon2".into()).spawn(move || {
            // The lock is held only while waiting for the next job, not while running it.
            while let Ok(job) = queue.lock().map_err(drop).and_then(|queue| queue.recv().map_err(drop)) {
                job();
            }
        });
    }
    jobs
});

/// The hashing thread dropped the work without an answer (it panicked, or none could start).
#[derive(Debug, thiserror::Error)]
#[error("the password hashing thread did not answer")]
pub struct HasherGone;

/// Runs `work` (hashing or verifying) on one of the hashing threads, after the work queued
/// before it.
pub async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, HasherGone> {
    let (reply, answer) = oneshot::channel();
    let job: HashJob = Box::new(move || {
        // A caller that stopped waiting (a cancelled request) needs no hash.
        if !reply.is_closed() {
            let _ = reply.send(work());
        }
    });
    HASHERS.send(job).map_err(|_| HasherGone)?;
    answer.await.map_err(|_| HasherGone)
}

/// A password that meets the rules; its text is never printed.
pub struct Password(SecretString);

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    /// Fewer than [`MIN_LEN`] characters.
    #[error("password must be at least {MIN_LEN} characters")]
    TooShort,
    /// More than [`MAX_LEN`] characters.
    #[error("password must be at most {MAX_LEN} characters")]
    TooLong,
}

impl Password {
    /// Checks a new password against the length rules.
    pub fn new(text: String) -> Result<Self, WeakPassword> {
        let chars = text.chars().count();
        if chars < MIN_LEN {
            Err(WeakPassword::TooShort)
        } else if chars > MAX_LEN {
            Err(WeakPassword::TooLong)
        } else {
            Ok(Self(text.into()))
        }
    }

    /// Hashes with argon2id (see the module docs) and a fresh random salt. Slow: call it
    /// through [`off_thread`].
    pub fn hash(&self) -> PasswordHash {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt length");
        let phc = phc_hash(&Argon2::default(), self.0.expose_secret().as_bytes(), salt.as_salt())
            .expect("argon2 accepts any password up to MAX_LEN");
        PasswordHash(phc.to_string())
    }

    /// True when this password produced `hash`. Slow: call it through [`off_thread`].
    pub fn verify(&self, hash: &PasswordHash) -> bool {
        let Ok(stored) = PhcHash::new(&hash.0) else { return false };
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else { return false };
        let Ok(argon2) = hasher_of(&stored) else { return false };
        // `Output`'s equality takes the same time wherever the outputs differ.
        phc_hash(&argon2, self.0.expose_secret().as_bytes(), salt).is_ok_and(|computed| computed.hash == Some(expected))
    }
}

/// The argon2 instance that produced `stored`, with its algorithm, version and parameters.
fn hasher_of(stored: &PhcHash<'_>) -> argon2::password_hash::Result<Argon2<'static>> {
    let algorithm = Algorithm::try_from(stored.algorithm)?;
    let version = stored.version.map(Version::try_from).transpose()?.unwrap_or_default();
    Ok(Argon2::new(algorithm, version, Params::try_from(stored)?))
}

thread_local! {
    /// This thread's argon2 working area, kept between hashes (see the module docs).
    static WORKING_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// What `argon2`'s `hash_password` does, in this thread's [`WORKING_AREA`]. The string names
/// argon2's default algorithm and version, which [`Password::hash`] uses; [`Password::verify`]
/// compares only the output.
fn phc_hash<'a>(argon2: &Argon2<'_>, password: &[u8], salt: Salt<'a>) -> argon2::password_hash::Result<PhcHash<'a>> {
    let mut salt_buffer = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
    let params = argon2.params();
    let output = Output::init_with(params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN), |out| {
        WORKING_AREA.with_borrow_mut(|area| {
            if area.len() < params.block_count() {
                area.resize(params.block_count(), Block::default());
            }
            argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut area[..params.block_count()])
        })?;
        Ok(())
    })?;
    Ok(PhcHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// An argon2id hash in PHC string form, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Rebuilds a hash read back from storage.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let password = Password::new("correct horse battery".into()).expect("long enough");

        let hash = password.hash();

        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(password.verify(&hash));
        assert!(!Password::new("incorrect horse".into()).expect("long enough").verify(&hash));
    }

    #[test]
    fn verify_accepts_hashes_made_by_the_argon2_crate_with_any_parameters() {
        use argon2::password_hash::PasswordHasher;

        let password = Password::new("correct horse battery".into()).expect("long enough");
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("salt");
        let lighter = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).expect("params"));
        for argon2 in [Argon2::default(), lighter] {
            let hash = PasswordHash(argon2.hash_password(b"correct horse battery", &salt).expect("hash").to_string());

            assert!(password.verify(&hash), "{}", hash.as_str());
            assert!(!Password::new("incorrect horse".into()).expect("long enough").verify(&hash));
        }
    }

    #[tokio::test]
    async fn off_thread_runs_no_more_hashes_at_once_than_there_are_cores() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

        let tasks: Vec<_> = (0..cores * 3)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(off_thread(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("work");
        }

        let most = most.load(Ordering::SeqCst);
        assert!((1..=cores).contains(&most), "{most} hashes ran at once on {cores} cores");
    }

    #[tokio::test]
    async fn off_thread_hashes_on_its_own_threads_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);

        let tasks: Vec<_> = (0..cores * 4)
            .map(|_| {
                tokio::spawn(off_thread(|| {
                    std::thread::sleep(Duration::from_millis(5));
                    let thread = std::thread::current();
                    (thread.id(), thread.name().map(str::to_owned))
                }))
            })
            .collect();
        let mut threads = std::collections::HashSet::new();
        for task in tasks {
            threads.insert(task.await.expect("task").expect("work"));
        }

        assert!(threads.len() <= cores, "{} threads hashed on {cores} cores", threads.len());
        assert!(threads.iter().all(|(_, name)| name.as_deref() == Some("usher-argon2")), "{threads:?}");
    }

    #[test]
    fn new_enforces_length_in_characters() {
        assert_eq!(Password::new("short".into()).err(), Some(WeakPassword::TooShort));
        assert_eq!(Password::new("x".repeat(MAX_LEN + 1)).err(), Some(WeakPassword::TooLong));
        assert!(Password::new("ééééééé€".into()).is_ok());
    }
}
