//! The demo users and the password check (Argon2id), bounded so that
//! parallel logins cannot exhaust memory or threads (SEC-48).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

/// The demo users and their passwords.
pub const DEMO_USERS: [(&str, &str); 2] = [("alice", "wonderland"), ("bob", "builder")];

/// How long a login may wait for a free hashing slot before it is answered
/// 503: beyond that the server is overloaded, and queueing more only
/// delays every answer.
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Why a password check did not say yes.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum CheckError {
    /// Unknown user or wrong password (the two are not told apart).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Every hashing slot stayed busy for too long, or the hashing thread
    /// failed.
    #[error("password hashing unavailable")]
    Busy,
}

/// The users' password hashes (PHC strings), a hash of nothing in
/// particular to check unknown users against (so that the answer takes as
/// long for them), and the bound on concurrent hashes.
#[derive(Debug)]
pub struct Users {
    hashes: Arc<Hashes>,
    slots: Arc<Semaphore>,
}

#[derive(Debug)]
struct Hashes {
    known: Vec<(String, String)>,
    dummy: String,
    /// Hashes running now, and the most that ever ran at once.
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Users {
    /// The demo users, their passwords hashed now with Argon2id's default
    /// parameters (19 MiB, 2 passes), with at most `max_concurrent_hashes`
    /// (at least 1) checks running at once.
    ///
    /// # Errors
    /// The hasher failed (no randomness for the salts).
    pub fn demo(max_concurrent_hashes: usize) -> Result<Self, argon2::password_hash::Error> {
        let argon2 = Argon2::default();
        let mut known = Vec::new();
        for (user, password) in DEMO_USERS {
            let hash = argon2.hash_password(password.as_bytes())?.to_string();
            known.push((user.to_owned(), hash));
        }
        let dummy = argon2
            .hash_password(b"no user has this password")?
            .to_string();
        Ok(Self {
            hashes: Arc::new(Hashes {
                known,
                dummy,
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
            slots: Arc::new(Semaphore::new(max_concurrent_hashes.max(1))),
        })
    }

    /// The most password hashes that have run at the same time.
    pub fn peak_concurrent_hashes(&self) -> usize {
        self.hashes.peak.load(Ordering::SeqCst)
    }

    /// The user id if the password is right. Runs one Argon2 verification
    /// on a blocking thread, whether the user exists or not, once one of
    /// the hashing slots is free.
    ///
    /// The slot goes with the hash, not with the request: a client that
    /// hangs up while its hash runs does not free the slot before the hash
    /// ends, so disconnecting clients cannot run more hashes at once.
    ///
    /// # Errors
    /// [`CheckError::InvalidCredentials`]; [`CheckError::Busy`] when no slot
    /// came free within 10 seconds.
    pub async fn check(&self, username: &str, password: &str) -> Result<String, CheckError> {
        let slot = tokio::time::timeout(HASH_QUEUE_WAIT, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| CheckError::Busy)?
            .map_err(|_| CheckError::Busy)?;
        let hashes = Arc::clone(&self.hashes);
        let (username, password) = (username.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || {
            let found = hashes.check(&username, &password);
            drop(slot);
            found
        })
        .await
        .map_err(|_| CheckError::Busy)?
        .ok_or(CheckError::InvalidCredentials)
    }
}

impl Hashes {
    fn check(&self, username: &str, password: &str) -> Option<String> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let found = self.verify(username, password);
        self.running.fetch_sub(1, Ordering::SeqCst);
        found
    }

    fn verify(&self, username: &str, password: &str) -> Option<String> {
        let found = self.known.iter().find(|(u, _)| u == username);
        let hash = found.map_or(self.dummy.as_str(), |(_, h)| h.as_str());
        let ok = PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        match found {
            Some((user, _)) if ok => Some(user.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sec_48_checks_passwords_under_a_bounded_number_of_hashes() {
        let users = Arc::new(Users::demo(1).unwrap());
        assert_eq!(users.check("alice", "wonderland").await.unwrap(), "alice");
        for (user, password) in [("alice", "builder"), ("mallory", "x"), ("", "")] {
            assert_eq!(
                users.check(user, password).await,
                Err(CheckError::InvalidCredentials)
            );
        }
        // Eight at once through one slot: all answered, one hash at a time.
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let users = Arc::clone(&users);
                tokio::spawn(async move { users.check("bob", "builder").await })
            })
            .collect();
        for check in checks {
            assert_eq!(check.await.unwrap().unwrap(), "bob");
        }
        assert_eq!(users.slots.available_permits(), 1);
        assert_eq!(users.peak_concurrent_hashes(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sec_48_a_client_that_hangs_up_keeps_its_slot_until_its_hash_ends() {
        let users = Arc::new(Users::demo(1).unwrap());
        let spawn = |n: usize| -> Vec<_> {
            (0..n)
                .map(|_| {
                    let users = Arc::clone(&users);
                    tokio::spawn(async move { users.check("bob", "builder").await })
                })
                .collect()
        };
        // Four logins queue for the one slot; once a hash runs, their
        // clients hang up (the server drops the requests' futures).
        let gone = spawn(4);
        // Until a hash has started (the peak never falls back to 0).
        while users.peak_concurrent_hashes() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for check in &gone {
            check.abort();
        }
        // Four more logins: none may hash beside the abandoned hash.
        for check in spawn(4) {
            assert_eq!(check.await.unwrap().unwrap(), "bob");
        }
        assert_eq!(users.peak_concurrent_hashes(), 1);
    }
}
