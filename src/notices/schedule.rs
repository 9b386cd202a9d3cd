//! A campaign's series: the notices each consumer gets and when. The announcement goes out at
//! the announcement; reminders and escalations on chosen days before the deadline; a final
//! notice on the deadline's day; a revocation notice when the grace period ends; a confirmation
//! once the consumer is seen to have migrated. Every step is drafted when the campaign starts,
//! reviewed and approved like any notice, and sent only if its condition still holds when it
//! is due ([`NoticeKind::sent_only_if`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{CheckKind, NoticeKind};
use crate::identity::InputError;

/// Reminders before the deadline when a person does not choose.
pub const STANDARD_REMINDER_DAYS: [u16; 4] = [14, 7, 3, 1];
/// Escalations before the deadline when a person does not choose.
pub const STANDARD_ESCALATION_DAYS: [u16; 2] = [3, 1];
const MAX_STEPS_OF_A_KIND: usize = 10;
const MAX_DAYS_BEFORE: u16 = 365;

/// The days before the deadline on which reminders and escalations are due, and whether the
/// series closes with the final, revocation and confirmation notices. Built by
/// [`Schedule::parse`], [`Schedule::standard`] or [`Schedule::announcement_only`]: each list is
/// strictly decreasing, each day between 1 and 365.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleFields", into = "ScheduleFields")]
pub struct Schedule {
    reminders: Vec<u16>,
    escalations: Vec<u16>,
    /// The final, revocation and confirmation notices; all three unless the campaign predates
    /// series (or a script asked for the announcement alone).
    closing: bool,
}

/// A schedule as it travels (to the browser and back): checked again when read, so one that
/// arrives with a day out of range, twice or out of order is refused like a typed one.
#[derive(Serialize, Deserialize)]
struct ScheduleFields {
    reminders: Vec<u16>,
    escalations: Vec<u16>,
    closing: bool,
}

impl TryFrom<ScheduleFields> for Schedule {
    type Error = InputError;

    fn try_from(f: ScheduleFields) -> Result<Self, InputError> {
        Ok(Self {
            reminders: day_counts(
                "reminder_days",
                "reminders",
                f.reminders.into_iter().map(i64::from),
            )?,
            escalations: day_counts(
                "escalation_days",
                "escalations",
                f.escalations.into_iter().map(i64::from),
            )?,
            closing: f.closing,
        })
    }
}

impl From<Schedule> for ScheduleFields {
    fn from(s: Schedule) -> Self {
        Self {
            reminders: s.reminders,
            escalations: s.escalations,
            closing: s.closing,
        }
    }
}

/// One notice of a consumer's series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Step {
    /// The first notice, at the announcement.
    Announcement,
    /// A reminder this many days before the deadline.
    Reminder(u16),
    /// To the escalation contact, this many days before the deadline.
    Escalation(u16),
    /// On the deadline's day.
    Final,
    /// When the grace period ends.
    Revocation,
    /// Once the consumer has migrated.
    Confirmation,
    /// A key was exposed: not part of a series, sent at once.
    LeakAlert,
    /// To Rekey's own people: not part of a series, sent once approved.
    TeamMessage,
}

impl Step {
    /// What kind of notice the step is.
    pub const fn kind(self) -> NoticeKind {
        match self {
            Step::Announcement => NoticeKind::Announcement,
            Step::Reminder(_) => NoticeKind::Reminder,
            Step::Escalation(_) => NoticeKind::Escalation,
            Step::Final => NoticeKind::Final,
            Step::Revocation => NoticeKind::Revocation,
            Step::Confirmation => NoticeKind::Confirmation,
            Step::LeakAlert => NoticeKind::LeakAlert,
            Step::TeamMessage => NoticeKind::TeamMessage,
        }
    }

    /// Days before the deadline: the reminder's or escalation's, else 0 (stored beside the kind,
    /// which together name the step).
    pub const fn days_before(self) -> u16 {
        match self {
            Step::Reminder(d) | Step::Escalation(d) => d,
            _ => 0,
        }
    }

