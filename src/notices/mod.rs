//! Campaigns and notices: the gated send.
//!
//! A campaign covers credentials and has a timeline. The drafter writes one notice per affected
//! consumer; people edit it (each save is a version), submit it for review, and an approver
//! approves one exact version, which puts it in the outbox. Nothing leaves without an approval
//! recorded against the SHA-256 of the exact bytes sent.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::identity::InputError;

#[cfg(feature = "server")]
pub mod campaigns;
#[cfg(feature = "server")]
pub mod checks;
#[cfg(feature = "server")]
pub mod drafting;
#[cfg(feature = "server")]
pub mod render;
#[cfg(feature = "server")]
pub mod store;

crate::identity::id_type!(CampaignId);
crate::identity::id_type!(NoticeId);

/// The four milestones of a rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// Notices go out.
    pub announce: Timestamp,
    /// The new credential can be fetched and used.
    pub new_key: Timestamp,
    /// The old credential stops being supported.
    pub deadline: Timestamp,
    /// The old credential stops working.
    pub grace_end: Timestamp,
}

impl Timeline {
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

    pub fn milestones(&self) -> [(&'static str, Timestamp); 4] {
        [
            ("Announcement", self.announce),
            ("New key available", self.new_key),
            ("Deadline", self.deadline),
            ("Grace period ends", self.grace_end),
        ]
    }
}

/// What a notice is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Announcement,
    Reminder,
    Escalation,
    Revocation,
    LeakAlert,
    Confirmation,
}

impl NoticeKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Announcement => "announcement",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Escalation => "escalation",
            NoticeKind::Revocation => "revocation",
            NoticeKind::LeakAlert => "leak_alert",
            NoticeKind::Confirmation => "confirmation",
        }
    }
}

/// Where a notice is in the gated send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// Written by the drafter or a person, not yet submitted.
    Drafted,
    /// Waiting for an approver.
    InReview,
    /// Approved and in the outbox.
    Approved,
    Sent,
    /// Delivery failed for good; a person may retry.
    Failed,
}

/// Something a person or the delivery worker does to a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeEvent {
    Edit,
    Submit,
    Approve,
    Reject,
    Delivered,
    DeliveryFailed,
    Retry,
}

impl NoticeState {
    pub const ALL: [NoticeState; 5] = [
        NoticeState::Drafted,
        NoticeState::InReview,
        NoticeState::Approved,
        NoticeState::Sent,
        NoticeState::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            NoticeState::Drafted => "drafted",
            NoticeState::InReview => "in_review",
            NoticeState::Approved => "approved",
            NoticeState::Sent => "sent",
            NoticeState::Failed => "failed",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            NoticeState::Drafted => "Drafted",
            NoticeState::InReview => "In review",
            NoticeState::Approved => "Approved",
            NoticeState::Sent => "Sent",
            NoticeState::Failed => "Failed",
        }
    }

    /// The state after `event`, or why the event is not allowed now.
    pub fn after(self, event: NoticeEvent) -> Result<NoticeState, String> {
        use NoticeEvent as E;
        use NoticeState as S;
        match (self, event) {
            (S::Drafted | S::InReview, E::Edit) => Ok(self),
            (S::Drafted, E::Submit) => Ok(S::InReview),
            (S::InReview, E::Approve) => Ok(S::Approved),
            (S::InReview, E::Reject) => Ok(S::Drafted),
            (S::Approved, E::Delivered) => Ok(S::Sent),
            (S::Approved, E::DeliveryFailed) => Ok(S::Failed),
            (S::Failed, E::Retry) => Ok(S::Approved),
            (S::Approved | S::Sent | S::Failed, E::Edit) => {
                Err("an approved notice cannot be edited; it is exactly what was approved".into())
            }
            (S::InReview, E::Submit) => Err("the notice is already in review".into()),
            (S::Drafted, E::Approve | E::Reject) => {
                Err("submit the notice for review first".into())
            }
            (state, event) => Err(format!(
                "a notice that is {} cannot be {}",
                state.label().to_lowercase(),
                match event {
                    E::Edit => "edited",
                    E::Submit => "submitted",
                    E::Approve => "approved",
                    E::Reject => "rejected",
                    E::Delivered => "delivered",
                    E::DeliveryFailed => "marked failed",
                    E::Retry => "retried",
                }
            )),
        }
    }
}

impl FromStr for NoticeState {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        NoticeState::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim())
            .ok_or_else(|| InputError::new("state", format!("'{s}' is not a notice state")))
    }
}

/// Why the drafter wrote no notice for a consumer of a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotDrafted {
    /// The consumer has no primary or technical contact to write to.
    NoRecipient,
    /// The consumer's time zone is not in the time zone database, so no date could be stated.
    UnknownTimeZone,
}

/// The automatic checks every version of a notice gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Nothing that looks like a secret.
    NoSecrets,
    /// The deadline is stated.
    DeadlineStated,
    /// A credential prefix names the key concerned.
    CredentialNamed,
    /// At least one numbered migration step.
    MigrationSteps,
    /// Every date in the text is a date of the timeline.
    DatesMatchTimeline,
    /// Every link is a well-formed https URL.
    LinksHttps,
}

impl CheckKind {
    pub const ALL: [CheckKind; 6] = [
        CheckKind::NoSecrets,
        CheckKind::DeadlineStated,
        CheckKind::CredentialNamed,
        CheckKind::MigrationSteps,
        CheckKind::DatesMatchTimeline,
        CheckKind::LinksHttps,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            CheckKind::NoSecrets => "No secrets",
            CheckKind::DeadlineStated => "Deadline stated",
            CheckKind::CredentialNamed => "Credential named",
            CheckKind::MigrationSteps => "Migration steps",
            CheckKind::DatesMatchTimeline => "Dates match the timeline",
            CheckKind::LinksHttps => "Links are https",
        }
    }
}

/// The outcome of one check on one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
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
    pub fingerprint: String,
    pub place: String,
    pub length: usize,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_lifecycle_is_checked() {
        use NoticeEvent as E;
        use NoticeState as S;
        assert_eq!(S::Drafted.after(E::Submit), Ok(S::InReview));
        assert_eq!(S::InReview.after(E::Approve), Ok(S::Approved));
        assert_eq!(S::InReview.after(E::Edit), Ok(S::InReview));
        assert_eq!(S::Approved.after(E::Delivered), Ok(S::Sent));
        assert_eq!(S::Failed.after(E::Retry), Ok(S::Approved));
        assert_eq!(
            S::Drafted.after(E::Approve).unwrap_err(),
            "submit the notice for review first"
        );
        assert!(
            S::Approved
                .after(E::Edit)
                .unwrap_err()
                .starts_with("an approved notice cannot be edited")
        );
        assert_eq!(
            S::Sent.after(E::Retry).unwrap_err(),
            "a notice that is sent cannot be retried"
        );
    }

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
