//! Campaigns and notices: the gated send.
//!
//! A campaign covers credentials and has a timeline. The drafter writes one notice per affected
//! consumer; people edit it (each save is a version), submit it for review, and an approver
//! approves one exact version, which puts it in the outbox. Nothing leaves without an approval
//! recorded against the SHA-256 of the exact bytes sent.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::declare::{Choices, id_type, named_enum, parsed_string};
use crate::identity::InputError;

#[cfg(feature = "server")]
pub mod by_hand;
#[cfg(feature = "server")]
pub mod campaigns;
#[cfg(feature = "server")]
pub mod checks;
#[cfg(feature = "server")]
pub mod drafting;
#[cfg(feature = "server")]
pub mod due;
#[cfg(feature = "server")]
pub mod extensions;
pub mod fallbacks;
#[cfg(feature = "server")]
pub mod model_draft;
#[cfg(feature = "server")]
pub mod model_drafting;
#[cfg(feature = "server")]
pub mod progress;
#[cfg(feature = "server")]
pub mod prompt_templates;
#[cfg(feature = "server")]
pub mod queue;
pub mod schedule;
#[cfg(feature = "server")]
pub mod tags;
#[cfg(feature = "server")]
pub mod team;
#[cfg(feature = "server")]
pub mod versions;
pub mod views;
#[cfg(feature = "server")]
pub mod workflow;

id_type!(
    /// A rotation campaign.
    CampaignId
);
id_type!(
    /// One consumer's notice in a campaign.
    NoticeId
);

parsed_string!(
    /// A campaign's name: 1 to 120 characters of one line.
    CampaignName, parse = CampaignName::parse
);

impl CampaignName {
    /// 1 to 120 characters, trimmed.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InputError::new("name", "give the campaign a name"));
        }
        if s.chars().count() > 120 {
            return Err(InputError::new(
                "name",
                "a campaign name has at most 120 characters",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(InputError::new("name", "a campaign name is one line"));
        }
        Ok(Self(s.to_string()))
    }
}

/// The four milestones of a rotation, in order (see [`Timeline::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TimelineFields", into = "TimelineFields")]
pub struct Timeline {
    announce: Timestamp,
    new_key: Timestamp,
    deadline: Timestamp,
    grace_end: Timestamp,
}

/// A timeline on the wire; it becomes a [`Timeline`] only through [`Timeline::new`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct TimelineFields {
    announce: Timestamp,
    new_key: Timestamp,
    deadline: Timestamp,
    grace_end: Timestamp,
}

impl TryFrom<TimelineFields> for Timeline {
    type Error = InputError;

    fn try_from(f: TimelineFields) -> Result<Self, InputError> {
        Timeline::new(f.announce, f.new_key, f.deadline, f.grace_end)
    }
}

impl From<Timeline> for TimelineFields {
    fn from(t: Timeline) -> Self {
        Self {
            announce: t.announce,
            new_key: t.new_key,
            deadline: t.deadline,
            grace_end: t.grace_end,
        }
    }
}

impl Timeline {
    /// The same timeline with a later deadline, for one consumer given more time: after the
    /// current deadline and before the grace period ends.
    pub fn extended_to(&self, deadline: Timestamp) -> Result<Timeline, InputError> {
        if deadline <= self.deadline {
            return Err(InputError::new(
                "deadline_at",
                format!(
                    "an extension gives a later deadline than {}",
                    self.deadline.utc_minute()
                ),
            ));
        }
        if deadline >= self.grace_end {
            return Err(InputError::new(
                "deadline_at",
                format!(
                    "an extension ends before the grace period does ({}); after it the old key stops working",
                    self.grace_end.utc_minute()
                ),
            ));
        }
        Ok(Timeline { deadline, ..*self })
    }

    /// Notices go out.
    pub const fn announce(&self) -> Timestamp {
        self.announce
    }

    /// The new credential can be fetched and used.
    pub const fn new_key(&self) -> Timestamp {
        self.new_key
    }

    /// The old credential stops being supported.
    pub const fn deadline(&self) -> Timestamp {
        self.deadline
    }

    /// The old credential stops working.
    pub const fn grace_end(&self) -> Timestamp {
        self.grace_end
    }

    /// Milestones must come in order: announce ≤ new key ≤ deadline < grace end, and the
    /// deadline must come after the announcement.
    pub fn new(
        announce: Timestamp,
        new_key: Timestamp,
        deadline: Timestamp,
        grace_end: Timestamp,
    ) -> Result<Self, InputError> {
        if new_key < announce {
            return Err(InputError::new(
                "new_key_at",
                "the new key cannot be available before the announcement",
            ));
        }
        if deadline <= announce {
            return Err(InputError::new(
                "deadline_at",
                "the deadline must come after the announcement",
            ));
        }
        if deadline < new_key {
            return Err(InputError::new(
                "deadline_at",
                "the deadline cannot come before the new key is available",
            ));
        }
        if grace_end <= deadline {
            return Err(InputError::new(
                "grace_end_at",
                "the grace period must end after the deadline",
            ));
        }
        Ok(Self {
            announce,
            new_key,
            deadline,
            grace_end,
        })
    }

