//! Per-account credentials reused until half their lifetime.

use std::fmt;

use super::{StsClient, StsError, TemporaryCredentials};

/// Credentials handed out for one account and one set of actions, reused
/// until half their lifetime has passed, so a burst of SDK calls costs one
/// STS call. Concurrent misses for the same key wait for one STS call.
/// Bounded: past `max_entries`, the oldest entries are dropped.
pub struct CredentialCache {
    client: StsClient,
    max_entries: usize,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    entries: std::sync::Mutex<std::collections::HashMap<CacheKey, Entry>>,
}

/// Account, action set (as CAM names, sorted) and lifetime asked for.
type CacheKey = (String, String, u64);

#[derive(Clone)]
struct Entry {
    created: u64,
    cell: std::sync::Arc<tokio::sync::OnceCell<Issued>>,
}

/// Credentials and when they were issued (the server's clock).
#[derive(Debug, Clone)]
pub struct Issued {
    pub credentials: TemporaryCredentials,
    pub start_time: u64,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("client", &self.client)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    pub fn new(
        client: StsClient,
        max_entries: usize,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            client,
            max_entries,
            metrics,
            entries: Default::default(),
        }
    }

    /// The account's credentials for `actions`, from the cache while they
    /// are in the first half of their life, else from STS with the CAM
    /// policy `policy` builds (only then), once `admit` (the quota) has
    /// allowed a new grant.
    pub async fn get<E, F>(
        &self,
        account: &str,
        actions: &str,
        policy: impl FnOnce() -> Result<String, E>,
        duration: u64,
        now: u64,
        admit: impl FnOnce() -> F,
    ) -> Result<Issued, E>
    where
        E: From<StsError>,
        F: std::future::Future<Output = Result<(), E>>,
    {
        let key = (account.to_string(), actions.to_string(), duration);
        let entry = self.entry(key, now);
        let issued = entry
            .cell
            .get_or_try_init(|| async {
                let policy = policy()?;
                admit().await?;
                let name = federation_name(account);
                let started = std::time::Instant::now();
                let credentials = self
                    .client
                    .federation_token(&name, &policy, duration, now)
                    .await;
                let outcome = match &credentials {
                    Ok(_) => "ok",
                    Err(StsError::Refused(_)) => "refused",
                    Err(StsError::LimitExceeded) => "rate_limited",
                    Err(StsError::Unavailable(_)) => "unavailable",
                    Err(StsError::BadAnswer(_)) => "bad_answer",
                };
                self.metrics.upstream("sts", outcome, started.elapsed());
                let credentials = credentials?;
                Ok::<_, E>(Issued {
                    credentials,
                    start_time: now,
                })
            })
            .await?;
        Ok(issued.clone())
    }

    /// The live entry for `key`, or a new empty one in its place.
    fn entry(&self, key: CacheKey, now: u64) -> Entry {
        // The map is consistent at every step, so a panic elsewhere while
        // it was held (a poisoned lock) leaves nothing to repair; a request
        // must never panic for it.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
        if let Some(entry) = entries.get(&key).filter(|e| usable(e)) {
            return entry.clone();
        }
        if entries.len() >= self.max_entries {
            entries.retain(|_, e| usable(e));
            while entries.len() >= self.max_entries {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.created)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => entries.remove(&k),
                    None => break,
                };
            }
        }
        let entry = Entry {
            created: now,
            cell: Default::default(),
        };
        entries.insert(key, entry.clone());
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
    use super::*;
    use crate::signer::Credentials;
    use secrecy::SecretString;
    use std::time::Duration;

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
        let client = StsClient::new(
            "http://127.0.0.1:9",
            "ap-guangzhou",
            Credentials::new("AKID", SecretString::from("k".to_string())),
            Duration::from_millis(100),
        );
        let cache = CredentialCache::new(client, 2, Default::default());
        for (i, account) in ["a", "b", "c", "d"].iter().enumerate() {
            cache.entry((account.to_string(), "PutObject".into(), 1800), i as u64);
        }
        let entries = cache.entries.lock().expect("not poisoned in a test");
        assert_eq!(entries.len(), 2);
        assert!(entries.contains_key(&("d".to_string(), "PutObject".into(), 1800)));
    }
}
