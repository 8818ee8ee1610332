//! Rate limits: per account on the signing operations, per account on the
//! part signatures of multipart uploads (apart, so that a large file can
//! always finish within its own budget), per client address on the login
//! operations, all GCRA.
//!
//! With `REDIS_URL` the limits are shared by every replica (and survive
//! restarts): each check is one call of a GCRA script in Redis
//! ([`Shared`]), on Redis's clock. Without it, or while Redis does not
//! answer (within [`REDIS_TIMEOUT`]), each replica limits on its own with
//! the `governor` crate: an outage degrades to per-replica limits, with a
//! warning at most once a minute, never to refusing everything or to no
//! limit. Idle local keys are dropped every minute, so memory follows the
//! accounts and addresses active in the last minute.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

/// How long a shared check may take before the replica decides alone.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After Redis failed to answer, how long checks are per replica before
/// Redis is asked again.
const DOWN_SECONDS: u64 = 5;

/// One limit: its rate, and the replica's own limiter (also the fallback).
struct Limit<K: std::hash::Hash + Eq + Clone> {
    /// `sign`, `parts` or `login`: the Redis key's scope and the metric.
    scope: &'static str,
    per_minute: u32,
    local: DefaultKeyedRateLimiter<K>,
}

/// The limiters, shared by every request.
#[derive(Clone)]
pub struct Limits {
    sign: Option<Arc<Limit<String>>>,
    parts: Option<Arc<Limit<String>>>,
    login: Option<Arc<Limit<IpAddr>>>,
    shared: Option<Arc<Shared>>,
}

/// GCRA in Redis, on Redis's clock, in microseconds (so that up to a
/// million a minute keep their rate; now, about 1.8e15, is exact in Lua's
/// doubles): the key holds the theoretical arrival time of the next
/// request; a request is allowed when that is at most a minute's allowance
/// ahead of now, and only an allowed one moves it. Answers 0 (allowed) or
/// the wait in µs. Needs Redis 5 or later (`TIME` before a write).
const GCRA: &str = r"
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + emission
local wait = next_tat - now - emission * burst
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.floor((next_tat - now) / 1000) + 1000)
return 0
";

/// The limits' state in Redis, for every replica.
pub struct Shared {
    /// `None` until Redis first answers (a background task keeps trying).
    connection: RwLock<Option<redis::aio::ConnectionManager>>,
    script: redis::Script,
    /// When the last "Redis does not answer" warning was written (unix s).
    warned_at: AtomicU64,
    /// Until when (unix s) checks skip Redis after it failed to answer, so
    /// that an outage costs one timeout every few seconds, not one per
    /// request.
    down_until: AtomicU64,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let connected = self.connection.read().map(|c| c.is_some()).unwrap_or(false);
        f.debug_struct("Shared")
            .field("connected", &connected)
            .field("fallbacks", &self.fallbacks())
            .finish()
    }
}

