//! Starting sessions: [`SessionManager::create`] at login and
//! [`SessionManager::reissue`] on a privilege change, both as builders whose
//! optional parts are named and whose common call is one line.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use zeroize::Zeroize as _;

use super::state::{MAX_ROUNDS, ROUNDS_EXHAUSTED, SessionManager, SessionTokens};
use crate::access_token::RESERVED_CLAIMS;
use crate::error::{RandomError, SessionError, StoreError};
use crate::events::{RevokeReason, SessionEvent};
use crate::log::log_debug;
use crate::random;
use crate::record::{RotationNonce, SessionHandle, SessionRecord};
use crate::refresh_token::RefreshSecret;
use crate::rotation::is_live;
use crate::store::SessionStore;

/// Longest user id accepted, in bytes.
const MAX_USER_ID_LEN: usize = 256;

/// The future of a builder: boxed, so the builders can be awaited directly.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<S: SessionStore> SessionManager<S> {
    /// Creates a session for `user_id` (after your application has checked
    /// the user's credentials) and returns its first tokens.
    ///
    /// Await the returned [`CreateSession`] directly, or name the optional
    /// parts first:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
    /// # let manager = SessionManager::builder(MemoryStore::new())
    /// #     .signing_key(SigningKey::hs256("k1", &[7u8; 32])?)
    /// #     .refresh_key(RefreshKey::new(1, &[9u8; 32])?)
    /// #     .build()?;
    /// use serde_json::json;
    ///
    /// let plain = manager.create("user-42").await?;
    /// let admin = manager
    ///     .create("user-7")
    ///     .claims(json!({ "role": "admin" }))
    ///     .session_data(json!({ "device": "Firefox on Linux" }))
    ///     .await?;
    /// assert_eq!(manager.verify(admin.access_token.expose())?.claims()["role"], "admin");
    /// # let _ = plain;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// (When awaited.) [`SessionError::InvalidUserId`] for an empty user id
    /// or one over 256 bytes; [`SessionError::InvalidClaims`];
    /// [`SessionError::Store`] if the record could not be written (no
    /// session exists then); [`SessionError::Random`].
    pub fn create(&self, user_id: impl Into<String>) -> CreateSession<'_, S> {
        CreateSession {
            manager: self,
            user_id: user_id.into(),
            claims: Ok(Map::new()),
            session_data: Ok(Value::Null),
        }
    }

    /// Replaces a live session with a new one for the same user (new
    /// handle, new refresh lineage) and revokes the old one (SEC-08). Call
    /// it when privileges change, for example when the user is granted a
    /// role: the old tokens stop refreshing, and the new ones carry the new
    /// claims.
    ///
    /// The new session keeps the old one's claims, server-side data,
    /// `auth_time` and absolute expiry unless told otherwise: a reissue is
    /// not a login, so it can neither stretch the session's lifetime nor make
    /// [`require_recent_auth`](Self::require_recent_auth) pass. When the
    /// user has just re-authenticated (entered their password again), say so
    /// with [`ReissueSession::reauthenticated`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
    /// # let manager = SessionManager::builder(MemoryStore::new())
    /// #     .signing_key(SigningKey::hs256("k1", &[7u8; 32])?)
    /// #     .refresh_key(RefreshKey::new(1, &[9u8; 32])?)
    /// #     .build()?;
    /// use serde_json::json;
    ///
    /// let session = manager.create("user-42").await?;
    /// let promoted = manager
    ///     .reissue(&session.handle)
    ///     .claims(json!({ "role": "admin" }))
    ///     .await?;
    /// assert!(manager.refresh(session.refresh_token.expose()).await.is_err());
    /// assert_eq!(promoted.session_expires_at, session.session_expires_at);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// (When awaited.) [`SessionError::NotFound`] if the old session is not
    /// live; [`SessionError::InvalidClaims`]; [`SessionError::Store`], in
    /// which case no new session exists and the old one is either still
    /// valid or revoked (if the failed delete had in fact been applied);
    /// [`SessionError::Random`].
    pub fn reissue(&self, old: &SessionHandle) -> ReissueSession<'_, S> {
        ReissueSession {
            manager: self,
            old: *old,
            claims: None,
            session_data: None,
            reauthenticated: false,
        }
    }

    /// Writes a new session's record and mints its first tokens.
    async fn start(&self, new: NewRecord) -> Result<SessionTokens, SessionError> {
        if new.user_id.is_empty() || new.user_id.len() > MAX_USER_ID_LEN {
            return Err(SessionError::InvalidUserId);
        }
        let tag = self.inner.store.placement_tag(&new.user_id);
        let (handle, secret, nonce) = new_session_randomness(tag)?;
        let mut record = SessionRecord {
            handle,
            user_id: new.user_id,
            created_at: new.now,
            auth_time: new.auth_time,
            absolute_expires_at: new.absolute_expires_at,
            refresh_expires_at: new
                .now
                .saturating_add(self.inner.config.refresh_idle_ttl)
                .min(new.absolute_expires_at),
            generation: 0,
            current_hash: secret.hash(),
            prev_hash: None,
            rotated_at: None,
            nonce,
            access_claims: new.access_claims,
            session_data: new.session_data,
            version: 1,
        };
        // A handle collision needs 2^64 sessions; retry once rather than
        // reason about it.
        let limit = if new.counts_toward_limit {
            self.inner.config.max_sessions_per_user
        } else {
            0
        };
        let evicted = match self.insert_new(&record, limit).await {
            Ok(evicted) => evicted,
            Err(StoreError::AlreadyExists) => {
                record.handle = new_handle(tag)?;
                self.insert_new(&record, limit).await?
            }
            Err(e) => return Err(e.into()),
        };
        log_debug!(session = %record.handle, "session created");
        for handle in evicted {
            log_debug!(session = %handle, "oldest session of the user revoked at the session limit");
            self.emit(SessionEvent::Revoked {
                handle,
                reason: RevokeReason::SessionLimit,
            });
        }
        Ok(self.issue(&record, &secret, new.now))
    }

    /// Inserts a record under a fresh handle. When the insert fails, it may
    /// still have been applied with its answer lost (SEC-24): the record is
    /// then deleted, best effort, so that a failed create leaves no session
    /// behind (nobody would hold its token, but it would show in
    /// [`sessions_for_user`](Self::sessions_for_user) until it expired).
    /// The handle is fresh random, so nothing else lives under it.
    ///
    /// With a `limit` (not 0), the user's oldest sessions beyond it are
    /// deleted in the same store call; their handles are returned.
    async fn insert_new(
        &self,
        record: &SessionRecord,
        limit: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        let store = &self.inner.store;
        let inserted = if limit == 0 {
            store.insert(record).await.map(|()| Vec::new())
        } else {
            store.insert_capped(record, limit).await
        };
        match inserted {
            Ok(evicted) => Ok(evicted),
            Err(StoreError::AlreadyExists) => Err(StoreError::AlreadyExists),
            Err(e) => {
                let _ = store.delete(&record.handle).await;
                Err(e)
            }
        }
    }

    async fn reissue_now(
        &self,
        request: ReissueSession<'_, S>,
    ) -> Result<SessionTokens, SessionError> {
        let now = self.now();
        let store = &self.inner.store;
        let old = store
            .load(&request.old)
            .await?
            .filter(|r| is_live(r, now))
            .ok_or(SessionError::NotFound)?;
        let (auth_time, absolute_expires_at) = if request.reauthenticated {
            (now, now.saturating_add(self.inner.config.absolute_ttl))
        } else {
            (old.auth_time, old.absolute_expires_at)
        };
        let tokens = self
            .start(NewRecord {
                counts_toward_limit: false,
                user_id: old.user_id.clone(),
                access_claims: request.claims.unwrap_or(Ok(old.access_claims.clone()))?,
                session_data: request
                    .session_data
                    .unwrap_or(Ok(old.session_data.clone()))?,
                now,
                auth_time,
                absolute_expires_at,
            })
            .await?;
        match self.retire(old, now).await {
            Ok(()) => {}
            // Revoked, expired or stolen meanwhile: the family must not go
            // on under a new handle. And never hand out a second session
            // while the first may survive.
            Err(e) => {
                let _ = store.delete(&tokens.handle).await;
                return Err(e);
            }
        }
        self.emit(SessionEvent::Revoked {
            handle: request.old,
            reason: RevokeReason::Reissued,
        });
        Ok(tokens)
    }

    /// Ends the session a reissue replaces, only if it is still the live
    /// session that was read (rotated meanwhile is fine; revoked, expired
    /// or revoked for a theft is not): a compare-and-swap to an expired
    /// record, then a delete.
    async fn retire(
        &self,
        mut current: SessionRecord,
        now: OffsetDateTime,
    ) -> Result<(), SessionError> {
        let store = &self.inner.store;
        let handle = current.handle;
        for _ in 0..MAX_ROUNDS {
            let version = current
                .version
                .checked_add(1)
                .ok_or(SessionError::NotFound)?;
            let retired = SessionRecord {
                refresh_expires_at: now,
                version,
                ..current.clone()
            };
            let failure = match store.compare_and_swap(current.version, &retired).await {
                Ok(true) => None,
                Ok(false) => Some(None),
                Err(e) => Some(Some(e)),
            };
            let Some(failure) = failure else {
                // Dead now; removing it is tidiness.
                let _ = store.delete(&handle).await;
                return Ok(());
            };
            match (store.load(&handle).await, failure) {
                // The swap applied with its answer lost.
                (Ok(Some(found)), _) if found == retired => {
                    let _ = store.delete(&handle).await;
                    return Ok(());
                }
                // Rotated meanwhile: retire the newer record.
                (Ok(Some(found)), None) if is_live(&found, now) => {
                    current = found;
                }
                (Ok(_), None) => return Err(SessionError::NotFound),
                (_, Some(e)) | (Err(e), None) => return Err(e.into()),
            }
        }
        Err(SessionError::Store(StoreError::backend(ROUNDS_EXHAUSTED)))
    }
}

