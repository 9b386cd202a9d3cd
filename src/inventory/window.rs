//! When a consumer's people read mail: its send window, such as `Mon-Fri 09:00-17:00`, in the
//! consumer's own time zone. A notice due outside the window waits for the next opening; it is
//! never dropped.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::InputError;

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
#[cfg(feature = "server")]
const MINUTES_PER_DAY: u16 = 24 * 60;

/// Days of the week (Monday first) and the local times between which notices go out.
/// Built only by [`SendWindow::parse`]: it opens on at least one day, and opens before it closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SendWindow {
    days: [bool; 7],
    /// Minutes after local midnight.
    opens: u16,
    /// Minutes after local midnight; 1,440 is midnight at the end of the day.
    closes: u16,
}

impl Default for SendWindow {
    /// Monday to Friday, 09:00 to 17:00.
    fn default() -> Self {
        Self {
            days: [true, true, true, true, true, false, false],
            opens: 9 * 60,
            closes: 17 * 60,
        }
    }
}

/// Monday is 0. "Mon", "mon" and "Monday" are all Monday; "Mo" and "Moonday" are not.
fn day_index(raw: &str) -> Result<usize, InputError> {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let lower = raw.to_ascii_lowercase();
    FULL.iter()
        .position(|full| lower.len() >= 3 && full.starts_with(&lower))
        .ok_or_else(|| {
            InputError::new(
                "send_window",
                format!("'{raw}' is not a day of the week; write Mon, Tue, … Sun"),
            )
        })
}

fn minutes(raw: &str) -> Result<u16, InputError> {
    let bad = || {
        InputError::new(
            "send_window",
            format!("'{raw}' is not a time of day; write 24-hour HH:MM, such as 09:00 or 17:30"),
        )
    };
    let (h, m) = raw.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl SendWindow {
    /// Parses `Mon-Fri 09:00-17:00`: days (a range, or a comma-separated list of days and
    /// ranges) and a local time span; `24:00` is the end of the day.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = raw.trim();
        let (days_part, times_part) = raw.rsplit_once(char::is_whitespace).ok_or_else(|| {
            InputError::new(
                "send_window",
                "write the days and the hours, such as Mon-Fri 09:00-17:00",
            )
        })?;
        let mut days = [false; 7];
        for item in days_part.split(',').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            match item.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (day_index(from.trim())?, day_index(to.trim())?);
                    if to < from {
                        return Err(InputError::new(
                            "send_window",
                            format!(
                                "'{item}' runs backwards; a range goes Monday-first, such as Mon-Fri"
                            ),
                        ));
                    }
                    days[from..=to].iter_mut().for_each(|d| *d = true);
                }
                None => days[day_index(item)?] = true,
            }
        }
        if !days.contains(&true) {
            return Err(InputError::new(
                "send_window",
                "the window never opens: name at least one day",
            ));
        }
        let (opens, closes) = times_part.split_once('-').ok_or_else(|| {
            InputError::new(
                "send_window",
                format!("'{times_part}' is not a span of hours; write it as 09:00-17:00"),
            )
        })?;
        let (opens, closes) = (minutes(opens)?, minutes(closes)?);
        if opens >= closes {
            return Err(InputError::new(
                "send_window",
                "the window is empty: it must open before it closes on the same day",
            ));
        }
        Ok(Self {
            days,
            opens,
            closes,
        })
    }

    /// The local time the window opens, as hours and minutes.
    pub fn opens_at(&self) -> (i8, i8) {
        ((self.opens / 60) as i8, (self.opens % 60) as i8)
    }
}

