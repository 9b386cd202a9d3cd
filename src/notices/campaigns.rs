//! Rotation campaigns: which credentials, which consumers, the timeline, and drafting the
//! notices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::CampaignName;
use super::NotDrafted;
use super::checks::{self, CheckContext};
use super::drafting;
use super::fallbacks::Fallbacks;
use super::schedule::{Schedule, Step};
use super::views::CalendarDay;
use super::workflow::NewNotice;
use super::{CampaignId, NoticeId, NoticeKind, NoticeState, Timeline, Withheld};
use crate::Rekey;
use crate::audit::{Actor, Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::delivery::OutboxId;
use crate::error::{Error, PeopleOnly, Result};
use crate::identity::{EmailAddress, Identity, InputError, Permission};
use crate::inventory::store::{self as inventory, Consumer, SelectedCredential};
use crate::inventory::window::SendWindow;
use crate::inventory::{
    ConsumerId, ContactRole, CredentialId, Environment, IntegrationPattern, TimeZoneName,
};
use crate::params;
use crate::settings::{self, ProviderProfile};
use crate::storage::{Db, Row};
use crate::vault::fingerprint::FingerprintIndex;

/// Which credentials a campaign covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    /// Chosen one by one.
    Chosen(Vec<CredentialId>),
    /// Every live credential of an environment created more than `days` days ago.
    OlderThan {
        /// The environment.
        environment: Environment,
        /// The minimum age in days.
        days: u32,
    },
}

impl Selection {
    /// The selection in words, for the campaign page and the audit trail.
    pub fn describe(&self) -> String {
        match self {
            Selection::Chosen(ids) if ids.len() == 1 => "1 chosen credential".into(),
            Selection::Chosen(ids) => format!("{} chosen credentials", ids.len()),
            Selection::OlderThan { environment, days } => {
                format!(
                    "{} credentials older than {days} days",
                    environment.label().to_lowercase()
                )
            }
        }
    }

    /// The credentials the selection names now: the live ones among those chosen, or those older than the cut-off at `now`.
    pub async fn resolve(&self, db: &Db, now: Timestamp) -> Result<Vec<SelectedCredential>> {
        let found = match self {
            Selection::Chosen(ids) if ids.is_empty() => {
                return Err(
                    InputError::new("credentials", "choose at least one credential").into(),
                );
            }
            Selection::Chosen(ids) => inventory::credentials_by_id(db, ids).await?,
            Selection::OlderThan { environment, days } => {
                inventory::credentials_older_than(
                    db,
                    *environment,
                    now.plus_secs(-i64::from(*days) * 86_400),
                )
                .await?
            }
        };
        if found.is_empty() {
            return Err(InputError::new(
                "credentials",
                format!("no credential matches: {}", self.describe()),
            )
            .into());
        }
        Ok(found)
    }
}

/// A consumer a campaign would reach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// The consumer.
    pub consumer: ConsumerId,
    /// Its name.
    pub name: String,
    /// How it integrates, which its guide is written for.
    pub pattern: IntegrationPattern,
    /// Its time zone, in which its notice states dates.
    pub time_zone: TimeZoneName,
    /// The prefixes of its credentials the campaign covers.
    pub prefixes: Vec<String>,
    /// The address its notice would go to; none when it has no contact to write to.
    pub recipient: Option<EmailAddress>,
}

/// The consumers a selection reaches, by name.
pub fn affected(selected: &[SelectedCredential]) -> Vec<(ConsumerId, Vec<&SelectedCredential>)> {
    let mut by_consumer: BTreeMap<(String, ConsumerId), Vec<&SelectedCredential>> = BTreeMap::new();
    for s in selected {
        by_consumer
            .entry((s.consumer_name.clone(), s.credential.consumer))
            .or_default()
            .push(s);
    }
    by_consumer
        .into_iter()
        .map(|((_, id), creds)| (id, creds))
        .collect()
}