/// What a new record is made of; the rest is fresh randomness.
struct NewRecord {
    /// A login adds a session and counts toward the user's limit; a
    /// reissue replaces one and does not.
    counts_toward_limit: bool,
    user_id: String,
    access_claims: Map<String, Value>,
    session_data: Value,
    now: OffsetDateTime,
    auth_time: OffsetDateTime,
    absolute_expires_at: OffsetDateTime,
}

/// A session about to be created, from [`SessionManager::create`]. Await it
/// to create the session.
#[must_use = "the session is only created when this is awaited"]
pub struct CreateSession<'a, S> {
    manager: &'a SessionManager<S>,
    user_id: String,
    claims: Result<Map<String, Value>, SessionError>,
    session_data: Result<Value, SessionError>,
}

impl<S> CreateSession<'_, S> {
    /// Custom claims carried by every access token of the session: anything
    /// that serializes to a JSON object (a `serde_json::json!({...})`, a
    /// map, a struct), or `null` for none. Names listed in
    /// [`RESERVED_CLAIMS`](crate::config::RESERVED_CLAIMS) are refused, so
    /// that no custom claim can shadow `sub`, `exp` or `sid`.
    pub fn claims(mut self, claims: impl Serialize) -> Self {
        self.claims = claims_object(claims);
        self
    }

    /// Server-side data kept with the session and never sent to the client
    /// (for example the device it was created on); any serializable value.
    pub fn session_data(mut self, data: impl Serialize) -> Self {
        self.session_data = json_value(data);
        self
    }
}