    /// The step a stored kind and day count name.
    pub fn from_stored(kind: NoticeKind, days_before: i64) -> Self {
        let days = u16::try_from(days_before).unwrap_or(0);
        match kind {
            NoticeKind::Reminder => Step::Reminder(days),
            NoticeKind::Escalation => Step::Escalation(days),
            NoticeKind::Final => Step::Final,
            NoticeKind::Revocation => Step::Revocation,
            NoticeKind::Confirmation => Step::Confirmation,
            NoticeKind::Announcement => Step::Announcement,
            NoticeKind::LeakAlert => Step::LeakAlert,
            NoticeKind::TeamMessage => Step::TeamMessage,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = |d: u16| {
            if d == 1 {
                "1 day".to_string()
            } else {
                format!("{d} days")
            }
        };
        match self {
            Step::Reminder(d) => write!(f, "Reminder, {} before the deadline", days(*d)),
            Step::Escalation(d) => write!(f, "Escalation, {} before the deadline", days(*d)),
            other => f.write_str(other.kind().label()),
        }
    }
}

/// Which notices go only while a consumer has not migrated, and which only once it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// Sent whatever the consumer did.
    Always,
    /// Sent only while the consumer has not migrated: reminders, escalations, the final and
    /// revocation notices.
    NotMigrated,
    /// Sent only once the consumer has migrated: the confirmation.
    Migrated,
}

impl NoticeKind {
    /// The condition under which a notice of this kind still goes when it is due.
    pub const fn sent_only_if(self) -> Condition {
        match self {
            NoticeKind::Announcement | NoticeKind::LeakAlert | NoticeKind::TeamMessage => {
                Condition::Always
            }
            NoticeKind::Reminder
            | NoticeKind::Escalation
            | NoticeKind::Final
            | NoticeKind::Revocation => Condition::NotMigrated,
            NoticeKind::Confirmation => Condition::Migrated,
        }
    }

    /// Whether the consumer's send window applies: everything but a leak alert waits for it
    /// (a team message has no consumer, and goes once approved).
    pub const fn waits_for_window(self) -> bool {
        !matches!(self, NoticeKind::LeakAlert | NoticeKind::TeamMessage)
    }

    /// The checks its versions get. A team message names no credential and gives no migration
    /// steps: it is checked for secrets, its dates and its links.
    pub const fn checks(self) -> &'static [CheckKind] {
        match self {
            NoticeKind::TeamMessage => &[
                CheckKind::NoSecrets,
                CheckKind::DatesMatchTimeline,
                CheckKind::LinksHttps,
            ],
            _ => &CheckKind::ALL,
        }
    }
}

fn days_list(field: &str, what: &str, raw: &str) -> Result<Vec<u16>, InputError> {
    let numbers = raw
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse().map_err(|_| {
                InputError::new(
                    field,
                    format!("'{item}' is not a number of days; list whole days before the deadline, such as 14, 7, 3, 1"),
                )
            })
        })
        .collect::<Result<Vec<i64>, _>>()?;
    day_counts(field, what, numbers)
}

/// Days before the deadline, checked: each from 1 to [`MAX_DAYS_BEFORE`], none twice, at most
/// [`MAX_STEPS_OF_A_KIND`]; largest first.
fn day_counts(
    field: &str,
    what: &str,
    numbers: impl IntoIterator<Item = i64>,
) -> Result<Vec<u16>, InputError> {
    let mut days = Vec::new();
    for n in numbers {
        let item = n;
        if n < 1 {
            return Err(InputError::new(
                field,
                format!(
                    "{what} are counted in days before the deadline, at least 1 ('{item}' would be on or after it; the final notice goes on the deadline's day)"
                ),
            ));
        }
        let n = u16::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_DAYS_BEFORE)
            .ok_or_else(|| {
                InputError::new(
                    field,
                    format!("{what} go at most {MAX_DAYS_BEFORE} days before the deadline"),
                )
            })?;
        if days.contains(&n) {
            return Err(InputError::new(field, format!("{n} days is listed twice")));
        }
        days.push(n);
    }
    if days.len() > MAX_STEPS_OF_A_KIND {
        return Err(InputError::new(
            field,
            format!("at most {MAX_STEPS_OF_A_KIND} {what} per campaign"),
        ));
    }
    days.sort_unstable_by(|a, b| b.cmp(a));
    Ok(days)
}

impl Schedule {
    /// Reminders 14, 7, 3 and 1 days before the deadline; escalations 3 and 1 days before.
    pub fn standard() -> Self {
        Self {
            reminders: STANDARD_REMINDER_DAYS.to_vec(),
            escalations: STANDARD_ESCALATION_DAYS.to_vec(),
            closing: true,
        }
    }

    /// The announcement alone: campaigns planned before series existed, and scripts that
    /// measure one notice per consumer.
    pub fn announcement_only() -> Self {
        Self {
            reminders: Vec::new(),
            escalations: Vec::new(),
            closing: false,
        }
    }

    /// Day lists as a person writes them ("14, 7, 3, 1"); empty means none of that kind. The
    /// series closes with the final, revocation and confirmation notices.
    pub fn parse(reminders: &str, escalations: &str) -> Result<Self, InputError> {
        Ok(Self {
            reminders: days_list("reminder_days", "reminders", reminders)?,
            escalations: days_list("escalation_days", "escalations", escalations)?,
            closing: true,
        })
    }

