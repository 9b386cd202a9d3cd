//! Login throttling that an outsider cannot turn against a user.
//!
//! Failures are counted per (typed username, client address) and per client address, never per
//! account alone: someone guessing from elsewhere slows down only themselves, and the owner
//! signing in from their usual address is not locked out. The key is the name as typed, so a
//! real username and an unknown one are throttled, answered and timed alike (no enumeration).
//!
//! Instead of a hard lock, each failure past a free allowance doubles a short wait (1 s, 2 s,
//! 4 s … capped). An attempt during the wait is refused without checking the password.
//!
//! Counting is in memory: a refused attempt must not take the database writer, or a flood of
//! guesses would stall every other change. What reaches the audit trail is aggregated per
//! *burst* (the attempts of one pair, or of one throttled address, until they succeed or go
//! quiet): the first failure is recorded when it happens, and when the burst closes, one entry
//! sums up how many failures and refusals followed. Several Rekey instances each keep their
//! own counts, so behind a load balancer the allowance is per instance.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::Timestamp;

/// How many failures are free, and how long waits grow.
#[derive(Clone, Copy, Debug)]
pub struct ThrottlePolicy {
    /// Failures of one username from one address before waits begin.
    pub pair_free: u32,
    /// Failures from one address (any names) before waits begin.
    pub address_free: u32,
    /// The longest wait.
    pub max_wait_secs: i64,
    /// Counts are forgotten, and a burst closes, after this long without an attempt.
    pub quiet_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            pair_free: 5,
            address_free: 20,
            max_wait_secs: 15 * 60,
            quiet_secs: 15 * 60,
        }
    }
}

/// What a counted attempt is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A username as typed (trimmed, lowercased) and the client address.
    Pair(String, Option<IpAddr>),
    /// The client address alone, whatever names it tries.
    Address(Option<IpAddr>),
}

impl ThrottleKey {
    /// The pair for a username as typed.
    pub fn pair(username: &str, address: Option<IpAddr>) -> Self {
        ThrottleKey::Pair(username.trim().to_lowercase(), address)
    }
}

#[derive(Clone, Debug, Default)]
struct Tally {
    failures: u32,
    last_attempt: Option<Timestamp>,
    blocked_until: Option<Timestamp>,
    burst: Option<Burst>,
}

/// An open burst: what has happened since its first (recorded) event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Burst {
    /// When its first event happened.
    pub started: Timestamp,
    /// Failures after the first one, not yet in the audit trail.
    pub more_failures: u32,
    /// Attempts refused without a password check, not yet in the audit trail.
    pub refused: u32,
}

/// A burst that ended: what the summary entry records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedBurst {
    /// What the burst was about.
    pub key: ThrottleKey,
    /// What happened in it.
    pub burst: Burst,
    /// Its last attempt.
    pub last_attempt: Timestamp,
}

/// The throttle's answer before a password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Check the password.
    Open,
    /// Refused until then. `first_of_burst` says whether this refusal opened a burst (and so
    /// must be recorded now); otherwise it was counted in the open burst.
    Wait {
        /// When the next attempt is let through.
        until: Timestamp,
        /// Whether this refusal opened a burst.
        first_of_burst: bool,
    },
}

/// In-memory counts per key.
#[derive(Debug, Default)]
pub struct Throttle {
    policy: ThrottlePolicy,
    tallies: Mutex<HashMap<ThrottleKey, Tally>>,
}

impl Throttle {
    /// Counts under `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            tallies: Mutex::default(),
        }
    }

    /// The limits it counts against.
    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ThrottleKey, Tally>> {
        // A panic elsewhere leaves counts that are still meaningful.
        self.tallies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether an attempt for `username` from `address` may check its password now. A refusal
    /// is counted in the burst of the key that refused it.
    pub fn gate(&self, username: &str, address: Option<IpAddr>, now: Timestamp) -> Gate {
        let mut tallies = self.lock();
        for key in [
            ThrottleKey::Address(address),
            ThrottleKey::pair(username, address),
        ] {
            let tally = tallies.entry(key).or_default();
            self.forget_if_quiet(tally, now);
            if let Some(until) = tally.blocked_until.filter(|until| *until > now) {
                tally.last_attempt = Some(now);
                let first_of_burst = match &mut tally.burst {
                    Some(burst) => {
                        burst.refused += 1;
                        false
                    }
                    None => {
                        tally.burst = Some(Burst {
                            started: now,
                            more_failures: 0,
                            refused: 0,
                        });
                        true
                    }
                };
                return Gate::Wait {
                    until,
                    first_of_burst,
                };
            }
        }
        Gate::Open
    }

    /// Counts a failed password or code. Returns true when it opened the pair's burst (so the
    /// caller records it now); later failures of the burst are summed when it closes.
    pub fn fail(&self, username: &str, address: Option<IpAddr>, now: Timestamp) -> bool {
        let policy = self.policy;
        let mut tallies = self.lock();
        let address_tally = tallies.entry(ThrottleKey::Address(address)).or_default();
        self.forget_if_quiet(address_tally, now);
        count(
            address_tally,
            policy.address_free,
            policy.max_wait_secs,
            now,
        );
        let pair = tallies
            .entry(ThrottleKey::pair(username, address))
            .or_default();
        self.forget_if_quiet(pair, now);
        count(pair, policy.pair_free, policy.max_wait_secs, now);
        match &mut pair.burst {
            Some(burst) => {
                burst.more_failures += 1;
                false
            }
            None => {
                pair.burst = Some(Burst {
                    started: now,
                    more_failures: 0,
                    refused: 0,
                });
                true
            }
        }
    }

    /// A right password or code: the pair's count starts again (the address's does not, or one
    /// known account would let an address guess others' passwords without waiting). Returns the
    /// pair's burst, which the sign-in closes.
    pub fn succeed(
        &self,
        username: &str,
        address: Option<IpAddr>,
        now: Timestamp,
    ) -> Option<ClosedBurst> {
        let key = ThrottleKey::pair(username, address);
        let tally = self.lock().remove(&key)?;
        let burst = tally.burst?;
        Some(ClosedBurst {
            key,
            burst,
            last_attempt: tally.last_attempt.unwrap_or(now),
        })
    }

    /// Closes every burst that has been quiet for the policy's quiet period, and forgets
    /// counts that no longer matter.
    pub fn close_quiet(&self, now: Timestamp) -> Vec<ClosedBurst> {
        let quiet = self.policy.quiet_secs;
        let mut closed = Vec::new();
        self.lock().retain(|key, tally| {
            let last = tally.last_attempt.unwrap_or(now);
            if now.secs_since(last) < quiet {
                return true;
            }
            if let Some(burst) = tally.burst.take() {
                closed.push(ClosedBurst {
                    key: key.clone(),
                    burst,
                    last_attempt: last,
                });
            }
            false
        });
        closed
    }

    /// How many keys are counted (for tests and the bounded-memory guarantee).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn forget_if_quiet(&self, tally: &mut Tally, now: Timestamp) {
        let quiet = tally
            .last_attempt
            .is_some_and(|last| now.secs_since(last) >= self.policy.quiet_secs);
        // A quiet burst keeps its summary for `close_quiet`; only the counts start over.
        if quiet {
            tally.failures = 0;
            tally.blocked_until = None;
        }
    }
}