impl<'a, S: SessionStore> IntoFuture for CreateSession<'a, S> {
    type Output = Result<SessionTokens, SessionError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let manager = self.manager;
            let now = manager.now();
            manager
                .start(NewRecord {
                    counts_toward_limit: true,
                    user_id: self.user_id,
                    access_claims: self.claims?,
                    session_data: self.session_data?,
                    now,
                    auth_time: now,
                    absolute_expires_at: now.saturating_add(manager.inner.config.absolute_ttl),
                })
                .await
        })
    }
}

impl<S> fmt::Debug for CreateSession<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateSession")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// A reissue about to happen, from [`SessionManager::reissue`]. Await it to
/// replace the session.
#[must_use = "the session is only reissued when this is awaited"]
pub struct ReissueSession<'a, S> {
    manager: &'a SessionManager<S>,
    old: SessionHandle,
    claims: Option<Result<Map<String, Value>, SessionError>>,
    session_data: Option<Result<Value, SessionError>>,
    reauthenticated: bool,
}

impl<S> ReissueSession<'_, S> {
    /// New custom claims for the new session's access tokens, replacing the
    /// old ones (same rules as [`CreateSession::claims`]).
    pub fn claims(mut self, claims: impl Serialize) -> Self {
        self.claims = Some(claims_object(claims));
        self
    }

    /// New server-side data, replacing the old session's.
    pub fn session_data(mut self, data: impl Serialize) -> Self {
        self.session_data = Some(json_value(data));
        self
    }

    /// The user has just re-authenticated (for example entered their
    /// password again before a sensitive change): `auth_time` becomes now
    /// and the absolute lifetime starts again, as at a login.
    ///
    /// # Security
    /// Call it only after your application has checked the user's
    /// credentials again in this request. Otherwise a reissue keeps the
    /// original `auth_time` and absolute expiry, so that reissuing cannot
    /// keep a stolen session alive or satisfy
    /// [`require_recent_auth`](SessionManager::require_recent_auth).
    pub fn reauthenticated(mut self) -> Self {
        self.reauthenticated = true;
        self
    }
}

