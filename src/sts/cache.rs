//! Per-account credentials reused until half their lifetime, keyed by what
//! they can do, never by how a client phrased its request.
//!
//! Bounds, so that one account cannot flood the cache, evict other accounts'
//! credentials or spend Tencent's account-wide STS limit:
//! - credentials are always asked for the server's lifetime (`QCOS_STS_TTL`);
//!   a client asking for less gets the cached ones with its window clipped;
//! - at most [`MAX_ENTRIES_PER_ACCOUNT`] action sets per account: a new one
//!   past that replaces the account's own oldest;
//! - at most [`MAX_GRANTS_PER_WINDOW`] STS calls per account in each window
//!   of half the lifetime (when cached credentials are renewed); past that,
//!   [`StsError::TooManyGrants`] until the window ends;
//! - a renewal while the account's earlier credentials for the same actions
//!   are still valid is not charged to the quota again.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use super::{StsClient, StsError, TemporaryCredentials};
use crate::metrics::Metrics;

/// The most action sets one account has credentials for at once.
pub const MAX_ENTRIES_PER_ACCOUNT: usize = 4;
/// The most STS calls one account causes per window (half the lifetime).
pub const MAX_GRANTS_PER_WINDOW: u32 = 8;

/// Credentials handed out for one account and one set of actions, reused
/// until half their lifetime has passed, so a burst of SDK calls costs one
/// STS call. Concurrent misses for the same key wait for one STS call.
/// Bounded: past `max_entries` in all, the oldest entries are dropped.
pub struct CredentialCache {
    client: StsClient,
    max_entries: usize,
    /// The lifetime every grant is asked for.
    ttl: u64,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<CacheKey, Entry>,
    /// STS calls per account in its current window.
    grants: HashMap<String, Window>,
}

/// Account and action set (as CAM names, sorted, or a purpose of the
/// server's own).
type CacheKey = (String, String);

#[derive(Clone)]
struct Entry {
    created: u64,
    /// Until when the account has been charged for these actions: a grant
    /// before then is a renewal of what it already paid for.
    charged_until: u64,
    cell: Arc<tokio::sync::OnceCell<Issued>>,
}

#[derive(Clone, Copy)]
struct Window {
    start: u64,
    calls: u32,
}

/// Credentials and when they were issued (the server's clock).
#[derive(Debug, Clone)]
pub struct Issued {
    pub credentials: TemporaryCredentials,
    pub start_time: u64,
    /// Whether this grant was charged to the quota.
    charged: bool,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("client", &self.client)
            .field("max_entries", &self.max_entries)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    pub fn new(client: StsClient, max_entries: usize, ttl: u64, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            max_entries,
            ttl,
            metrics,
            state: Default::default(),
        }
    }

    /// The account's credentials for `actions`, from the cache while they
    /// are in the first half of their life, else from STS with the CAM
    /// policy `policy` builds (only then), once `admit` (the quota) has
    /// allowed a new grant; a renewal of valid credentials is not admitted
    /// again.
    pub async fn get<E, F>(
        &self,
        account: &str,
        actions: &str,
        policy: impl FnOnce() -> Result<String, E>,
        now: u64,
        admit: impl FnOnce() -> F,
    ) -> Result<Issued, E>
    where
        E: From<StsError>,
        F: std::future::Future<Output = Result<(), E>>,
    {
        let key = (account.to_string(), actions.to_string());
        let entry = self.entry(key.clone(), now);
        let issued = entry
            .cell
            .get_or_try_init(|| async {
                let policy = policy()?;
                self.spend_grant(account, now)?;
                let charged = now >= entry.charged_until;
                if charged {
                    admit().await?;
                }
                let name = federation_name(account);
                let started = std::time::Instant::now();
                let credentials = self
                    .client
                    .federation_token(&name, &policy, self.ttl, now)
                    .await;
                let outcome = match &credentials {
                    Ok(_) => "ok",
                    Err(StsError::Refused(_)) => "refused",
                    Err(StsError::LimitExceeded) => "rate_limited",
                    Err(StsError::Unavailable(_)) => "unavailable",
                    Err(StsError::BadAnswer(_)) => "bad_answer",
                    Err(StsError::TooManyGrants { .. }) => "too_many_grants",
                };
                self.metrics.upstream("sts", outcome, started.elapsed());
                let credentials = credentials?;
                Ok::<_, E>(Issued {
                    credentials,
                    start_time: now,
                    charged,
                })
            })
            .await?;
        if issued.charged {
            self.charged(&key, issued.credentials.expired_time);
        }
        Ok(issued.clone())
    }

    /// Drops every credential cached for `account` (at logout): the next
    /// request gets new ones, charged anew.
    pub fn forget(&self, account: &str) {
        let mut state = self.lock();
        state.entries.retain(|(owner, _), _| owner != account);
    }

    /// The window of the account's STS calls: refused past its bound.
    fn spend_grant(&self, account: &str, now: u64) -> Result<(), StsError> {
        let window_length = (self.ttl / 2).max(1);
        let mut state = self.lock();
        let window = state.grants.entry(account.to_string()).or_insert(Window {
            start: now,
            calls: 0,
        });
        if now >= window.start + window_length {
            *window = Window {
                start: now,
                calls: 0,
            };
        }
        if window.calls >= MAX_GRANTS_PER_WINDOW {
            return Err(StsError::TooManyGrants {
                retry_after: window.start + window_length - now,
            });
        }
        window.calls += 1;
        Ok(())
    }

    /// Records that the account paid for `key`'s actions until `until`.
    fn charged(&self, key: &CacheKey, until: u64) {
        if let Some(entry) = self.lock().entries.get_mut(key) {
            entry.charged_until = entry.charged_until.max(until);
        }
    }

    /// The map is consistent at every step, so a panic elsewhere while it
    /// was held (a poisoned lock) leaves nothing to repair; a request must
    /// never panic for it.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live entry for `key`, or a new empty one in its place (which
    /// remembers until when the old one was paid for).
    fn entry(&self, key: CacheKey, now: u64) -> Entry {
        let mut state = self.lock();
        let usable = |e: &Entry| match e.cell.get() {
            // Still being fetched, or failed and to be fetched again.
            None => true,
            Some(issued) => {
                let half = issued.start_time
                    + issued
                        .credentials
                        .expired_time
                        .saturating_sub(issued.start_time)
                        / 2;
                now < half
            }
        };
        let charged_until = match state.entries.get(&key) {
            Some(entry) if usable(entry) => return entry.clone(),
            Some(entry) => entry.charged_until,
            None => 0,
        };
        state.entries.remove(&key);
        // The account's own oldest first, then anyone's when the whole cache
        // is full.
        let own: Vec<(CacheKey, u64)> = state
            .entries
            .iter()
            .filter(|((owner, _), _)| *owner == key.0)
            .map(|(k, e)| (k.clone(), e.created))
            .collect();
        if own.len() >= MAX_ENTRIES_PER_ACCOUNT
            && let Some((oldest, _)) = own.iter().min_by_key(|(_, created)| *created)
        {
            state.entries.remove(oldest);
        }
        if state.entries.len() >= self.max_entries {
            state.entries.retain(|_, e| usable(e));
            while state.entries.len() >= self.max_entries {
                let oldest = state
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.created)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => state.entries.remove(&k),
                    None => break,
                };
            }
        }
        let window_length = (self.ttl / 2).max(1);
        state
            .grants
            .retain(|_, w| now < w.start + window_length || w.calls == 0);
        let entry = Entry {
            created: now,
            charged_until,
            cell: Default::default(),
        };
        state.entries.insert(key, entry.clone());
        entry
    }
}

