//! Time, injected. Every rule that depends on "now" (sessions, TOTP, throttling, timelines,
//! reminders) asks a [`Clock`], so tests pin time instead of sleeping.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An instant, as microseconds since the Unix epoch (UTC).
///
/// Stored as a plain integer so it reads and sorts the same on SQLite and PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From microseconds since the Unix epoch (how it is stored).
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// From whole seconds since the Unix epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000))
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// `secs` later (earlier when negative), saturating.
    #[must_use]
    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1_000_000)))
    }

    /// Whole seconds from `earlier` to `self` (negative when `earlier` is later).
    pub const fn secs_since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).div_euclid(1_000_000)
    }

    /// As a `jiff` timestamp, for calendar arithmetic and formatting.
    pub fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_microsecond(self.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// From a `jiff` timestamp.
    pub fn from_jiff(ts: jiff::Timestamp) -> Self {
        Self(ts.as_microsecond())
    }

    /// RFC 3339 in UTC with second precision, e.g. `2026-11-30T16:10:00Z`.
    pub fn rfc3339(self) -> String {
        format!("{:.0}", self.to_jiff())
    }

    /// To the minute in UTC, e.g. `2026-12-15 16:00 UTC`.
    pub fn utc_minute(self) -> String {
        self.to_jiff().strftime("%Y-%m-%d %H:%M UTC").to_string()
    }

    /// To the minute in an IANA time zone, e.g. `Tue 15 Dec 2026, 17:00 CET`. An unknown zone is
    /// an error naming it, never quietly UTC.
    #[cfg(feature = "server")]
    pub fn in_zone(self, zone: &str) -> Result<String, crate::error::Error> {
        let tz =
            jiff::tz::TimeZone::get(zone).map_err(|_| crate::error::Error::UnknownTimeZone {
                name: zone.to_string(),
            })?;
        Ok(self
            .to_jiff()
            .to_zoned(tz)
            .strftime("%a %-d %b %Y, %H:%M %Z")
            .to_string())
    }

    /// Days from `self` to `later`, rounded down.
    pub const fn days_until(self, later: Timestamp) -> i64 {
        later.secs_since(self).div_euclid(86_400)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// A calendar day in UTC as a form or a file writes it (`2026-11-30`): the one parser of days
/// for every field that takes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    start: Timestamp,
    end: Timestamp,
}

impl Day {
    /// Reads `YYYY-MM-DD`; a bad day is an error naming `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, crate::identity::InputError> {
        let raw = raw.trim();
        let date: jiff::civil::Date = raw.parse().map_err(|_| {
            crate::identity::InputError::new(
                field,
                format!("'{raw}' is not a date; write YYYY-MM-DD"),
            )
        })?;
        let start = date.to_zoned(jiff::tz::TimeZone::UTC);
        let end = start.as_ref().ok().and_then(|z| z.tomorrow().ok());
        match (start, end) {
            (Ok(start), Some(end)) => Ok(Self {
                start: Timestamp::from_jiff(start.timestamp()),
                end: Timestamp::from_jiff(end.timestamp()),
            }),
            _ => Err(crate::identity::InputError::new(
                field,
                format!("'{raw}' is out of range"),
            )),
        }
    }

    /// Its first instant: midnight UTC.
    pub fn start(self) -> Timestamp {
        self.start
    }

    /// The first instant after it: the next midnight UTC.
    pub fn end(self) -> Timestamp {
        self.end
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The time now.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_jiff(jiff::Timestamp::now())
    }
}

/// A clock that only moves when told to: for tests, and for the test server's clock endpoint.
#[cfg(feature = "server")]
#[derive(Clone, Debug)]
pub struct ManualClock(std::sync::Arc<std::sync::atomic::AtomicI64>);

#[cfg(feature = "server")]
impl ManualClock {
    /// A clock that stands at `at` until told otherwise.
    pub fn starting_at(at: Timestamp) -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
            at.as_micros(),
        )))
    }

    /// Moves the clock `secs` forward.
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(
            secs.saturating_mul(1_000_000),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: Timestamp) {
        self.0
            .store(at.as_micros(), std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(feature = "server")]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_down_for_instants_before_the_epoch() {
        assert_eq!(Timestamp::from_micros(-1).as_secs(), -1);
        assert_eq!(Timestamp::from_micros(1_999_999).as_secs(), 1);
    }

    #[test]
    fn a_day_runs_from_one_utc_midnight_to_the_next() {
        let day = Day::parse("on", " 2026-11-30 ").unwrap();
        assert_eq!(day.start().rfc3339(), "2026-11-30T00:00:00Z");
        assert_eq!(day.end().rfc3339(), "2026-12-01T00:00:00Z");
        let bad = Day::parse("on", "30/11/2026").unwrap_err();
        assert_eq!(
            (bad.field.as_str(), bad.message.as_str()),
            ("on", "'30/11/2026' is not a date; write YYYY-MM-DD")
        );
        assert_eq!(
            Day::parse("on", "9999-12-31").unwrap_err().message,
            "'9999-12-31' is out of range"
        );
    }

    #[test]
    fn formats_as_rfc3339_utc() {
        let t = Timestamp::from_secs(1_764_518_400);
        assert_eq!(t.rfc3339(), "2025-11-30T16:00:00Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_at(Timestamp::from_secs(100));
        assert_eq!(clock.now(), Timestamp::from_secs(100));
        clock.advance_secs(5);
        assert_eq!(clock.now(), Timestamp::from_secs(105));
    }
}
