//! The demo users and the password check (Argon2id), bounded so that
//! parallel logins cannot exhaust memory or threads (SEC-48).

use std::sync::Arc;
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
    slots: Semaphore,
}

#[derive(Debug)]
struct Hashes {
    known: Vec<(String, String)>,
    dummy: String,
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
            hashes: Arc::new(Hashes { known, dummy }),
            slots: Semaphore::new(max_concurrent_hashes.max(1)),
        })
    }

    /// The user id if the password is right. Runs one Argon2 verification
    /// on a blocking thread, whether the user exists or not, once one of
    /// the hashing slots is free.
    ///
    /// # Errors
    /// [`CheckError::InvalidCredentials`]; [`CheckError::Busy`] when no slot
    /// came free within 10 seconds.
    pub async fn check(&self, username: &str, password: &str) -> Result<String, CheckError> {
        let _slot = tokio::time::timeout(HASH_QUEUE_WAIT, self.slots.acquire())
            .await
            .map_err(|_| CheckError::Busy)?
            .map_err(|_| CheckError::Busy)?;
        let hashes = Arc::clone(&self.hashes);
        let (username, password) = (username.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || hashes.check(&username, &password))
            .await
            .map_err(|_| CheckError::Busy)?
            .ok_or(CheckError::InvalidCredentials)
    }
}

impl Hashes {
    fn check(&self, username: &str, password: &str) -> Option<String> {
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
    }
}