impl Shared {
    /// Connects to `url`: at once when Redis answers, else in the
    /// background (limits are per replica until it does). `None` if `url`
    /// is not a Redis URL.
    pub async fn connect(url: &str) -> Option<Arc<Self>> {
        let client = redis::Client::open(url).ok()?;
        let shared = Arc::new(Self {
            connection: RwLock::new(None),
            script: redis::Script::new(GCRA),
            warned_at: AtomicU64::new(0),
            down_until: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        });
        // The manager reconnects by itself once it has connected once.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        match client
            .get_connection_manager_with_config(config.clone())
            .await
        {
            Ok(connection) => shared.connected(connection),
            Err(e) => {
                shared.warn(&e);
                let me = shared.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        match client
                            .get_connection_manager_with_config(config.clone())
                            .await
                        {
                            Ok(connection) => return me.connected(connection),
                            Err(e) => me.warn(&e),
                        }
                    }
                });
            }
        }
        Some(shared)
    }

    fn connected(&self, connection: redis::aio::ConnectionManager) {
        tracing::info!("rate limits are shared through Redis");
        if let Ok(mut slot) = self.connection.write() {
            *slot = Some(connection);
        }
    }

    /// How many checks were decided by a replica alone because Redis did
    /// not answer.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// The shared verdict on one more request under `key`, `None` when
    /// Redis does not answer in time.
    async fn check(&self, key: &str, per_minute: u32) -> Option<Result<(), RetryAfter>> {
        let connection = self.connection.read().ok()?.clone();
        let now = crate::clock::unix_now();
        let Some(mut connection) =
            connection.filter(|_| now >= self.down_until.load(Ordering::Relaxed))
        else {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let emission = 60_000_000 / u64::from(per_minute.max(1));
        let mut call = self.script.key(key);
        call.arg(emission).arg(per_minute);
        let answer =
            tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async::<u64>(&mut connection)).await;
        match answer {
            Ok(Ok(0)) => Some(Ok(())),
            Ok(Ok(wait_us)) => Some(Err(RetryAfter(wait_us / 1_000_000 + 1))),
            Ok(Err(e)) => {
                self.failed(&e, now);
                None
            }
            Err(_) => {
                self.failed(&"timed out", now);
                None
            }
        }
    }

    /// Redis did not answer at `now`: per replica for the next seconds.
    fn failed(&self, error: &dyn std::fmt::Display, now: u64) {
        self.warn(error);
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.down_until.store(now + DOWN_SECONDS, Ordering::Relaxed);
    }

    /// "Redis does not answer", at most once a minute; never the URL.
    fn warn(&self, error: &dyn std::fmt::Display) {
        let now = crate::clock::unix_now();
        let last = self.warned_at.load(Ordering::Relaxed);
        if now >= last + 60
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let kind = error.to_string();
            // redis' messages name the failure, not the URL or password.
            tracing::warn!(error = %kind, "Redis does not answer: rate limits are per replica until it does");
        }
    }
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("sign", &self.sign.is_some())
            .field("parts", &self.parts.is_some())
            .field("login", &self.login.is_some())
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

/// How long to wait before the next request would be allowed, whole
/// seconds, at least 1: the `Retry-After` of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

fn limiter<K: std::hash::Hash + Eq + Clone>(
    scope: &'static str,
    per_minute: u32,
) -> Option<Arc<Limit<K>>> {
    let rate = NonZeroU32::new(per_minute)?;
    Some(Arc::new(Limit {
        scope,
        per_minute,
        local: RateLimiter::keyed(Quota::per_minute(rate)),
    }))
}

impl Limits {
    /// `0` turns a limit off.
    pub fn new(sign_per_minute: u32, login_per_minute: u32) -> Self {
        Self {
            sign: limiter("sign", sign_per_minute),
            parts: None,
            login: limiter("login", login_per_minute),
            shared: None,
        }
    }

    /// Part signatures (`UploadPart`) counted apart, `per_minute` per
    /// account; `0` counts them with the other signatures.
    pub fn with_parts(mut self, per_minute: u32) -> Self {
        self.parts = limiter("parts", per_minute);
        self
    }

