//! Login sessions that were ended: an access token names its session
//! (`sid`, the refresh-token family), and once the session is logged out
//! or revoked for a replayed refresh token, its access tokens are refused
//! although their `exp` has not passed.
//!
//! The store says which sessions are ended; each replica remembers an
//! answer for at most `SESSION_CHECK_SECONDS`, so a logout on one replica
//! stops the session's tokens on every other within that bound (and at
//! once on the replica that handled it). Knows no HTTP.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::store::{Store, StoreError};

/// The most sessions remembered at once; past it, stale answers are
/// dropped (and all of them if none is stale).
const MAX_REMEMBERED: usize = 100_000;

/// Which sessions are ended, as far as this replica knows.
#[derive(Debug)]
pub struct Sessions {
    store: Store,
    /// How long an answer from the store is trusted.
    check_every: Duration,
    known: Mutex<HashMap<String, Known>>,
}

#[derive(Debug, Clone, Copy)]
struct Known {
    ended: bool,
    at: Instant,
}

impl Sessions {
    pub fn new(store: Store, check_every: Duration) -> Self {
        Self {
            store,
            check_every,
            known: Mutex::default(),
        }
    }

    /// Whether the session `sid` was ended: from memory while the last
    /// answer is fresh, else from the store. An ended session stays ended.
    pub async fn is_ended(&self, sid: &str) -> Result<bool, StoreError> {
        if let Some(known) = self.lock().get(sid)
            && (known.ended || known.at.elapsed() < self.check_every)
        {
            return Ok(known.ended);
        }
        let ended = self.store.session_revoked(sid).await?;
        self.remember(sid, ended);
        Ok(ended)
    }

    /// The session `sid` was ended here: its tokens are refused at once.
    pub fn ended(&self, sid: &str) {
        self.remember(sid, true);
    }

    /// Records what was learnt of `sid`. An ended session never becomes
    /// live again: a store read that started before the logout committed
    /// must not overwrite the mark the logout left.
    fn remember(&self, sid: &str, ended: bool) {
        let mut known = self.lock();
        let ended = ended || known.get(sid).is_some_and(|k| k.ended);
        if known.len() >= MAX_REMEMBERED {
            let fresh = self.check_every;
            known.retain(|_, k| k.at.elapsed() < fresh);
            if known.len() >= MAX_REMEMBERED {
                known.clear();
            }
        }
        known.insert(
            sid.to_string(),
            Known {
                ended,
                at: Instant::now(),
            },
        );
    }

    /// The map is consistent at every step; a poisoned lock leaves nothing
    /// to repair.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