    /// The four milestones with their names, in order, for timelines and notices.
    pub fn milestones(&self) -> [(&'static str, Timestamp); 4] {
        [
            ("Announcement", self.announce),
            ("New key available", self.new_key),
            ("Deadline", self.deadline),
            ("Grace period ends", self.grace_end),
        ]
    }
}

named_enum!(
    /// What a notice is about.
    NoticeKind, field = "kind", choices = Choices::Named("a kind of notice"), {
        /// The first notice of a rotation.
        Announcement => ("announcement", "Announcement"),
        /// Before the deadline, to those who have not migrated.
        Reminder => ("reminder", "Reminder"),
        /// To the escalation contact, when the deadline nears.
        Escalation => ("escalation", "Escalation"),
        /// On the deadline's day, to those who have not migrated.
        Final => ("final", "Final notice"),
        /// When the old key stops working.
        Revocation => ("revocation", "Revocation"),
        /// A key was exposed; sent at once.
        LeakAlert => ("leak_alert", "Leak alert"),
        /// The consumer's migration was seen.
        Confirmation => ("confirmation", "Confirmation"),
        /// To Rekey's own people about the rotation (an agent's summary, say), not to a
        /// consumer.
        TeamMessage => ("team_message", "Team message"),
    }
);

named_enum!(
    /// Where a notice is in the gated send.
    NoticeState, field = "state", choices = Choices::Named("a notice state"), {
        /// Written by the drafter or a person, not yet submitted.
        Drafted => ("drafted", "Drafted"),
        /// Waiting for an approver.
        InReview => ("in_review", "In review"),
        /// Approved and in the outbox.
        Approved => ("approved", "Approved"),
        /// Accepted by the SMTP server or put in the local mailbox.
        Sent => ("sent", "Sent"),
        /// Delivery failed for good; a person may retry.
        Failed => ("failed", "Failed"),
        /// Approved, but its condition no longer held when it came due (a reminder to a
        /// consumer that had migrated meanwhile): it never left, and says why.
        NotSent => ("not_sent", "Not sent"),
    }
);

named_enum!(
    /// Why the drafter wrote no notice for a consumer of a campaign.
    NotDrafted, field = "reason", choices = Choices::OneOf, {
        /// The consumer has no primary or technical contact to write to.
        NoRecipient => ("no_recipient", "No contact to write to"),
        /// The consumer's time zone is not in the time zone database, so no date could be
        /// stated.
        UnknownTimeZone => ("unknown_time_zone", "Unknown time zone"),
        /// The consumer has no escalation contact: its escalations are not drafted.
        NoEscalationContact => ("no_escalation_contact", "No escalation contact"),
    }
);

named_enum!(
    /// Why an approved notice never left: its condition no longer held when it came due.
    Withheld, field = "reason", choices = Choices::OneOf, {
        /// A reminder, escalation, final or revocation notice to a consumer that had migrated.
        ConsumerMigrated => ("consumer_migrated", "The consumer had migrated"),
        /// A confirmation to a consumer that had not migrated when the grace period ended.
        NotMigrated => ("not_migrated", "The consumer had not migrated by the end of the grace period"),
        /// Its campaign was cancelled.
        CampaignCancelled => ("campaign_cancelled", "The campaign was cancelled"),
    }
);

named_enum!(
    /// Why an approved notice that came due waits before it is sent.
    WaitReason, field = "reason", choices = Choices::OneOf, {
        /// It came due outside the consumer's send window: it goes at the next opening.
        SendWindow => ("send_window", "Outside the consumer's send window"),
        /// A confirmation waits for the consumer to migrate (until the grace period ends).
        Migration => ("migration", "Waiting for the consumer to migrate"),
        /// Its campaign is paused: held until a person resumes it.
        CampaignPaused => ("campaign_paused", "Held: the campaign is paused"),
    }
);

named_enum!(
    /// The automatic checks every version of a notice gets.
    CheckKind, field = "check", choices = Choices::OneOf, {
        /// Nothing that looks like a secret.
        NoSecrets => ("no_secrets", "No secrets"),
        /// The deadline is stated.
        DeadlineStated => ("deadline_stated", "Deadline stated"),
        /// A credential prefix names the key concerned.
        CredentialNamed => ("credential_named", "Credential named"),
        /// At least one numbered migration step.
        MigrationSteps => ("migration_steps", "Migration steps"),
        /// Every date in the text is a date of the timeline.
        DatesMatchTimeline => ("dates_match_timeline", "Dates match the timeline"),
        /// Every link is a well-formed https URL.
        LinksHttps => ("links_https", "Links are https"),
    }
);

/// The outcome of one check on one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which check.
    pub kind: CheckKind,
    /// Empty when the check passed; otherwise each problem, with where it is.
    pub problems: Vec<String>,
    /// Strings the secret check flagged only because they look random: an approver may
    /// acknowledge each as not secret, with a reason. Known key formats and vault values are
    /// never here.
    #[serde(default)]
    pub flagged: Vec<Flagged>,
}

/// A random-looking string that may be a secret, named by its keyed fingerprint (never
/// repeated) and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flagged {
    /// The string's keyed fingerprint.
    pub fingerprint: String,
    /// Where it stands: `subject` or `line L, column C`.
    pub place: String,
    /// Its length in characters.
    pub length: usize,
}

impl CheckResult {
    /// Whether the check found no problem.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_runs_forwards() {
        let t = |d: i64| Timestamp::from_secs(d * 86_400);
        assert!(Timeline::new(t(1), t(2), t(10), t(12)).is_ok());
        assert!(Timeline::new(t(1), t(1), t(10), t(12)).is_ok());
        assert_eq!(
            Timeline::new(t(2), t(1), t(10), t(12)).unwrap_err().field,
            "new_key_at"
        );
        assert_eq!(
            Timeline::new(t(1), t(2), t(10), t(10)).unwrap_err().field,
            "grace_end_at"
        );
        assert_eq!(
            Timeline::new(t(1), t(11), t(10), t(12)).unwrap_err().field,
            "deadline_at"
        );
    }
}
