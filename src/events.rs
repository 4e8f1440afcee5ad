//! Security events, reported to an optional hook.

use crate::record::SessionHandle;

/// Something security-relevant happened to a session.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A retired refresh token was presented: it was copied. The session (or
    /// all of the user's sessions, per the theft policy) has been revoked.
    TheftDetected {
        /// The session whose token was reused.
        handle: SessionHandle,
        /// Its owner.
        user_id: String,
        /// The generation of the token that was presented.
        presented_generation: u64,
        /// The session's generation at that moment.
        current_generation: u64,
    },
    /// After a theft, under
    /// [`TheftPolicy::RevokeAllForUser`](crate::config::TheftPolicy::RevokeAllForUser),
    /// the user's other sessions could not all be revoked: the store kept
    /// failing. The stolen session is dead (reported with
    /// [`TheftDetected`](Self::TheftDetected) just before); its next use,
    /// or a call to
    /// [`revoke_all_for_user`](crate::SessionManager::revoke_all_for_user),
    /// finishes the job. Alert on it.
    TheftRevocationIncomplete {
        /// The session whose token was reused.
        handle: SessionHandle,
        /// Its owner, whose other sessions may still be live.
        user_id: String,
    },
    /// A session was revoked.
    Revoked {
        /// The session.
        handle: SessionHandle,
        /// Why.
        reason: RevokeReason,
    },
}

/// Why a session was revoked.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum RevokeReason {
    /// [`SessionManager::revoke`](crate::SessionManager::revoke) was called.
    Requested,
    /// The session was replaced by [`SessionManager::reissue`](crate::SessionManager::reissue).
    Reissued,
    /// A refresh token of this session was reused.
    Theft,
    /// The user created a session beyond
    /// [`max_sessions_per_user`](crate::SessionManagerBuilder::max_sessions_per_user)
    /// and this one was the oldest.
    SessionLimit,
}

/// Receives [`SessionEvent`]s. Called synchronously, once the store change
/// the event reports is known to have happened; keep it quick (queue the
/// work if it is not).
///
/// Any `Fn(&SessionEvent) + Send + Sync + 'static` is a hook.
pub trait EventHook: Send + Sync + 'static {
    /// Called once per event.
    fn on_event(&self, event: &SessionEvent);
}

impl<F: Fn(&SessionEvent) + Send + Sync + 'static> EventHook for F {
    fn on_event(&self, event: &SessionEvent) {
        self(event)
    }
}