    /// The limits kept in Redis (see [`Shared`]), for every replica.
    pub fn shared_by(mut self, shared: Arc<Shared>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The Redis side, when the limits are shared.
    pub fn shared(&self) -> Option<&Shared> {
        self.shared.as_deref()
    }

    /// One part signature by `account`: against the parts budget when there
    /// is one, else like any signature.
    pub async fn part(&self, account: &str) -> Result<(), RetryAfter> {
        match &self.parts {
            Some(parts) => self.check(parts, account.to_string()).await,
            None => self.sign(account).await,
        }
    }

    /// One signing request by `account`.
    pub async fn sign(&self, account: &str) -> Result<(), RetryAfter> {
        match &self.sign {
            Some(sign) => self.check(sign, account.to_string()).await,
            None => Ok(()),
        }
    }

    /// One login request from `address`. IPv6 clients are counted per
    /// /64: one subscriber usually holds a whole /64 and can rotate through
    /// its addresses at will.
    pub async fn login(&self, address: IpAddr) -> Result<(), RetryAfter> {
        match &self.login {
            Some(login) => self.check(login, client_network(address)).await,
            None => Ok(()),
        }
    }

    /// Redis's verdict when it answers, else the replica's own.
    async fn check<K>(&self, limit: &Limit<K>, key: K) -> Result<(), RetryAfter>
    where
        K: std::hash::Hash + Eq + Clone + std::fmt::Display,
    {
        if let Some(shared) = &self.shared {
            let name = format!("cosgate:rate:{}:{key}", limit.scope);
            if let Some(verdict) = shared.check(&name, limit.per_minute).await {
                if verdict.is_ok() {
                    // Charged here too, so that an outage does not hand
                    // every replica a fresh minute's allowance.
                    let _ = limit.local.check_key(&key);
                }
                return verdict;
            }
        }
        check(&limit.local, &key)
    }

    /// Drops keys that have been idle long enough to be at full allowance
    /// again; call it periodically.
    pub fn forget_idle(&self) {
        for accounts in [&self.sign, &self.parts].into_iter().flatten() {
            accounts.local.retain_recent();
            accounts.local.shrink_to_fit();
        }
        if let Some(login) = &self.login {
            login.local.retain_recent();
            login.local.shrink_to_fit();
        }
    }

    /// Forgets idle keys every minute, for as long as the limits live.
    pub fn spawn_janitor(&self) {
        let limits = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                limits.forget_idle();
            }
        });
    }
}

/// The key a client address is limited under: IPv4 as it is (an IPv4
/// address mapped into IPv6 too), IPv6 as its /64.
fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), RetryAfter> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        RetryAfter(wait.as_secs() + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_key_has_its_own_allowance() {
        let limits = Limits::new(3, 0);
        for _ in 0..3 {
            assert_eq!(limits.sign("a").await, Ok(()));
        }
        let RetryAfter(wait) = limits.sign("a").await.unwrap_err();
        assert!((1..=21).contains(&wait), "{wait}");
        assert_eq!(
            limits.sign("b").await,
            Ok(()),
            "another account is not limited"
        );
        // 0: no limit.
        for _ in 0..100 {
            assert_eq!(limits.login("127.0.0.1".parse().unwrap()).await, Ok(()));
        }
    }

    #[tokio::test]
    async fn parts_have_their_own_budget() {
        let limits = Limits::new(2, 0).with_parts(3);
        assert_eq!(limits.sign("a").await, Ok(()));
        assert_eq!(limits.sign("a").await, Ok(()));
        assert!(limits.sign("a").await.is_err());
        for _ in 0..3 {
            assert_eq!(
                limits.part("a").await,
                Ok(()),
                "parts are not signatures' budget"
            );
        }
        assert!(limits.part("a").await.is_err());
        let shared = Limits::new(1, 0).with_parts(0);
        assert_eq!(shared.part("b").await, Ok(()));
        assert!(
            shared.sign("b").await.is_err(),
            "without a parts budget they share one"
        );
    }

    #[tokio::test]
    async fn ipv6_clients_share_their_slash_64() {
        let limits = Limits::new(0, 2);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(limits.login(ip("2001:db8:1:2::1")).await, Ok(()));
        assert_eq!(
            limits.login(ip("2001:db8:1:2:ffff:ffff:ffff:fffe")).await,
            Ok(())
        );
        assert!(
            limits.login(ip("2001:db8:1:2:1234::9")).await.is_err(),
            "a third address in the same /64 is the same client"
        );
        assert_eq!(
            limits.login(ip("2001:db8:1:3::1")).await,
            Ok(()),
            "another /64"
        );
        assert_eq!(limits.login(ip("192.0.2.1")).await, Ok(()));
        assert_eq!(limits.login(ip("::ffff:192.0.2.1")).await, Ok(()));
        assert!(
            limits.login(ip("192.0.2.1")).await.is_err(),
            "mapped is the same IPv4"
        );
    }
}
