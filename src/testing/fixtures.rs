//! What the suites are built from: sample records, a fixed clock origin,
//! unique user ids, random bytes, and managers with fixed keys.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use crate::access_token::{self, AccessToken, Claims};
use crate::clock::ManualClock;
use crate::error::SessionError;
use crate::keys::SigningKey;
use crate::manager::{SessionManager, SessionTokens};
use crate::refresh_token::RefreshKey;
use crate::store::{RotationNonce, SessionHandle, SessionRecord, SessionStore, TokenHash};

/// The start of every suite's clock (2030-03-17), far enough ahead that a
/// store's own expiry (a TTL on the server's clock) never fires during a
/// run.
pub(crate) const T0: i64 = 1_900_000_000;

/// [`T0`] plus `offset` seconds.
pub(crate) fn at(offset: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + offset).expect("in range")
}

/// `N` bytes from the OS random number generator.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    crate::random::fill(&mut b).expect("OS random number generator");
    b
}

/// A user id no other check, run or process uses: `label` and 128 random
/// bits, so checks over a shared store never see each other's sessions.
pub(crate) fn unique_user(label: &str) -> String {
    format!("{label}-{}", SessionHandle::from_bytes(random_bytes()))
}

/// Signs the access token the manager would issue for a record with these
/// claims, without a store or a clock: for benchmarks and interop tests that
/// measure or check signing alone.
#[doc(hidden)]
#[expect(clippy::too_many_arguments, reason = "one argument per claim")]
pub fn sign_access_token(
    key: &SigningKey,
    user_id: &str,
    handle: &SessionHandle,
    generation: u64,
    issued_at: i64,
    expires_at: i64,
    auth_time: i64,
    custom: &Map<String, Value>,
) -> AccessToken {
    access_token::sign(
        key,
        &Claims {
            sub: user_id,
            sid: handle,
            generation,
            iat: issued_at,
            exp: expires_at,
            auth_time,
            iss: None,
            aud: None,
            custom,
        },
    )
}

/// A record as the core would write it, with awkward content: unicode,
/// nesting, every optional field set.
pub fn sample_record(user_id: &str) -> SessionRecord {
    let mut claims = Map::new();
    claims.insert("role".into(), json!("admin"));
    claims.insert("scopes".into(), json!(["read", "write", "ünïcödé ✓"]));
    SessionRecord {
        handle: SessionHandle::from_bytes(random_bytes()),
        user_id: user_id.to_owned(),
        created_at: at(0),
        auth_time: at(-5),
        absolute_expires_at: at(30 * 86_400),
        refresh_expires_at: at(7 * 86_400),
        generation: 3,
        current_hash: TokenHash::from_bytes(random_bytes()),
        prev_hash: Some(TokenHash::from_bytes(random_bytes())),
        rotated_at: Some(at(60)),
        nonce: RotationNonce::from_bytes(random_bytes()),
        access_claims: claims,
        session_data: json!({"cart": [1, 2, 3], "nested": {"a": null, "b": 1.5}, "s": "quote\" and \\"}),
        version: 1,
    }
}

/// A manager over `store` with the suites' fixed keys, `clock`, and a grace
/// window of `grace` seconds. Managers made here for one store share their
/// keys, as the instances of one application do.
pub(crate) fn manager<S: SessionStore>(
    store: S,
    clock: Arc<ManualClock>,
    grace: i64,
) -> SessionManager<S> {
    SessionManager::builder(store)
        .signing_key(SigningKey::hs256("suite", &[0x5a; 32]).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[0xa5; 32]).expect("valid key"))
        .grace(Duration::seconds(grace))
        .clock(clock)
        .build()
        .expect("valid configuration")
}

/// Creates a session for `user` with custom access claims and session data.
///
/// The only call of [`SessionManager::create`] in the store and instance
/// suites: a change of its signature changes this function alone.
pub(crate) async fn create_with<S: SessionStore>(
    manager: &SessionManager<S>,
    user: &str,
    access_claims: Value,
    session_data: Value,
) -> Result<SessionTokens, SessionError> {
    manager
        .create(user)
        .claims(access_claims)
        .session_data(session_data)
        .await
}

/// Creates a session for `user`, with no claims and no data, and expects
/// it to succeed.
pub(crate) async fn create<S: SessionStore>(
    manager: &SessionManager<S>,
    user: &str,
) -> SessionTokens {
    create_with(manager, user, Value::Null, Value::Null)
        .await
        .expect("create")
}