    /// As stored: the two day lists, and whether the closing notices are part of it.
    pub fn stored(reminders: &str, escalations: &str, closing: bool) -> Result<Self, InputError> {
        Ok(Self {
            closing,
            ..Self::parse(reminders, escalations)?
        })
    }

    /// Whether the series closes with the final, revocation and confirmation notices.
    pub fn closing(&self) -> bool {
        self.closing
    }

    /// Days before the deadline of each reminder, largest (earliest in the calendar) first.
    pub fn reminders(&self) -> &[u16] {
        &self.reminders
    }

    /// Days before the deadline of each escalation, largest first.
    pub fn escalations(&self) -> &[u16] {
        &self.escalations
    }

    /// The steps of every consumer's series, in the order they fall due.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = vec![Step::Announcement];
        steps.extend(self.reminders.iter().map(|d| Step::Reminder(*d)));
        steps.extend(self.escalations.iter().map(|d| Step::Escalation(*d)));
        steps.sort_by_key(|s| match s {
            Step::Announcement => (0, 0, 0),
            Step::Reminder(d) => (1, u16::MAX - d, 0),
            Step::Escalation(d) => (1, u16::MAX - d, 1),
            _ => (2, 0, 0),
        });
        if self.closing {
            steps.extend([Step::Final, Step::Revocation, Step::Confirmation]);
        }
        steps
    }

    /// A day list as stored and shown: "14,7,3,1".
    pub fn join(days: &[u16]) -> String {
        days.iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(feature = "server")]
mod timing {
    use super::{Schedule, Step};
    use crate::clock::Timestamp;
    use crate::identity::InputError;
    use crate::inventory::window::SendWindow;
    use crate::notices::Timeline;

    impl Schedule {
        /// Every reminder and escalation must fall after the announcement: a reminder 20 days
        /// before a deadline 14 days after the announcement is refused, naming it.
        pub fn fits(&self, timeline: &Timeline) -> Result<(), InputError> {
            let lead_days =
                (timeline.deadline().as_secs() - timeline.announce().as_secs()) / 86_400;
            for (field, what, days) in [
                ("reminder_days", "reminder", &self.reminders),
                ("escalation_days", "escalation", &self.escalations),
            ] {
                if let Some(too_early) = days.iter().find(|d| i64::from(**d) >= lead_days) {
                    return Err(InputError::new(
                        field,
                        format!(
                            "a {what} {too_early} days before the deadline would come before the announcement, which is {lead_days} days before it"
                        ),
                    ));
                }
            }
            Ok(())
        }
    }