/// GetFederationToken's `Name`: at most 32 of `[\w+=,.@-]`.
fn federation_name(account: &str) -> String {
    let clean: String = account
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("cg-{clean}").chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;
    use crate::signer::Credentials;

    fn cache(max_entries: usize) -> CredentialCache {
        let client = StsClient::new(
            "http://127.0.0.1:9",
            "ap-guangzhou",
            Credentials::new("AKID", SecretString::from("k".to_string())),
            Duration::from_millis(100),
        );
        CredentialCache::new(client, max_entries, 1800, Default::default())
    }

    #[test]
    fn federation_names_fit_sts_rules() {
        assert_eq!(
            federation_name("acc_0123456789abcdef01234567"),
            "cg-acc_0123456789abcdef01234567"
        );
        assert_eq!(federation_name("a b/c").len(), 8);
        assert!(federation_name(&"x".repeat(100)).len() <= 32);
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = cache(2);
        for (i, account) in ["a", "b", "c", "d"].iter().enumerate() {
            cache.entry((account.to_string(), "PutObject".into()), i as u64);
        }
        let state = cache.lock();
        assert_eq!(state.entries.len(), 2);
        assert!(
            state
                .entries
                .contains_key(&("d".to_string(), "PutObject".into()))
        );
    }

    #[test]
    fn one_account_replaces_only_its_own_entries() {
        let cache = cache(100);
        cache.entry(("other".into(), "PutObject".into()), 0);
        for (i, actions) in ["A", "B", "C", "D", "E", "F", "G"].iter().enumerate() {
            cache.entry(("flood".into(), actions.to_string()), 1 + i as u64);
        }
        let state = cache.lock();
        let own = state.entries.keys().filter(|(a, _)| a == "flood").count();
        assert_eq!(own, MAX_ENTRIES_PER_ACCOUNT);
        assert!(
            state
                .entries
                .contains_key(&("other".to_string(), "PutObject".into()))
        );
    }

    #[test]
    fn sts_calls_per_account_are_bounded_per_window() {
        let cache = cache(100);
        for _ in 0..MAX_GRANTS_PER_WINDOW {
            assert_eq!(cache.spend_grant("a", 10), Ok(()));
        }
        assert_eq!(
            cache.spend_grant("a", 11),
            Err(StsError::TooManyGrants { retry_after: 899 })
        );
        assert_eq!(cache.spend_grant("b", 11), Ok(()), "another account");
        assert_eq!(cache.spend_grant("a", 910), Ok(()), "the next window");
    }
}
