//! Shared fixtures for the integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "fixtures shared by the test crates, each using a part; they fail the calling test by panicking"
)]

use std::sync::{Arc, Mutex};

use sessionkit::clock::ManualClock;
use sessionkit::{
    MemoryStore, RefreshError, RefreshKey, SessionEvent, SessionManager, SessionManagerBuilder,
    SessionTokens, SigningKey,
};
use time::Duration;

/// 2030-01-01T00:00:00Z: far from any real clock, so nothing depends on it.
pub const T0: i64 = 1_893_456_000;

pub type Manager = SessionManager<Arc<MemoryStore>>;

pub struct Fixture {
    pub manager: Manager,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub events: Arc<Mutex<Vec<SessionEvent>>>,
}

pub fn signing_key() -> SigningKey {
    SigningKey::hs256("test-key", &[0x11; 32]).unwrap()
}

pub fn refresh_key() -> RefreshKey {
    RefreshKey::new(1, &[0x22; 32]).unwrap()
}

/// A builder over a fresh memory store with a manual clock and an event log.
pub fn builder_with(
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    events: Arc<Mutex<Vec<SessionEvent>>>,
) -> SessionManagerBuilder<Arc<MemoryStore>> {
    SessionManager::builder(store)
        .signing_key(signing_key())
        .refresh_key(refresh_key())
        .clock(clock)
        .event_hook(move |e: &SessionEvent| events.lock().unwrap().push(e.clone()))
}

pub fn fixture_with(
    configure: impl FnOnce(
        SessionManagerBuilder<Arc<MemoryStore>>,
    ) -> SessionManagerBuilder<Arc<MemoryStore>>,
) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::at_unix(T0));
    let events = Arc::new(Mutex::new(Vec::new()));
    let manager = configure(builder_with(
        Arc::clone(&store),
        Arc::clone(&clock),
        Arc::clone(&events),
    ))
    .build()
    .unwrap();
    Fixture {
        manager,
        store,
        clock,
        events,
    }
}

pub fn fixture() -> Fixture {
    fixture_with(|b| b)
}

pub fn fixture_grace(seconds: i64) -> Fixture {
    fixture_with(|b| b.grace(Duration::seconds(seconds)))
}

impl Fixture {
    pub fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
    }

    /// A session of `user` whose first refresh token was copied: the
    /// owner refreshes, then the copy comes back and is detected as theft.
    /// Returns the session's first tokens and the owner's rotated ones.
    pub async fn stolen(&self, user: &str) -> (SessionTokens, SessionTokens) {
        let first = self.manager.create(user).await.unwrap();
        self.advance(1);
        let rotated = self
            .manager
            .refresh(first.refresh_token.expose())
            .await
            .unwrap();
        self.advance(1);
        assert!(matches!(
            self.manager.refresh(first.refresh_token.expose()).await,
            Err(RefreshError::TokenTheftDetected { .. })
        ));
        (first, rotated)
    }

    pub fn theft_events(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, SessionEvent::TheftDetected { .. }))
            .count()
    }
}
