//! What the review queue shows: a notice's line and the queue's filter, in its two forms (as a
//! URL carries it, and parsed). No storage here: the browser reads the same typed values the
//! server returns.

use serde::{Deserialize, Serialize};

use super::fallbacks::Fallbacks;

use super::{CampaignId, CampaignName, CheckResult, NoticeId, NoticeKind, NoticeState, Timeline};
use crate::audit::Sha256Hex;
use crate::clock::Timestamp;
use crate::declare::{Choices, named_enum};
use crate::delivery::DeliveryRecord;
use crate::identity::{EmailAddress, InputError};
use crate::inventory::views::Tag;
use crate::inventory::{ConsumerId, IntegrationPattern, TimeZoneName};

/// A line of the review queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeSummary {
    /// The notice.
    pub id: NoticeId,
    /// The campaign it belongs to.
    pub campaign: CampaignId,
    /// That campaign's name.
    pub campaign_name: CampaignName,
    /// Who it is written to: a consumer, or Rekey's own team.
    pub addressee: Addressee,
    /// Where it is in review and delivery.
    pub state: NoticeState,
    /// The address it goes to.
    pub recipient: EmailAddress,
    /// Its current version's number.
    pub version: i64,
    /// Whether its current version passes every check.
    pub checks_passed: bool,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Its step of the campaign's series.
    pub step: super::schedule::Step,
    /// When it is due to go (within the consumer's send window); `None` when it goes once
    /// approved, or for a confirmation once the consumer has migrated.
    pub due_at: Option<Timestamp>,
}

/// Who a notice is written to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Addressee {
    /// A consumer of the API: the campaign's notices.
    Consumer {
        /// The consumer.
        id: ConsumerId,
        /// Its name.
        name: String,
        /// Its integration pattern, which the guide is written for.
        pattern: IntegrationPattern,
    },
    /// Rekey's own people (a user, or the team address in settings): a team message about the
    /// rotation, such as an agent's summary.
    Team,
}

impl Addressee {
    /// The consumer, for a consumer's notice.
    pub fn consumer(&self) -> Option<ConsumerId> {
        match self {
            Addressee::Consumer { id, .. } => Some(*id),
            Addressee::Team => None,
        }
    }

    /// The consumer's integration pattern, for a consumer's notice.
    pub fn pattern(&self) -> Option<IntegrationPattern> {
        match self {
            Addressee::Consumer { pattern, .. } => Some(*pattern),
            Addressee::Team => None,
        }
    }

    /// How a list names it: the consumer's name, or "Team".
    pub fn name(&self) -> &str {
        match self {
            Addressee::Consumer { name, .. } => name,
            Addressee::Team => "Team",
        }
    }
}

/// Which notices the queue shows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct QueueFilter {
    /// Only this campaign's notices.
    pub campaign: Option<CampaignId>,
    /// Only notices to consumers integrating this way.
    pub pattern: Option<IntegrationPattern>,
    /// Only notices whose current version passes (true) or fails (false) its checks.
    pub checks_passed: Option<bool>,
    /// One state; `None` means pending review (drafted or in review).
    pub state: Option<NoticeState>,
    /// Only notices of this kind (leak alerts, say).
    pub kind: Option<NoticeKind>,
    /// Only notices carrying this tag.
    pub tag: Option<Tag>,
}

/// The queue's filters as a URL carries them (`?campaign=…&checks=failing`), text as given;
/// [`QueueQuery::parse`] turns them into a [`QueueFilter`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueQuery {
    /// A campaign's id.
    pub campaign: Option<String>,
    /// An integration pattern's stored name.
    pub pattern: Option<String>,
    /// `passing` or `failing`.
    pub checks: Option<String>,
    /// A notice state, or `pending` (drafted or in review, the default).
    pub state: Option<String>,
    /// A notice kind's stored name, e.g. `leak_alert`.
    #[serde(default)]
    pub kind: Option<String>,
    /// A tag on the notice.
    #[serde(default)]
    pub tag: Option<String>,
}