/// Who a campaign would reach, before it is created.
pub async fn preview(db: &Db, selection: &Selection, now: Timestamp) -> Result<Vec<Affected>> {
    let selected = selection.resolve(db, now).await?;
    let groups = affected(&selected);
    let ids: Vec<ConsumerId> = groups.iter().map(|(id, _)| *id).collect();
    let consumers: BTreeMap<ConsumerId, Consumer> = inventory::consumers(db, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok(groups
        .into_iter()
        .filter_map(|(id, creds)| {
            let c = consumers.get(&id)?;
            Some(Affected {
                consumer: id,
                name: c.name.clone(),
                pattern: c.integration.pattern,
                time_zone: c.time_zone.clone(),
                prefixes: creds
                    .iter()
                    .map(|s| s.credential.prefix.as_str().to_string())
                    .collect(),
                recipient: c.notice_recipient().map(|r| r.email.clone()),
            })
        })
        .collect())
}

/// What a person asks for when planning a campaign.
pub struct NewCampaign {
    /// Its name.
    pub name: CampaignName,
    /// The credentials it rotates.
    pub selection: Selection,
    /// Its milestones.
    pub timeline: Timeline,
    /// Its series: the days of reminders and escalations.
    pub schedule: Schedule,
    /// One send window for all its consumers (each in its own time zone); none keeps each
    /// consumer's own.
    pub send_window: Option<SendWindow>,
    /// Who writes its announcements.
    pub drafter: DrafterChoice,
}

crate::declare::named_enum!(
    /// Who writes a campaign's announcements (each consumer's migration guide). Reminders,
    /// escalations and the closing notices are short and stay the built-in templates'.
    DrafterChoice, field = "drafter", choices = crate::declare::Choices::OneOf, {
        /// The built-in templates: the default, and every model draft's fallback.
        BuiltIn => ("built_in", "Built-in templates"),
        /// The configured language model, grounded in the built-in draft and checked.
        Model => ("model", "Language model"),
    }
);

/// Creates the campaign and links its credentials; drafting follows with [`draft_pending`].
pub async fn create(rk: &Rekey, by: &Identity, new: NewCampaign) -> Result<CampaignId> {
    campaign_manager(by, PeopleOnly::StartCampaign)?;
    insert(rk, by, new, CampaignState::Drafting).await
}

/// Plans a campaign that waits for a person to [`start`] it: nothing is drafted but what is
/// asked for one consumer at a time ([`draft_consumer`]), and nothing can be approved. What an
/// agent may do with a rotation it prepares.
pub async fn plan(rk: &Rekey, by: &Identity, new: NewCampaign) -> Result<CampaignId> {
    if !by.may(Permission::PlanCampaigns) {
        return Err(Error::Forbidden(Permission::PlanCampaigns));
    }
    insert(rk, by, new, CampaignState::Planned).await
}

async fn insert(
    rk: &Rekey,
    by: &Identity,
    new: NewCampaign,
    state: CampaignState,
) -> Result<CampaignId> {
    new.schedule.fits(&new.timeline)?;
    if new.drafter == DrafterChoice::Model && crate::model::current(rk).await?.is_none() {
        return Err(InputError::new(
            "drafter",
            "no language model is configured (an admin sets one on the Settings page); choose the built-in templates",
        )
        .into());
    }
    let selected = new.selection.resolve(&rk.db, rk.now()).await?;
    let consumers = affected(&selected).len() as i64;
    let mut tx = rk.write(by.into()).await?;
    let created_by = match by {
        Identity::User { id, .. } => Some(id.get()),
        Identity::Agent { .. } => None,
    };
    let now = tx.now();
    let id: CampaignId = tx
        .scalar(
            "INSERT INTO campaigns (name, state, selector, announce_at, new_key_at, deadline_at, grace_end_at, \
             consumers, created_by, created_at, reminder_days, escalation_days, closing_notices, send_window, drafter) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
            params![
                &new.name,
                state,
                new.selection.describe(),
                new.timeline.announce(),
                new.timeline.new_key(),
                new.timeline.deadline(),
                new.timeline.grace_end(),
                consumers,
                created_by,
                now,
                Schedule::join(new.schedule.reminders()),
                Schedule::join(new.schedule.escalations()),
                new.schedule.closing(),
                new.send_window.map(|w| w.to_string()),
                new.drafter,
            ],
        )
        .await?;
    for s in &selected {
        tx.execute(
            "INSERT INTO campaign_credentials (campaign_id, credential_id) VALUES ($1, $2)",
            params![id.get(), s.credential.id.get()],
        )
        .await?;
    }
    tx.audit(
        Target::Campaign(id),
        Detail::CampaignCreated {
            campaign: id,
            consumers,
            credentials: selected.len() as i64,
        },
    )
    .await?;
    tx.audit(
        Target::Campaign(id),
        Detail::CampaignScheduled {
            campaign: id,
            reminder_days: Schedule::join(new.schedule.reminders()),
            escalation_days: Schedule::join(new.schedule.escalations()),
            closing_notices: new.schedule.closing(),
            send_window: new.send_window.map(|w| w.to_string()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

crate::declare::named_enum!(
    /// Where a campaign is. Moves only through [`CampaignState::after`].
    CampaignState, field = "state", choices = crate::declare::Choices::OneOf, {
        /// Planned (by an agent, say) and waiting for a person to start it: consumers are
        /// drafted one by one on request, nothing is approved or sent.
        Planned => ("planned", "Planned"),
        /// Its notices are being drafted.
        Drafting => ("drafting", "Drafting"),
        /// Every consumer has its notice (or is recorded as not drafted); approved notices go
        /// when due.
        Active => ("active", "Active"),
        /// A person paused its sends: approved notices are held until it resumes.
        Paused => ("paused", "Paused"),
        /// A person cancelled it: nothing more of it is sent.
        Cancelled => ("cancelled", "Cancelled"),
        /// Its grace period ended and nothing of it waits to be sent.
        Completed => ("completed", "Completed"),
    }
);

/// Something that happens to a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CampaignEvent {
    /// A person started a planned campaign: drafting begins.
    Start,
    /// Drafting finished.
    Drafted,
    /// A person paused its sends.
    Pause,
    /// A person resumed them.
    Resume,
    /// A person cancelled it.
    Cancel,
    /// Its grace period ended with nothing left to send.
    Complete,
}

/// A campaign move that is not allowed from where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("a campaign that is {} cannot be {}", .from.label().to_lowercase(), .event.done())]
pub struct CampaignTransitionError {
    /// Where the campaign was.
    pub from: CampaignState,
    /// What was tried.
    pub event: CampaignEvent,
}

impl CampaignEvent {
    /// The event as a past participle, for messages.
    const fn done(self) -> &'static str {
        match self {
            CampaignEvent::Start => "started",
            CampaignEvent::Drafted => "activated",
            CampaignEvent::Pause => "paused",
            CampaignEvent::Resume => "resumed",
            CampaignEvent::Cancel => "cancelled",
            CampaignEvent::Complete => "completed",
        }
    }
}

impl CampaignState {
    /// The state after `event`, or why it is not allowed now.
    pub fn after(self, event: CampaignEvent) -> Result<CampaignState, CampaignTransitionError> {
        use CampaignEvent as E;
        use CampaignState as S;
        match (self, event) {
            (S::Planned, E::Start) => Ok(S::Drafting),
            (S::Drafting, E::Drafted) => Ok(S::Active),
            (S::Active, E::Pause) => Ok(S::Paused),
            (S::Paused, E::Resume) => Ok(S::Active),
            (S::Planned | S::Drafting | S::Active | S::Paused, E::Cancel) => Ok(S::Cancelled),
            (S::Active, E::Complete) => Ok(S::Completed),
            (from, event) => Err(CampaignTransitionError { from, event }),
        }
    }

    /// Whether the campaign is over (cancelled or completed).
    pub const fn ended(self) -> bool {
        matches!(self, CampaignState::Cancelled | CampaignState::Completed)
    }
}

/// A campaign as its page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    /// The campaign.
    pub id: CampaignId,
    /// Its name.
    pub name: CampaignName,
    /// Drafting or active.
    pub state: CampaignState,
    /// The selection that chose its credentials, in words.
    pub selector: String,
    /// Its milestones.
    pub timeline: Timeline,
    /// Its series: when reminders and escalations are due.
    pub schedule: Schedule,
    /// The window every notice waits for, when the campaign sets one.
    pub send_window: Option<SendWindow>,
    /// Consumers it reaches.
    pub consumers: i64,
    /// Consumers whose series is drafted so far.
    pub drafted: i64,
    /// When it was planned.
    pub created_at: Timestamp,
    /// Who writes its announcements.
    pub drafter: DrafterChoice,
}

const CAMPAIGN_COLUMNS: &str = "id, name, state, selector, announce_at, new_key_at, deadline_at, grace_end_at, consumers, drafted, created_at, reminder_days, escalation_days, closing_notices, send_window, drafter";

fn decode_campaign(r: &Row) -> Result<Campaign> {
    let id: CampaignId = r.get(0)?;
    let timeline = Timeline::new(r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)
        .map_err(|e| Error::Internal(format!("campaign {id} has an invalid timeline: {e}")))?;
    Ok(Campaign {
        id,
        name: r.get(1)?,
        state: r.get(2)?,
        selector: r.get(3)?,
        timeline,
        consumers: r.get(8)?,
        drafted: r.get(9)?,
        created_at: r.get(10)?,
        schedule: Schedule::stored(&r.get::<String>(11)?, &r.get::<String>(12)?, r.get(13)?)
            .map_err(|e| Error::Internal(format!("campaign {id} has an invalid schedule: {e}")))?,
        send_window: r
            .get::<Option<String>>(14)?
            .map(|w| SendWindow::parse(&w))
            .transpose()
            .map_err(|e| {
                Error::Internal(format!("campaign {id} has an invalid send window: {e}"))
            })?,
        drafter: r.get(15)?,
    })
}

/// `consumer` as the drafter reads it, and the ids of its credentials that `campaign` rotates.
pub(super) async fn holder_in(
    rk: &Rekey,
    campaign: CampaignId,
    consumer: ConsumerId,
) -> Result<(Consumer, Vec<CredentialId>)> {
    let holder = inventory::consumer(&rk.db, consumer).await?;
    let rotated = rotated_of(&mut rk.db.clone(), campaign, consumer)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    Ok((holder, rotated))
}

/// The credentials of `consumer` that `campaign` rotates, each with when the consumer migrated
/// off it; refused, naming both, when the campaign rotates none of them.
pub(super) async fn rotated_of(
    q: &mut impl crate::storage::Query,
    campaign: CampaignId,
    consumer: ConsumerId,
) -> Result<Vec<(CredentialId, Option<Timestamp>)>> {
    let rotated = q
        .rows(
            "SELECT k.id, k.migrated_at FROM campaign_credentials cc JOIN credentials k ON k.id = cc.credential_id \
             WHERE cc.campaign_id = $1 AND k.consumer_id = $2",
            params![campaign, consumer],
        )
        .await?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<Vec<_>>>()?;
    if rotated.is_empty() {
        return Err(crate::error::Refusal::NotInCampaign { campaign, consumer }.into());
    }
    Ok(rotated)
}

/// The campaign with this id.
pub async fn get(db: &Db, id: CampaignId) -> Result<Campaign> {
    db.fetch_optional(
        &format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1"),
        params![id.get()],
    )
    .await?
    .as_ref()
    .map(decode_campaign)
    .transpose()?
    .ok_or_else(|| Error::not_found("campaign", id))
}

/// Every campaign, newest first.
pub async fn list(db: &Db) -> Result<Vec<Campaign>> {
    db.fetch_all(
        &format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id DESC"),
        &[],
    )
    .await?
    .iter()
    .map(decode_campaign)
    .collect()
}

/// The time zones of the consumers a campaign reaches, by name: the page shows its timeline in
/// each.
pub async fn time_zones(db: &Db, id: CampaignId) -> Result<Vec<String>> {
    db.fetch_all(
        "SELECT DISTINCT c.time_zone FROM campaign_credentials cc JOIN credentials k ON k.id = cc.credential_id \
         JOIN consumers c ON c.id = k.consumer_id WHERE cc.campaign_id = $1 ORDER BY c.time_zone",
        params![id],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Campaigns whose drafting has not finished (after a restart, for instance).
pub async fn drafting(db: &Db) -> Result<Vec<CampaignId>> {
    db.fetch_all(
        "SELECT id FROM campaigns WHERE state = $1 ORDER BY id",
        params![CampaignState::Drafting],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// How many notices of a campaign are in each state.
pub async fn counts(db: &Db, id: CampaignId) -> Result<Vec<(NoticeState, i64)>> {
    let rows = db
        .fetch_all(
            "SELECT state, COUNT(*) FROM notices WHERE campaign_id = $1 GROUP BY state",
            params![id.get()],
        )
        .await?;
    let mut counts: Vec<(NoticeState, i64)> = NoticeState::ALL.iter().map(|s| (*s, 0)).collect();
    for r in rows {
        let state: NoticeState = r.get(0)?;
        if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
            slot.1 = r.get(1)?;
        }
    }
    Ok(counts)
}

/// What a campaign's notices are due to send, day by day in `zone` (notices withheld or
/// without a due time left out: confirmations go when each consumer migrates), and how many
/// confirmations wait for a migration.
pub async fn calendar(
    db: &Db,
    id: CampaignId,
    zone: &jiff::tz::TimeZone,
) -> Result<(Vec<CalendarDay>, i64)> {
    let rows = db
        .fetch_all(
            "SELECT kind, due_at, COUNT(*) FROM notices WHERE campaign_id = $1 AND state <> $2 \
             GROUP BY kind, due_at",
            params![id, NoticeState::NotSent],
        )
        .await?;
    let mut days: BTreeMap<String, BTreeMap<NoticeKind, i64>> = BTreeMap::new();
    let mut on_migration = 0;
    for r in &rows {
        let kind: NoticeKind = r.get(0)?;
        let n: i64 = r.get(2)?;
        match r.get::<Option<Timestamp>>(1)? {
            Some(due) => {
                let day = due
                    .to_jiff()
                    .to_zoned(zone.clone())
                    .strftime("%Y-%m-%d")
                    .to_string();
                *days.entry(day).or_default().entry(kind).or_default() += n;
            }
            None if kind == NoticeKind::Confirmation => on_migration += n,
            None => {}
        }
    }
    Ok((
        days.into_iter()
            .map(|(day, counts)| CalendarDay {
                day,
                counts: NoticeKind::ALL
                    .iter()
                    .filter_map(|k| counts.get(k).map(|n| (*k, *n)))
                    .collect(),
            })
            .collect(),
        on_migration,
    ))
}

/// The campaign's state, read under the writer lock, and moved along `event`.
async fn move_campaign(tx: &mut WriteTx, id: CampaignId, event: CampaignEvent) -> Result<()> {
    let from: CampaignState = tx
        .fetch_optional("SELECT state FROM campaigns WHERE id = $1", params![id])
        .await?
        .ok_or_else(|| Error::not_found("campaign", id))?
        .get(0)?;
    let to = from.after(event)?;
    let now = tx.now();
    let ended_at = to.ended().then_some(now);
    tx.execute(
        "UPDATE campaigns SET state = $1, ended_at = COALESCE($2, ended_at) WHERE id = $3",
        params![to, ended_at, id],
    )
    .await?;
    Ok(())
}

/// The messages of a campaign's approved notices, with their notices.
async fn queued(tx: &mut WriteTx, id: CampaignId) -> Result<Vec<(NoticeId, OutboxId)>> {
    tx.fetch_all(
        "SELECT id, outbox_id FROM notices WHERE campaign_id = $1 AND state = $2 AND outbox_id IS NOT NULL ORDER BY id",
        params![id, NoticeState::Approved],
    )
    .await?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

fn steer(by: &Identity) -> Result<()> {
    campaign_manager(by, PeopleOnly::SteerCampaign).map(|_| ())
}

/// The person who may make a call about a running campaign (pause it, mark a consumer
/// migrated, extend a deadline): an engineer, never an agent (`agents_refused` says why).
pub(crate) fn campaign_manager(
    by: &Identity,
    agents_refused: PeopleOnly,
) -> Result<crate::identity::UserId> {
    let Identity::User { id, .. } = by else {
        return Err(agents_refused.into());
    };
    if !by.may(Permission::ManageCampaigns) {
        return Err(Error::Forbidden(Permission::ManageCampaigns));
    }
    Ok(*id)
}

/// Pauses a campaign's sends: its approved notices stay approved and their messages are held
/// until [`resume`]. Returns how many were held.
pub async fn pause(rk: &Rekey, by: &Identity, id: CampaignId) -> Result<i64> {
    steer(by)?;
    let mut tx = rk.write(by.into()).await?;
    move_campaign(&mut tx, id, CampaignEvent::Pause).await?;
    let messages: Vec<OutboxId> = queued(&mut tx, id)
        .await?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let held = crate::delivery::outbox::hold(&mut tx, &messages).await?;
    tx.audit(
        Target::Campaign(id),
        Detail::CampaignPaused { campaign: id, held },
    )
    .await?;
    tx.commit().await?;
    Ok(held)
}

/// Starts a planned campaign: a person's call. Its consumers not drafted yet are drafted next
/// ([`draft_pending`], which the caller spawns); those drafted on request keep their notices.
/// Returns how many consumers were drafted before the start.
pub async fn start(rk: &Rekey, by: &Identity, id: CampaignId) -> Result<i64> {
    campaign_manager(by, PeopleOnly::StartCampaign)?;
    let mut tx = rk.write(by.into()).await?;
    move_campaign(&mut tx, id, CampaignEvent::Start).await?;
    let drafted: i64 = tx
        .scalar("SELECT drafted FROM campaigns WHERE id = $1", params![id])
        .await?;
    tx.audit(
        Target::Campaign(id),
        Detail::CampaignStarted {
            campaign: id,
            drafted,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(drafted)
}

/// Drafts one consumer's whole series in a planned campaign, as the built-in drafter writes it
/// and checked like every draft: what an agent asks for before a person starts the campaign.
/// Answers the consumer's notices, the announcement first. A consumer is drafted once; a
/// campaign already started drafts its consumers itself.
pub async fn draft_consumer(
    rk: &Rekey,
    by: &Identity,
    id: CampaignId,
    consumer: ConsumerId,
) -> Result<Vec<NoticeId>> {
    if !by.may(Permission::EditNotices) {
        return Err(Error::Forbidden(Permission::EditNotices));
    }
    let campaign = get(&rk.db, id).await?;
    if campaign.state != CampaignState::Planned {
        return Err(crate::error::Refusal::NotPlanned {
            campaign: id,
            state: campaign.state,
        }
        .into());
    }
    let credentials: Vec<CredentialId> = rotated_of(&mut rk.db.clone(), id, consumer)
        .await?
        .into_iter()
        .map(|(credential, _)| credential)
        .collect();
    let provider = settings::load(&rk.db).await?.provider;
    let consumers: BTreeMap<ConsumerId, Consumer> = inventory::consumers(&rk.db, &[consumer])
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    let drafted = draft_batch(
        &[(consumer, credentials)],
        &consumers,
        &campaign,
        &provider,
        &vault,
    )?;
    if !drafted.iter().any(Drafted::is_notice) {
        let reason = drafted
            .iter()
            .find_map(|d| match d {
                Drafted::NotDrafted { reason, .. } => Some(*reason),
                Drafted::Notice { .. } => None,
            })
            .unwrap_or(NotDrafted::NoRecipient);
        return Err(crate::error::Refusal::NotDraftable { consumer, reason }.into());
    }
    let mut tx = rk.write(by.into()).await?;
    // Checked again under the writer's lock: a person may have started the campaign meanwhile,
    // and its own drafting must find this consumer drafted or not at all.
    let state: CampaignState = tx
        .scalar("SELECT state FROM campaigns WHERE id = $1", params![id])
        .await?;
    if state != CampaignState::Planned {
        return Err(crate::error::Refusal::NotPlanned {
            campaign: id,
            state,
        }
        .into());
    }
    // Two requests for one consumer draft it once.
    let first: Option<NoticeId> = tx
        .fetch_optional(
            "SELECT MIN(id) FROM notices WHERE campaign_id = $1 AND consumer_id = $2 HAVING COUNT(*) > 0",
            params![id, consumer],
        )
        .await?
        .map(|r| r.get(0))
        .transpose()?;
    if let Some(notice) = first {
        return Err(crate::error::Refusal::AlreadyDrafted {
            campaign: id,
            consumer,
            notice,
        }
        .into());
    }
    let notices = store_in(&mut tx, id, &drafted).await?;
    tx.commit().await?;
    Ok(notices)
}

/// Drafts one consumer of a planned campaign ([`draft_consumer`]) and puts its whole series in
/// review, the announcement in the requester's words when `text` (subject, body) is given: what
/// an agent or a script asks for. A text is read before anything is drafted, so a bad one
/// changes nothing. Answers the notices, the announcement first.
pub async fn draft_for_review(
    rk: &Rekey,
    by: &Identity,
    id: CampaignId,
    consumer: ConsumerId,
    text: Option<(&str, &str)>,
) -> Result<Vec<NoticeId>> {
    let text = text
        .map(|(subject, body)| {
            Ok::<_, Error>((
                super::versions::parse_subject(subject)?,
                super::versions::parse_body(body)?,
            ))
        })
        .transpose()?;
    let notices = draft_consumer(rk, by, id, consumer).await?;
    let announcement = *notices
        .first()
        .ok_or_else(|| Error::Internal(format!("consumer {consumer} was drafted no notice")))?;
    if let Some((subject, body)) = text {
        match super::versions::edit(rk, by, announcement, 1, &subject, &body).await {
            // The caller's words are the built-in draft's: version 1 stands.
            Ok(_) | Err(Error::Conflict(crate::error::Conflict::NothingChanged)) => {}
            Err(e) => return Err(e),
        }
    }
    super::workflow::submit_many(rk, by, &notices).await?;
    Ok(notices)
}

/// Resumes a paused campaign: each held notice goes at its due time, at once when that passed
/// (still within its consumer's send window and only if its condition holds). Returns how many
/// were released.
pub async fn resume(rk: &Rekey, by: &Identity, id: CampaignId) -> Result<i64> {
    steer(by)?;
    let mut tx = rk.write(by.into()).await?;
    move_campaign(&mut tx, id, CampaignEvent::Resume).await?;
    let messages: Vec<OutboxId> = queued(&mut tx, id)
        .await?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let released = crate::delivery::outbox::release(&mut tx, &messages).await?;
    tx.audit(
        Target::Campaign(id),
        Detail::CampaignResumed {
            campaign: id,
            released,
        },
    )
    .await?;
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(released)
}

/// Cancels a campaign: every approved notice not yet sent is withdrawn (not sent: the campaign
/// was cancelled), and none of its notices can be approved any more. Returns how many were
/// withdrawn.
pub async fn cancel(rk: &Rekey, by: &Identity, id: CampaignId) -> Result<i64> {
    steer(by)?;
    let mut tx = rk.write(by.into()).await?;
    move_campaign(&mut tx, id, CampaignEvent::Cancel).await?;
    let queued = queued(&mut tx, id).await?;
    let messages: Vec<OutboxId> = queued.iter().map(|(_, m)| *m).collect();
    let withdrawn = crate::delivery::outbox::withdraw_queued(&mut tx, &messages).await?;
    let cancelled: Vec<_> = queued
        .iter()
        .filter(|(_, message)| withdrawn.contains(message))
        .map(|&(notice, _)| super::workflow::ToWithhold {
            notice,
            reason: Withheld::CampaignCancelled,
            migrated_at: None,
        })
        .collect();
    super::workflow::withheld(&mut tx, &cancelled).await?;
    tx.audit(
        Target::Campaign(id),
        Detail::CampaignCancelled {
            campaign: id,
            withdrawn: withdrawn.len() as i64,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(withdrawn.len() as i64)
}

/// Completes every active campaign whose grace period has ended and that has nothing left
/// waiting to be sent; returns them.
pub async fn complete_finished(rk: &Rekey) -> Result<Vec<CampaignId>> {
    let now = rk.now();
    let due: Vec<CampaignId> = rk
        .db
        .fetch_all(
            "SELECT c.id FROM campaigns c WHERE c.state = $1 AND c.grace_end_at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM notices n WHERE n.campaign_id = c.id AND n.state = $3) ORDER BY c.id",
            params![CampaignState::Active, now, NoticeState::Approved],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_>>()?;
    let mut completed = Vec::new();
    for id in due {
        let campaign = get(&rk.db, id).await?;
        let progress = super::progress::progress(&rk.db, &campaign, now).await?;
        let mut tx = rk.write(Actor::System).await?;
        match move_campaign(&mut tx, id, CampaignEvent::Complete).await {
            Ok(()) => {}
            // A person paused or cancelled it meanwhile.
            Err(Error::IllegalMove(_)) => continue,
            Err(e) => return Err(e),
        }
        tx.audit(
            Target::Campaign(id),
            Detail::CampaignCompleted {
                campaign: id,
                migrated: progress.migrated,
                consumers: progress.total,
            },
        )
        .await?;
        tx.commit().await?;
        completed.push(id);
    }
    Ok(completed)
}

/// Whether a campaign ended (was cancelled or completed) after `since`: the audit checkpoint
/// signed at the end of every campaign is due.
pub async fn ended_since(db: &Db, since: Option<Timestamp>) -> Result<bool> {
    let row = db
        .fetch_optional(
            "SELECT 1 FROM campaigns WHERE ended_at IS NOT NULL AND ended_at > $1",
            params![since.unwrap_or(Timestamp::from_micros(i64::MIN))],
        )
        .await?;
    Ok(row.is_some())
}

/// Drafts a campaign's notices in the background; an interruption is picked up by
/// [`drafting`] at the next start.
pub fn spawn_drafting(rk: Rekey, id: CampaignId) {
    tokio::spawn(async move {
        if let Err(e) = draft_pending(&rk, id).await {
            tracing::error!(campaign = %id, error = ?e, "drafting failed; it resumes at the next start");
        }
    });
}

/// Consumers drafted per transaction (each with its whole series, about ten notices): small
/// enough that other writers get turns and progress moves, large enough to amortise the commit.
const DRAFT_BATCH: usize = 100;

/// Drafts the notices a campaign still lacks, in batches, recording progress. Safe to run again
/// after an interruption: consumers that already have their notice are skipped.
pub async fn draft_pending(rk: &Rekey, id: CampaignId) -> Result<()> {
    let campaign = get(&rk.db, id).await?;
    let provider = settings::load(&rk.db).await?.provider;
    let credential_ids: Vec<CredentialId> = rk
        .db
        .fetch_all(
            "SELECT credential_id FROM campaign_credentials WHERE campaign_id = $1 ORDER BY credential_id",
            params![id.get()],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_>>()?;
    let done: std::collections::HashSet<i64> = rk
        .db
        .fetch_all(
            "SELECT DISTINCT consumer_id FROM notices WHERE campaign_id = $1 AND consumer_id IS NOT NULL",
            params![id.get()],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_>>()?;
    let selected = inventory::credentials_by_id(&rk.db, &credential_ids).await?;
    let todo: Vec<(ConsumerId, Vec<CredentialId>)> = affected(&selected)
        .into_iter()
        .filter(|(consumer, _)| !done.contains(&consumer.get()))
        .map(|(consumer, creds)| (consumer, creds.iter().map(|s| s.credential.id).collect()))
        .collect();
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    let by_model = campaign.drafter == DrafterChoice::Model;
    let drafter = std::sync::Arc::new(Drafter::new(campaign, provider, &vault));
    // Each batch is drafted off the async runtime while the one before it is stored.
    let mut drafting: Option<tokio::task::JoinHandle<Result<Vec<Drafted>>>> = None;
    for batch in todo.chunks(DRAFT_BATCH) {
        let ids: Vec<ConsumerId> = batch.iter().map(|(c, _)| *c).collect();
        let consumers: BTreeMap<ConsumerId, Consumer> = inventory::consumers(&rk.db, &ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let (drafter, batch) = (drafter.clone(), batch.to_vec());
        let next = tokio::task::spawn_blocking(move || drafter.draft(&batch, &consumers));
        if let Some(previous) = drafting.replace(next) {
            store_drafts(rk, id, &finished(previous).await?).await?;
        }
    }
    if let Some(last) = drafting {
        store_drafts(rk, id, &finished(last).await?).await?;
    }
    // The model rewrites the announcements the built-in drafter stored; until it is done (or
    // cancelled) the campaign stays in drafting.
    if by_model {
        super::model_drafting::run(rk, id).await?;
    }
    activate(rk, id).await
}

/// What a drafting task produced.
async fn finished(task: tokio::task::JoinHandle<Result<Vec<Drafted>>>) -> Result<Vec<Drafted>> {
    task.await
        .map_err(|e| Error::Internal(format!("drafting stopped: {e}")))?
}

/// Drafts batches of consumers on every core. Drafting is CPU work (templates, markdown, the
/// secret scan) and consumers are independent; each thread scans with its own copy of the vault
/// index, so their memos do not make them take turns.
struct Drafter {
    campaign: Campaign,
    provider: ProviderProfile,
    scanners: Vec<FingerprintIndex>,
}

impl Drafter {
    fn new(campaign: Campaign, provider: ProviderProfile, vault: &FingerprintIndex) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            campaign,
            provider,
            scanners: (0..cores).map(|_| vault.fork()).collect(),
        }
    }

    fn draft(
        &self,
        batch: &[(ConsumerId, Vec<CredentialId>)],
        consumers: &BTreeMap<ConsumerId, Consumer>,
    ) -> Result<Vec<Drafted>> {
        let share = batch.len().div_ceil(self.scanners.len()).max(1);
        std::thread::scope(|s| {
            let parts: Vec<_> = batch
                .chunks(share)
                .zip(&self.scanners)
                .map(|(part, vault)| {
                    s.spawn(move || {
                        draft_batch(part, consumers, &self.campaign, &self.provider, vault)
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(batch.len() * self.campaign.schedule.steps().len());
            for part in parts {
                out.extend(
                    part.join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))?,
                );
            }
            Ok(out)
        })
    }
}

/// Marks a campaign active once drafting has finished, with its audit entry; a campaign
/// already active (drafting ran twice) or cancelled meanwhile records nothing.
async fn activate(rk: &Rekey, id: CampaignId) -> Result<()> {
    let mut tx = rk.write(Actor::System).await?;
    let row = tx
        .fetch_optional(
            "UPDATE campaigns SET state = $1 WHERE id = $2 AND state = $3 RETURNING drafted",
            params![
                CampaignState::Drafting.after(CampaignEvent::Drafted)?,
                id,
                CampaignState::Drafting
            ],
        )
        .await?;
    let Some(row) = row else {
        return Ok(());
    };
    tx.audit(
        Target::Campaign(id),
        Detail::CampaignActivated {
            campaign: id,
            notices: row.get(0)?,
        },
    )
    .await?;
    tx.commit().await
}

impl Drafted {
    fn is_notice(&self) -> bool {
        matches!(self, Drafted::Notice { .. })
    }
}

/// A notice of a consumer's series drafted and checked, ready to store; or why a consumer (or
/// one step of its series) got none.
pub(crate) enum Drafted {
    Notice {
        consumer: ConsumerId,
        pattern: IntegrationPattern,
        step: Step,
        due: Option<Timestamp>,
        recipient: EmailAddress,
        fallbacks: Fallbacks,
        subject: String,
        body: String,
        checks: Vec<super::CheckResult>,
    },
    /// Recorded in the audit trail (and logged) so the campaign finishes and people see why.
    NotDrafted {
        consumer: ConsumerId,
        reason: NotDrafted,
    },
}

fn draft_batch(
    batch: &[(ConsumerId, Vec<CredentialId>)],
    consumers: &BTreeMap<ConsumerId, Consumer>,
    campaign: &Campaign,
    provider: &ProviderProfile,
    vault: &FingerprintIndex,
) -> Result<Vec<Drafted>> {
    let timeline = &campaign.timeline;
    let steps = campaign.schedule.steps();
    let mut out = Vec::with_capacity(batch.len() * steps.len());
    for (consumer_id, credential_ids) in batch {
        let consumer = consumers
            .get(consumer_id)
            .ok_or_else(|| Error::not_found("consumer", consumer_id))?;
        let not_drafted = |reason: NotDrafted| {
            tracing::warn!(consumer = %consumer_id, reason = ?reason, "no notice drafted");
            Drafted::NotDrafted {
                consumer: *consumer_id,
                reason,
            }
        };
        let Some(recipient) = consumer.notice_recipient() else {
            out.push(not_drafted(NotDrafted::NoRecipient));
            continue;
        };
        let Ok(zone) = consumer.time_zone.zone() else {
            out.push(not_drafted(NotDrafted::UnknownTimeZone));
            continue;
        };
        let escalation = consumer
            .contacts
            .iter()
            .find(|c| c.role == ContactRole::Escalation);
        if escalation.is_none() && !campaign.schedule.escalations().is_empty() {
            out.push(not_drafted(NotDrafted::NoEscalationContact));
        }
        let credentials: Vec<_> = consumer
            .credentials
            .iter()
            .filter(|c| credential_ids.contains(&c.id))
            .collect();
        let prefixes: Vec<&str> = credentials.iter().map(|c| c.prefix.as_str()).collect();
        for &step in &steps {
            let to = match step {
                Step::Escalation(_) => match escalation {
                    Some(contact) => contact,
                    None => continue,
                },
                _ => recipient,
            };
            let draft = drafting::step(consumer, &credentials, timeline, provider, step, &to.name)?;
            let checks = checks::run(
                &draft.subject,
                &draft.body,
                &CheckContext {
                    checks: step.kind().checks(),
                    timeline,
                    zone: &zone,
                    prefixes: &prefixes,
                    vault,
                    acknowledged: &[],
                },
            );
            out.push(Drafted::Notice {
                consumer: *consumer_id,
                pattern: consumer.integration.pattern,
                step,
                due: step.due(
                    timeline,
                    campaign
                        .send_window
                        .as_ref()
                        .unwrap_or(&consumer.send_window),
                    &zone,
                ),
                recipient: to.email.clone(),
                fallbacks: Fallbacks::after(&to.email, &consumer.contacts),
                subject: draft.subject,
                body: draft.body,
                checks,
            });
        }
    }
    Ok(out)
}

async fn store_drafts(rk: &Rekey, campaign: CampaignId, drafted: &[Drafted]) -> Result<()> {
    if drafted.is_empty() {
        return Ok(());
    }
    let mut tx = rk.write(Actor::System).await?;
    store_in(&mut tx, campaign, drafted).await?;
    tx.commit().await
}

/// Stores drafted notices (the built-in drafter's version 1 of each) and counts the consumers
/// drafted; returns the notices in the order drafted.
async fn store_in(
    tx: &mut WriteTx,
    campaign: CampaignId,
    drafted: &[Drafted],
) -> Result<Vec<NoticeId>> {
    let mut notices = Vec::with_capacity(drafted.len());
    let mut consumers = 0i64;
    for d in drafted {
        let (consumer, pattern, step, due, recipient, fallbacks, subject, body, checks) = match d {
            Drafted::Notice {
                consumer,
                pattern,
                step,
                due,
                recipient,
                fallbacks,
                subject,
                body,
                checks,
            } => (
                consumer, pattern, step, due, recipient, fallbacks, subject, body, checks,
            ),
            Drafted::NotDrafted { consumer, reason } => {
                tx.audit(
                    Target::Consumer(*consumer),
                    Detail::NoticeNotDrafted {
                        campaign,
                        consumer: *consumer,
                        reason: *reason,
                    },
                )
                .await?;
                continue;
            }
        };
        // The campaign counts consumers drafted: one announcement each.
        if *step == Step::Announcement {
            consumers += 1;
        }
        let notice = super::workflow::open(
            tx,
            &NewNotice {
                campaign,
                consumer: Some((*consumer, *pattern)),
                step: *step,
                due: *due,
                recipient: recipient.clone(),
                fallbacks: fallbacks.clone(),
                checks_passed: checks::all_passed(checks),
            },
        )
        .await?;
        notices.push(notice);
        let sha256 =
            super::versions::insert_version(tx, notice, 1, subject, body, &Actor::System, checks)
                .await?;
        tx.audit(
            Target::Notice(notice),
            Detail::NoticeDrafted {
                notice,
                version: 1,
                sha256,
            },
        )
        .await?;
        super::versions::audit_failed_checks(tx, notice, 1, checks).await?;
    }
    tx.execute(
        "UPDATE campaigns SET drafted = drafted + $1 WHERE id = $2",
        params![consumers, campaign.get()],
    )
    .await?;
    Ok(notices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_campaign_lifecycle_is_checked() {
        use CampaignEvent as E;
        use CampaignState as S;
        assert_eq!(S::Planned.after(E::Start), Ok(S::Drafting));
        assert_eq!(S::Planned.after(E::Cancel), Ok(S::Cancelled));
        // Only a person's start moves a planned campaign on: drafting does not finish it.
        assert!(S::Planned.after(E::Drafted).is_err());
        assert!(S::Active.after(E::Start).is_err());
        assert_eq!(S::Drafting.after(E::Drafted), Ok(S::Active));
        assert_eq!(S::Active.after(E::Pause), Ok(S::Paused));
        assert_eq!(S::Paused.after(E::Resume), Ok(S::Active));
        assert_eq!(S::Paused.after(E::Cancel), Ok(S::Cancelled));
        assert_eq!(S::Active.after(E::Complete), Ok(S::Completed));
        // A paused campaign does not complete: what it holds is still to be sent.
        assert!(S::Paused.after(E::Complete).is_err());
        for ended in [S::Cancelled, S::Completed] {
            assert!(ended.ended());
            for event in [
                E::Start,
                E::Pause,
                E::Resume,
                E::Cancel,
                E::Complete,
                E::Drafted,
            ] {
                assert!(ended.after(event).is_err(), "{ended} {event:?}");
            }
        }
        assert_eq!(
            S::Cancelled.after(E::Resume).unwrap_err().to_string(),
            "a campaign that is cancelled cannot be resumed"
        );
    }
}
