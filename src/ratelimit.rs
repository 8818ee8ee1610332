//! Rate limits: per account on the signing operations, per account on the
//! part signatures of multipart uploads (apart, so that a large file can
//! always finish within its own budget), per client address on the login
//! operations (GCRA, the `governor` crate). Limits are per
//! replica. Idle keys are dropped every minute, so memory follows the
//! accounts and addresses active in the last minute.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

/// The limiters, shared by every request.
#[derive(Clone)]
pub struct Limits {
    sign: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    parts: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    login: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("sign", &self.sign.is_some())
            .field("parts", &self.parts.is_some())
            .field("login", &self.login.is_some())
            .finish()
    }
}

/// How long to wait before the next request would be allowed, whole
/// seconds, at least 1: the `Retry-After` of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

fn limiter<K: std::hash::Hash + Eq + Clone>(
    per_minute: u32,
) -> Option<Arc<DefaultKeyedRateLimiter<K>>> {
    let per_minute = NonZeroU32::new(per_minute)?;
    Some(Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))))
}

impl Limits {
    /// `0` turns a limit off.
    pub fn new(sign_per_minute: u32, login_per_minute: u32) -> Self {
        Self {
            sign: limiter(sign_per_minute),
            parts: None,
            login: limiter(login_per_minute),
        }
    }

    /// Part signatures (`UploadPart`) counted apart, `per_minute` per
    /// account; `0` counts them with the other signatures.
    pub fn with_parts(mut self, per_minute: u32) -> Self {
        self.parts = limiter(per_minute);
        self
    }

    /// One part signature by `account`: against the parts budget when there
    /// is one, else like any signature.
    pub fn part(&self, account: &str) -> Result<(), RetryAfter> {
        match &self.parts {
            Some(parts) => check(Some(parts), &account.to_string()),
            None => self.sign(account),
        }
    }

    /// One signing request by `account`.
    pub fn sign(&self, account: &str) -> Result<(), RetryAfter> {
        check(self.sign.as_deref(), &account.to_string())
    }

    /// One login request from `address`. IPv6 clients are counted per
    /// /64: one subscriber usually holds a whole /64 and can rotate through
    /// its addresses at will.
    pub fn login(&self, address: IpAddr) -> Result<(), RetryAfter> {
        check(self.login.as_deref(), &client_network(address))
    }

    /// Drops keys that have been idle long enough to be at full allowance
    /// again; call it periodically.
    pub fn forget_idle(&self) {
        for accounts in [&self.sign, &self.parts].into_iter().flatten() {
            accounts.retain_recent();
            accounts.shrink_to_fit();
        }
        if let Some(login) = &self.login {
            login.retain_recent();
            login.shrink_to_fit();
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
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), RetryAfter> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        RetryAfter(wait.as_secs() + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_allowance() {
        let limits = Limits::new(3, 0);
        for _ in 0..3 {
            assert_eq!(limits.sign("a"), Ok(()));
        }
        let RetryAfter(wait) = limits.sign("a").unwrap_err();
        assert!((1..=21).contains(&wait), "{wait}");
        assert_eq!(limits.sign("b"), Ok(()), "another account is not limited");
        // 0: no limit.
        for _ in 0..100 {
            assert_eq!(limits.login("127.0.0.1".parse().unwrap()), Ok(()));
        }
    }

    #[test]
    fn parts_have_their_own_budget() {
        let limits = Limits::new(2, 0).with_parts(3);
        assert_eq!(limits.sign("a"), Ok(()));
        assert_eq!(limits.sign("a"), Ok(()));
        assert!(limits.sign("a").is_err());
        for _ in 0..3 {
            assert_eq!(limits.part("a"), Ok(()), "parts are not signatures' budget");
        }
        assert!(limits.part("a").is_err());
        let shared = Limits::new(1, 0).with_parts(0);
        assert_eq!(shared.part("b"), Ok(()));
        assert!(
            shared.sign("b").is_err(),
            "without a parts budget they share one"
        );
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let limits = Limits::new(0, 2);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(limits.login(ip("2001:db8:1:2::1")), Ok(()));
        assert_eq!(limits.login(ip("2001:db8:1:2:ffff:ffff:ffff:fffe")), Ok(()));
        assert!(
            limits.login(ip("2001:db8:1:2:1234::9")).is_err(),
            "a third address in the same /64 is the same client"
        );
        assert_eq!(limits.login(ip("2001:db8:1:3::1")), Ok(()), "another /64");
        assert_eq!(limits.login(ip("192.0.2.1")), Ok(()));
        assert_eq!(limits.login(ip("::ffff:192.0.2.1")), Ok(()));
        assert!(
            limits.login(ip("192.0.2.1")).is_err(),
            "mapped is the same IPv4"
        );
    }
}