impl QueueQuery {
    /// The filter these parameters ask for; blank ones count as absent, and a bad value is an
    /// error naming its parameter.
    pub fn parse(&self) -> Result<QueueFilter, InputError> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Ok(QueueFilter {
            campaign: given(&self.campaign).map(|c| c.parse()).transpose()?,
            pattern: given(&self.pattern).map(|p| p.parse()).transpose()?,
            checks_passed: match given(&self.checks).as_deref() {
                None => None,
                Some("passing") => Some(true),
                Some("failing") => Some(false),
                Some(other) => {
                    return Err(InputError::new(
                        "checks",
                        format!("'{other}' is not passing or failing"),
                    ));
                }
            },
            state: given(&self.state)
                .filter(|s| s != "pending")
                .map(|s| s.parse())
                .transpose()?,
            kind: given(&self.kind).map(|k| k.parse()).transpose()?,
            tag: given(&self.tag).map(|t| Tag::parse(&t)).transpose()?,
        })
    }
}

/// One page of the review queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePage {
    /// This page's notices, oldest first.
    pub rows: Vec<NoticeSummary>,
    /// Every notice the filter matches, on all pages.
    pub total: i64,
    /// Counted from 1.
    pub page: u32,
    /// Campaigns to filter by: (id, name).
    pub campaigns: Vec<(CampaignId, CampaignName)>,
}

/// Some notices of a list, and how many the whole list holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeList {
    /// The first lines, oldest first.
    pub rows: Vec<NoticeSummary>,
    /// Every notice of the list.
    pub total: i64,
}

/// A consumer of a running campaign that needs an engineer's eye, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRisk {
    /// The campaign.
    pub campaign: CampaignId,
    /// Its name.
    pub campaign_name: CampaignName,
    /// The consumer.
    pub consumer: ConsumerId,
    /// Its name.
    pub name: String,
    /// Why it is at risk, in words.
    pub why: String,
}

/// An override of the revocation safeguard, as the home page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideLine {
    /// The credential, by the key-issuing system's id.
    pub credential: String,
    /// Its consumer's page.
    pub consumer: ConsumerId,
    /// Why it was asked for.
    pub reason: String,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: Timestamp,
    /// Whether a second person has approved it.
    pub approved: bool,
}

/// The audit chain at a glance: its newest entry and the last signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainGlance {
    /// The newest entry's number.
    pub head: i64,
    /// The newest checkpoint: its number, the entry it vouches for, when it was signed.
    pub checkpoint: Option<(i64, i64, Timestamp)>,
}

/// A campaign at a glance: where its notices are and when its deadline falls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignGlance {
    /// The campaign.
    pub id: CampaignId,
    /// Its name.
    pub name: CampaignName,
    /// The deadline of its timeline.
    pub deadline: Timestamp,
    /// Its notices in each state, every state listed.
    pub counts: Vec<(NoticeState, i64)>,
    /// Its consumers, and how many have migrated.
    pub consumers: i64,
    /// Migrated so far.
    pub migrated: i64,
}

/// What needs a person now, on their home page: each list only for those whose role acts on
/// it (approvers approve, engineers fix drafts and failed deliveries).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attention {
    /// Notices waiting for an approver, oldest first; for those who approve.
    pub awaiting_approval: Option<NoticeList>,
    /// Drafts and notices in review whose current version fails a check; for those who edit.
    pub failing_checks: Option<NoticeList>,
    /// Notices whose delivery failed for good; for those who edit.
    pub delivery_failed: Option<NoticeList>,
    /// The running campaigns (drafting, active, paused), newest first, with their migration;
    /// for those who see the inventory.
    pub campaigns: Vec<CampaignGlance>,
    /// Consumers of running campaigns most at risk; for those who edit.
    #[serde(default)]
    pub at_risk: Option<Vec<AtRisk>>,
    /// Leak alerts not yet sent; for the audit trail's owner and approvers.
    #[serde(default)]
    pub leaks: Option<NoticeList>,
    /// Overrides of the revocation safeguard, waiting ones first; for approvers and the audit
    /// trail's owner.
    #[serde(default)]
    pub overrides: Option<Vec<OverrideLine>>,
    /// The audit chain's head and last checkpoint; for the audit trail's owner.
    #[serde(default)]
    pub chain: Option<ChainGlance>,
    /// Approved notices that go out within the next 24 hours, by kind; for those who see the
    /// inventory.
    #[serde(default)]
    pub next_day: Vec<(NoticeKind, i64)>,
}