/// One more failure on a tally: past the free allowance each failure doubles the wait.
fn count(tally: &mut Tally, free: u32, max_wait_secs: i64, now: Timestamp) {
    tally.failures = tally.failures.saturating_add(1);
    tally.last_attempt = Some(now);
    if tally.failures >= free {
        let doublings = (tally.failures - free).min(30);
        let wait = (1_i64 << doublings).min(max_wait_secs);
        tally.blocked_until = Some(now.plus_secs(wait));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn waits_double_after_the_free_failures_and_reach_a_cap() {
        let t = Throttle::new(ThrottlePolicy::default());
        for _ in 0..4 {
            t.fail("alice", ip(1), T0);
            assert_eq!(t.gate("alice", ip(1), T0), Gate::Open);
        }
        let waits: Vec<i64> = (0..12)
            .map(|_| {
                t.fail("alice", ip(1), T0);
                match t.gate("alice", ip(1), T0) {
                    Gate::Wait { until, .. } => until.secs_since(T0),
                    Gate::Open => 0,
                }
            })
            .collect();
        assert_eq!(&waits[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(*waits.last().unwrap(), 15 * 60);
    }

    #[test]
    fn an_attacker_elsewhere_does_not_lock_the_owner_out() {
        let t = Throttle::new(ThrottlePolicy::default());
        for _ in 0..50 {
            t.fail("alice", ip(66), T0);
        }
        assert!(matches!(t.gate("alice", ip(66), T0), Gate::Wait { .. }));
        assert_eq!(t.gate("alice", ip(1), T0), Gate::Open);
    }

    #[test]
    fn known_and_unknown_names_are_throttled_alike() {
        let t = Throttle::new(ThrottlePolicy::default());
        for _ in 0..5 {
            t.fail("alice", ip(9), T0);
            t.fail("no-such-user", ip(8), T0);
        }
        assert_eq!(
            t.gate("alice", ip(9), T0),
            t.gate("no-such-user", ip(8), T0)
        );
    }

    #[test]
    fn an_address_spraying_names_waits_too() {
        let t = Throttle::new(ThrottlePolicy::default());
        for i in 0..20 {
            t.fail(&format!("user{i}"), ip(7), T0);
        }
        assert!(matches!(
            t.gate("someone-new", ip(7), T0),
            Gate::Wait { .. }
        ));
        assert_eq!(t.gate("someone-new", ip(8), T0), Gate::Open);
    }

    #[test]
    fn a_burst_is_recorded_once_and_summed_when_it_closes() {
        let t = Throttle::new(ThrottlePolicy::default());
        assert!(
            t.fail("bob", ip(1), T0),
            "the first failure opens the burst"
        );
        for _ in 0..9 {
            assert!(!t.fail("bob", ip(1), T0));
        }
        let refused = (0..3)
            .map(|_| t.gate("bob", ip(1), T0))
            .filter(|g| matches!(g, Gate::Wait { .. }))
            .count();
        assert_eq!(refused, 3);
        assert!(t.close_quiet(T0.plus_secs(60)).is_empty(), "not quiet yet");
        let closed = t.close_quiet(T0.plus_secs(15 * 60));
        let pair = closed
            .iter()
            .find(|c| matches!(c.key, ThrottleKey::Pair(..)))
            .unwrap();
        assert_eq!(
            pair.burst,
            Burst {
                started: T0,
                more_failures: 9,
                refused: 3
            }
        );
        assert_eq!(t.tracked(), 0, "quiet keys are forgotten");
    }

    #[test]
    fn success_resets_the_pair_but_not_the_address() {
        let t = Throttle::new(ThrottlePolicy::default());
        for i in 0..19 {
            t.fail(&format!("x{i}"), ip(3), T0);
        }
        t.fail("carol", ip(3), T0);
        let closed = t.succeed("carol", ip(3), T0).unwrap();
        assert_eq!(closed.burst.more_failures, 0);
        assert!(matches!(t.gate("carol", ip(3), T0), Gate::Wait { .. }));
    }
}