#[cfg(feature = "server")]
impl SendWindow {
    /// The first instant at or after `at` inside the window, in `zone`: `at` itself when the
    /// window is open then, else the next opening. Openings are local wall-clock times, so a
    /// 09:00 opening stays 09:00 on the days clocks change; an opening that falls in a
    /// daylight-saving gap goes at the first moment after the gap.
    pub fn next_open(
        &self,
        at: crate::clock::Timestamp,
        zone: &jiff::tz::TimeZone,
    ) -> crate::clock::Timestamp {
        let local = at.to_jiff().to_zoned(zone.clone());
        let mut date = local.date();
        for _ in 0..=7 {
            let weekday = date.weekday().to_monday_zero_offset() as usize;
            if self.days[weekday % 7] {
                let open = self.instant(date, self.opens, zone);
                let close = self.instant(date, self.closes, zone);
                match (open, close) {
                    (Some(open), _) if at < open => return open,
                    (_, Some(close)) if at < close => return at,
                    _ => {}
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        // Only at the end of the calendar: send rather than hold a notice forever.
        at
    }

    /// `minutes` after midnight on `date` in `zone` (1,440 is the next midnight).
    fn instant(
        &self,
        date: jiff::civil::Date,
        minutes: u16,
        zone: &jiff::tz::TimeZone,
    ) -> Option<crate::clock::Timestamp> {
        let (date, minutes) = if minutes >= MINUTES_PER_DAY {
            (date.tomorrow().ok()?, minutes - MINUTES_PER_DAY)
        } else {
            (date, minutes)
        };
        let time = jiff::civil::Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).ok()?;
        // "Compatible": a time in a gap moves forward by the gap, a repeated time takes the
        // first of the two.
        let zoned = date.to_datetime(time).to_zoned(zone.clone()).ok()?;
        Some(crate::clock::Timestamp::from_jiff(zoned.timestamp()))
    }
}

impl TryFrom<String> for SendWindow {
    type Error = InputError;

    fn try_from(raw: String) -> Result<Self, InputError> {
        Self::parse(&raw)
    }
}

impl From<SendWindow> for String {
    fn from(w: SendWindow) -> Self {
        w.to_string()
    }
}

impl fmt::Display for SendWindow {
    /// The canonical form: ranges of consecutive days, then the hours.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut i = 0;
        while i < 7 {
            if !self.days[i] {
                i += 1;
                continue;
            }
            let start = i;
            while i + 1 < 7 && self.days[i + 1] {
                i += 1;
            }
            parts.push(if start == i {
                DAY_NAMES[start].to_string()
            } else {
                format!("{}-{}", DAY_NAMES[start], DAY_NAMES[i])
            });
            i += 1;
        }
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(
            f,
            "{} {}-{}",
            parts.join(","),
            hm(self.opens),
            hm(self.closes)
        )
    }
}

#[cfg(test)]
#[cfg(feature = "server")]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn at(zone: &str, local: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = local.parse().unwrap();
        Timestamp::from_jiff(
            dt.to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
                .unwrap()
                .timestamp(),
        )
    }

    fn local(zone: &str, t: Timestamp) -> String {
        t.to_jiff()
            .to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
            .strftime("%a %Y-%m-%d %H:%M %:z")
            .to_string()
    }

    fn next(window: &str, zone: &str, from: &str) -> String {
        let w = SendWindow::parse(window).unwrap();
        local(
            zone,
            w.next_open(at(zone, from), &jiff::tz::TimeZone::get(zone).unwrap()),
        )
    }

    #[test]
    fn windows_parse_and_print_in_one_form() {
        assert_eq!(SendWindow::default().to_string(), "Mon-Fri 09:00-17:00");
        for (raw, shown) in [
            ("Mon-Fri 09:00-17:00", "Mon-Fri 09:00-17:00"),
            ("mon,wed,fri 8:30-12:00", "Mon,Wed,Fri 08:30-12:00"),
            ("Monday-Sunday 00:00-24:00", "Mon-Sun 00:00-24:00"),
            ("Sat, Sun 10:00-11:00", "Sat-Sun 10:00-11:00"),
        ] {
            assert_eq!(SendWindow::parse(raw).unwrap().to_string(), shown, "{raw}");
        }
        for (raw, says) in [
            ("", "write the days and the hours"),
            ("09:00-17:00", "write the days and the hours"),
            ("Mon-Fri 17:00-09:00", "the window is empty"),
            ("Mon-Fri 09:00-09:00", "the window is empty"),
            ("Fri-Mon 09:00-17:00", "runs backwards"),
            ("Moonday 09:00-17:00", "'Moonday' is not a day of the week"),
            ("Mon-Fri 9-17", "is not a time of day"),
            ("Mon-Fri 09:00-25:00", "'25:00' is not a time of day"),
            (", 09:00-17:00", "the window never opens"),
        ] {
            let e = SendWindow::parse(raw).unwrap_err();
            assert!(e.message.contains(says), "{raw}: {}", e.message);
        }
    }

    #[test]
    fn inside_the_window_sends_now_outside_waits_for_the_next_opening() {
        let office = "Mon-Fri 09:00-17:00";
        // Wednesday inside: now. Wednesday evening: Thursday morning. Friday evening: Monday.
        assert_eq!(
            next(office, "Europe/Berlin", "2026-12-02T10:15"),
            "Wed 2026-12-02 10:15 +01:00"
        );
        assert_eq!(
            next(office, "Europe/Berlin", "2026-12-02T17:00"),
            "Thu 2026-12-03 09:00 +01:00"
        );
        assert_eq!(
            next(office, "Europe/Berlin", "2026-12-04T18:00"),
            "Mon 2026-12-07 09:00 +01:00"
        );
        assert_eq!(
            next(office, "Europe/Berlin", "2026-12-05T08:00"),
            "Mon 2026-12-07 09:00 +01:00"
        );
        assert_eq!(
            next(office, "Europe/Berlin", "2026-12-07T06:00"),
            "Mon 2026-12-07 09:00 +01:00"
        );
    }

    #[test]
    fn openings_stay_at_local_time_across_daylight_saving_changes() {
        let daily = "Mon-Sun 09:00-17:00";
        // Berlin springs forward on Sunday 28 March 2027, New York on Sunday 14 March 2027.
        assert_eq!(
            next(daily, "Europe/Berlin", "2027-03-27T20:00"),
            "Sun 2027-03-28 09:00 +02:00"
        );
        assert_eq!(
            next(daily, "Europe/Berlin", "2027-10-30T20:00"),
            "Sun 2027-10-31 09:00 +01:00"
        );
        assert_eq!(
            next(daily, "America/New_York", "2027-03-13T20:00"),
            "Sun 2027-03-14 09:00 -04:00"
        );
        // Lord Howe moves by half an hour (+11:00 to +10:30 on Sunday 4 April 2027).
        assert_eq!(
            next(daily, "Australia/Lord_Howe", "2027-04-03T20:00"),
            "Sun 2027-04-04 09:00 +10:30"
        );
        // Kathmandu is +05:45 all year.
        assert_eq!(
            next(daily, "Asia/Kathmandu", "2027-01-01T18:00"),
            "Sat 2027-01-02 09:00 +05:45"
        );
        // An opening inside the gap (02:30 does not exist in Berlin that night) goes at 03:30.
        assert_eq!(
            next("Sun 02:30-04:00", "Europe/Berlin", "2027-03-27T12:00"),
            "Sun 2027-03-28 03:30 +02:00"
        );
    }
}