/// Where one consumer of a campaign stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerProgress {
    /// The consumer.
    pub consumer: ConsumerId,
    /// Its name.
    pub name: String,
    /// When it had moved off every credential the campaign rotates, or was marked migrated
    /// by hand; none while neither.
    pub migrated_at: Option<Timestamp>,
    /// Why a person marked it migrated, when one did.
    pub marked_by_hand: Option<String>,
    /// Its latest use of any of those credentials.
    pub old_key_last_used: Option<Timestamp>,
    /// Its latest use of any of their replacements: none while it has not answered the
    /// campaign at all.
    pub new_key_last_used: Option<Timestamp>,
    /// Its own deadline: the campaign's, or a later one it was given.
    pub deadline: Timestamp,
    /// Whether its deadline was extended.
    pub extended: bool,
    /// Whether its notice could not be delivered.
    pub delivery_failed: bool,
}

impl ConsumerProgress {
    /// Where it stands at `now`, in words, as the risk order weighs it (a failed delivery
    /// apart, which pages show as a badge).
    pub fn standing(&self, now: Timestamp) -> Vec<String> {
        let mut risks = Vec::new();
        let days_left = (self.deadline.as_secs() - now.as_secs()).div_euclid(86_400);
        risks.push(match days_left {
            ..0 => format!("deadline passed {}", self.deadline.utc_minute()),
            0 => "deadline within a day".to_string(),
            1 => "1 day to its deadline".to_string(),
            n => format!("{n} days to its deadline"),
        });
        if self.extended {
            risks.push(format!("given until {}", self.deadline.utc_minute()));
        }
        risks.push(match self.new_key_last_used {
            None => "no sign of the new key yet".to_string(),
            Some(at) => format!("new key last used {}", at.utc_minute()),
        });
        risks.push(match self.old_key_last_used {
            Some(at) => format!("old key last used {}", at.utc_minute()),
            None => "old key never seen in use".to_string(),
        });
        risks
    }
}

/// Consumers still to migrate, day by day, beside the straight line to the deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurnDown {
    /// Consumers the campaign reaches.
    pub total: i64,
    /// The announcement, where the line starts.
    pub start: Timestamp,
    /// The deadline, where the straight line reaches zero.
    pub deadline: Timestamp,
    /// The end of the grace period, where the chart ends.
    pub end: Timestamp,
    /// Consumers left at the start of each day so far, and at the time it was drawn.
    pub points: Vec<(Timestamp, i64)>,
}

/// One day of a campaign's calendar: what its notices are due that day, by kind, in the time
/// zone the viewer chose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDay {
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Notices due that day, per kind (kinds with none left out), in series order.
    pub counts: Vec<(super::NoticeKind, i64)>,
}

/// A campaign's migration progress: the burn-down and who has not moved yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignProgress {
    /// Consumers the campaign reaches.
    pub total: i64,
    /// Consumers that have migrated off every credential it rotates.
    pub migrated: i64,
    /// Consumers left, day by day.
    pub burn_down: BurnDown,
    /// Those not migrated yet, most at risk first: delivery failed, the nearest deadline, no
    /// sign of the new key, the most recent use of an old key.
    pub unmigrated: Vec<ConsumerProgress>,
    /// Those a person marked migrated, by name.
    pub marked_by_hand: Vec<ConsumerProgress>,
    /// When it was worked out.
    pub as_of: Timestamp,
}

named_enum!(
    /// What kind of writer saved a version.
    AuthorKind, field = "author_kind", choices = Choices::OneOf, {
        /// Rekey's drafter (the built-in templates).
        Drafter => ("drafter", "Rekey drafter"),
        /// A person signed in to Rekey.
        User => ("user", "Person"),
        /// An agent, with its token.
        Agent => ("agent", "Agent"),
        /// The configured language model, drafting a campaign's announcement or revising a
        /// version at someone's request (whose id it keeps, for the four-eyes rule).
        Model => ("model", "Language model"),
    }
);

/// How the model's drafting of a campaign's announcements is going, for its page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelProgress {
    /// Announcements the model is to draft.
    pub total: i64,
    /// Those done, whatever came of them.
    pub done: i64,
    /// Drafted by the model, every check passed.
    pub by_model: i64,
    /// The built-in draft kept because the model's failed.
    pub failures: i64,
    /// Cancelled before the model got to them.
    pub cancelled: i64,
    /// Notices finished per minute of drafting, wall clock.
    pub notices_per_minute: f64,
    /// Tokens the model generated per second of drafting, wall clock.
    pub tokens_per_sec: f64,
}