    impl Step {
        /// When the step is due for a consumer in `zone` with `window`; `None` for the
        /// confirmation, which is due when the consumer migrates. Reminders, escalations and
        /// the final notice are due when the window opens on their local day (so "3 days
        /// before" is three calendar days in the consumer's own time, whatever the clocks did
        /// meanwhile), never before the announcement nor, for the final notice, after the
        /// deadline.
        pub fn due(
            self,
            timeline: &Timeline,
            window: &SendWindow,
            zone: &jiff::tz::TimeZone,
        ) -> Option<Timestamp> {
            let on_day_before_deadline = |days: u16| {
                let deadline = timeline.deadline().to_jiff().to_zoned(zone.clone());
                let (h, m) = window.opens_at();
                let date = deadline
                    .date()
                    .checked_sub(jiff::Span::new().days(i64::from(days)))
                    .ok()?;
                let time = jiff::civil::Time::new(h, m, 0, 0).ok()?;
                let zoned = date.to_datetime(time).to_zoned(zone.clone()).ok()?;
                Some(Timestamp::from_jiff(zoned.timestamp()).max(timeline.announce()))
            };
            match self {
                Step::Announcement => Some(timeline.announce()),
                Step::Reminder(d) | Step::Escalation(d) => on_day_before_deadline(d),
                // The morning of the deadline's day, or of the day before when the deadline
                // comes before the window opens.
                Step::Final => on_day_before_deadline(0)
                    .filter(|t| *t <= timeline.deadline())
                    .or_else(|| on_day_before_deadline(1)),
                Step::Revocation => Some(timeline.grace_end()),
                Step::Confirmation | Step::LeakAlert | Step::TeamMessage => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_lists_parse_largest_first_and_name_what_is_wrong() {
        let s = Schedule::parse("1, 7 14,3", "").unwrap();
        assert_eq!(s.reminders(), &[14, 7, 3, 1]);
        assert!(s.escalations().is_empty());
        for (reminders, says) in [
            ("0", "at least 1"),
            ("-3", "at least 1"),
            ("7, 7", "7 days is listed twice"),
            ("seven", "'seven' is not a number of days"),
            ("400", "at most 365 days"),
            ("1,2,3,4,5,6,7,8,9,10,11", "at most 10 reminders"),
        ] {
            let e = Schedule::parse(reminders, "3").unwrap_err();
            assert_eq!(e.field, "reminder_days");
            assert!(e.message.contains(says), "{reminders}: {}", e.message);
        }
    }

    #[test]
    fn a_schedule_read_from_the_wire_is_checked_like_a_typed_one() {
        let standard = Schedule::standard();
        let json = serde_json::to_string(&standard).unwrap();
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), standard);
        let sorted: Schedule =
            serde_json::from_str(r#"{"reminders":[1,14],"escalations":[],"closing":true}"#)
                .unwrap();
        assert_eq!(sorted.reminders(), &[14, 1]);
        for (json, says) in [
            (
                r#"{"reminders":[7,7],"escalations":[],"closing":true}"#,
                "7 days is listed twice",
            ),
            (
                r#"{"reminders":[0],"escalations":[],"closing":true}"#,
                "at least 1",
            ),
            (
                r#"{"reminders":[],"escalations":[900],"closing":true}"#,
                "at most 365 days",
            ),
        ] {
            let e = serde_json::from_str::<Schedule>(json).unwrap_err();
            assert!(e.to_string().contains(says), "{json}: {e}");
        }
    }

    #[test]
    fn the_series_runs_in_calendar_order() {
        assert_eq!(
            Schedule::standard().steps(),
            vec![
                Step::Announcement,
                Step::Reminder(14),
                Step::Reminder(7),
                Step::Reminder(3),
                Step::Escalation(3),
                Step::Reminder(1),
                Step::Escalation(1),
                Step::Final,
                Step::Revocation,
                Step::Confirmation,
            ]
        );
        assert_eq!(
            Step::Reminder(1).to_string(),
            "Reminder, 1 day before the deadline"
        );
        for step in Schedule::standard().steps() {
            assert_eq!(
                Step::from_stored(step.kind(), step.days_before().into()),
                step
            );
        }
    }

    #[cfg(feature = "server")]
    #[test]
    fn due_times_are_local_days_before_the_deadline_at_the_window_opening() {
        use crate::clock::Timestamp;
        use crate::inventory::window::SendWindow;
        use crate::notices::Timeline;
        let utc = |s: &str| Timestamp::from_jiff(s.parse::<jiff::Timestamp>().unwrap());
        // Deadline Tuesday 6 April 2027, 16:00 UTC; Berlin springs forward on 28 March.
        let timeline = Timeline::new(
            utc("2027-03-01T08:00:00Z"),
            utc("2027-03-08T08:00:00Z"),
            utc("2027-04-06T16:00:00Z"),
            utc("2027-04-20T16:00:00Z"),
        )
        .unwrap();
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let w = SendWindow::default();
        let local = |t: Timestamp| {
            t.to_jiff()
                .to_zoned(berlin.clone())
                .strftime("%Y-%m-%d %H:%M %:z")
                .to_string()
        };
        assert_eq!(
            local(Step::Reminder(14).due(&timeline, &w, &berlin).unwrap()),
            "2027-03-23 09:00 +01:00"
        );
        assert_eq!(
            local(Step::Reminder(7).due(&timeline, &w, &berlin).unwrap()),
            "2027-03-30 09:00 +02:00"
        );
        assert_eq!(
            local(Step::Final.due(&timeline, &w, &berlin).unwrap()),
            "2027-04-06 09:00 +02:00"
        );
        assert_eq!(
            Step::Revocation.due(&timeline, &w, &berlin),
            Some(timeline.grace_end())
        );
        assert_eq!(Step::Confirmation.due(&timeline, &w, &berlin), None);
        // A final notice never goes after the deadline: in Tokyo the deadline is 01:00, so it
        // goes the morning before.
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(
            Step::Final.due(&timeline, &w, &tokyo).map(|t| t
                .to_jiff()
                .to_zoned(tokyo.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()),
            Some("2027-04-06 09:00".to_string())
        );
        assert!(Schedule::standard().fits(&timeline).is_ok());
        let e = Schedule::parse("40", "")
            .unwrap()
            .fits(&timeline)
            .unwrap_err();
        assert!(
            e.message
                .contains("40 days before the deadline would come before the announcement"),
            "{}",
            e.message
        );
    }
}