impl<'a, S: SessionStore> IntoFuture for ReissueSession<'a, S> {
    type Output = Result<SessionTokens, SessionError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.manager.reissue_now(self).await })
    }
}

impl<S> fmt::Debug for ReissueSession<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReissueSession")
            .field("old", &self.old)
            .field("reauthenticated", &self.reauthenticated)
            .finish_non_exhaustive()
    }
}

fn json_value(value: impl Serialize) -> Result<Value, SessionError> {
    serde_json::to_value(value).map_err(|e| SessionError::InvalidClaims(e.to_string()))
}

/// Accepts a JSON object (or null) of custom claims without reserved names.
pub(super) fn claims_object(value: impl Serialize) -> Result<Map<String, Value>, SessionError> {
    let map = match json_value(value)? {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        _ => {
            return Err(SessionError::InvalidClaims(
                "access claims must be a JSON object".into(),
            ));
        }
    };
    if let Some(name) = map.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
        return Err(SessionError::InvalidClaims(format!(
            "claim name {name:?} is reserved"
        )));
    }
    Ok(map)
}

fn new_handle(tag: u16) -> Result<SessionHandle, RandomError> {
    let mut b = [0u8; SessionHandle::RANDOM_LEN];
    random::fill(&mut b)?;
    Ok(SessionHandle::new(b, tag))
}

/// A new session's handle, first refresh secret and nonce, from one call to
/// the operating system's generator (each call is a system call).
fn new_session_randomness(
    tag: u16,
) -> Result<(SessionHandle, RefreshSecret, RotationNonce), RandomError> {
    const SECRET_LEN: usize = 32;
    let mut buf = [0u8; SessionHandle::RANDOM_LEN + SECRET_LEN + 32];
    random::fill(&mut buf)?;
    let mut handle = [0u8; SessionHandle::RANDOM_LEN];
    let mut secret = [0u8; SECRET_LEN];
    let mut nonce = [0u8; 32];
    let (h, rest) = buf.split_at(SessionHandle::RANDOM_LEN);
    let (s, n) = rest.split_at(SECRET_LEN);
    handle.copy_from_slice(h);
    secret.copy_from_slice(s);
    nonce.copy_from_slice(n);
    buf.zeroize();
    let secret = RefreshSecret::from_bytes(secret);
    Ok((
        SessionHandle::new(handle, tag),
        secret,
        RotationNonce::from_bytes(nonce),
    ))
}