/// Who wrote a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The drafter, a person, an agent or the model.
    pub kind: AuthorKind,
    /// The person's or agent's id; for the model, the person who asked it to revise; none for
    /// the drafter.
    pub id: Option<i64>,
    /// The name shown beside the version: for the model, "model <name>, prompt version N".
    pub name: String,
}

impl Author {
    /// The model `model` writing with prompt template `prompt_version`, at `requested_by`'s
    /// request (none: drafting a campaign).
    pub fn model(model: &str, prompt_version: i64, requested_by: Option<i64>) -> Self {
        Self {
            kind: AuthorKind::Model,
            id: requested_by,
            name: format!("model {model}, prompt version {prompt_version}"),
        }
    }
}

/// One version of a notice: exactly the bytes an approval would cover, and their checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Counted from 1; every save adds one.
    pub version: i64,
    /// The e-mail's subject.
    pub subject: String,
    /// The e-mail's body, in markdown.
    pub body: String,
    /// The hash an approval of this version is recorded against.
    pub sha256: Sha256Hex,
    /// Who saved it.
    pub author: Author,
    /// Why it exists, when its author alone does not say (what a model's draft failed);
    /// usually empty.
    pub note: String,
    /// Every automatic check, in the order they ran.
    pub checks: Vec<CheckResult>,
    /// When it was saved.
    pub created_at: Timestamp,
}

impl Version {
    /// Whether every check passed.
    pub fn checks_passed(&self) -> bool {
        self.checks.iter().all(CheckResult::passed)
    }
}

/// A version in a notice's history: who saved it, when, and whether it passed its checks
/// (without its text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLine {
    /// The version's number.
    pub version: i64,
    /// Who saved it.
    pub author: Author,
    /// When.
    pub at: Timestamp,
    /// Whether every check passed.
    pub checks_passed: bool,
    /// Why it exists, when its author alone does not say; usually empty.
    pub note: String,
}

/// An approver's decision on one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The version decided on.
    pub version: i64,
    /// The exact bytes decided on.
    pub sha256: Sha256Hex,
    /// Approved, or rejected with a reason.
    pub approved: bool,
    /// Why it was rejected (or the approver's note).
    pub reason: Option<String>,
    /// The approver's name.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// Everything a notice's page shows: its queue line (flattened, so `id`, `state` and
/// `recipient` sit at the top), its current version, history, decisions and delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeDetail {
    /// The notice's queue line.
    #[serde(flatten)]
    pub summary: NoticeSummary,
    /// The version being edited or decided on.
    pub current: Version,
    /// Every version, oldest first.
    pub history: Vec<VersionLine>,
    /// Every decision, oldest first.
    pub decisions: Vec<Decision>,
    /// The approved message's delivery, once it is in the outbox.
    pub delivery: Option<DeliveryRecord>,
    /// Where it goes, in order, when a server refuses it for good.
    pub fallbacks: Fallbacks,
    /// How many of those it has gone to.
    pub fallbacks_used: i64,
    /// The campaign's milestones.
    pub timeline: Timeline,
    /// The consumer's time zone.
    pub time_zone: TimeZoneName,
    /// The deadline as the consumer reads it, in their time zone (worked out on the server,
    /// which holds the time zone database).
    pub local_deadline: String,
    /// Its tags, sorted.
    pub tags: Vec<Tag>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_query_parses_and_names_a_bad_parameter() {
        let query = QueueQuery {
            campaign: Some("3".into()),
            checks: Some("failing".into()),
            state: Some("pending".into()),
            ..QueueQuery::default()
        };
        let filter = query.parse().unwrap();
        assert_eq!(filter.campaign.map(CampaignId::get), Some(3));
        assert_eq!(filter.checks_passed, Some(false));
        assert_eq!(filter.state, None, "pending is the default");
        let bad = QueueQuery {
            checks: Some("maybe".into()),
            ..QueueQuery::default()
        };
        assert_eq!(
            bad.parse().unwrap_err().message,
            "'maybe' is not passing or failing"
        );
    }
}
