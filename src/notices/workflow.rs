//! The gated send, whole: every move of a notice, and the only code that writes the
//! `notices` and `approvals` tables. The table of allowed moves is [`NoticeState::after`]; the functions below
//! make each move under the writer lock, with its audit entry:
//!
//! ```text
//! drafted ──submit──▶ in_review ──approve──▶ approved ──delivered──▶ sent
//!    ▲                   │                      │  ▲  │
//!    └──────reject───────┘             delivery │  │  └──withhold──▶ not_sent
//!                                        failed ▼  │ retry
//!                                               failed
//! ```
//!
//! Approval puts the exact approved version in the outbox ([`crate::delivery::outbox`]), due at
//! the notice's step of the series, and keeps the message's id; the delivery worker asks
//! [`super::due::verdict`] whether it may still go when it comes up, and reports each attempt
//! back through [`delivery_recorded`] (or a notice that must not go through [`withheld`]).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::campaigns::CampaignState;
use super::fallbacks::Fallbacks;
use super::queue::summary;
use super::schedule::Step;
use super::versions::{current_rechecked, version};
use super::views::{AuthorKind, Version};
use super::{CampaignId, NoticeId, NoticeKind, NoticeState, WaitReason, Withheld};
use crate::Rekey;
use crate::audit::{Actor, Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::delivery::{self, OutboxId, OutgoingMessage, Recorded};
use crate::error::{Conflict, Error, FourEyes, PeopleOnly, Refusal, Result};
use crate::identity::{EmailAddress, Identity, InputError, Permission};
use crate::inventory::{ConsumerId, IntegrationPattern};
use crate::params;
use crate::storage::{Value, rows_in_after};

/// Something a person or the delivery worker does to a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoticeEvent {
    /// A person saves a new version.
    Edit,
    /// A person submits the notice for review.
    Submit,
    /// An approver approves its current version.
    Approve,
    /// An approver rejects it with a reason.
    Reject,
    /// The outbox delivered its message.
    Delivered,
    /// The outbox gave up on its message.
    DeliveryFailed,
    /// A person sends a failed notice again.
    Retry,
    /// Its condition no longer held when it came due.
    Withhold,
    /// Rekey wrote it again for new dates (a consumer's extension): back to review.
    Redraft,
}

impl NoticeEvent {
    /// The event as a past participle, for messages.
    const fn done(self) -> &'static str {
        match self {
            NoticeEvent::Edit => "edited",
            NoticeEvent::Submit => "submitted",
            NoticeEvent::Approve => "approved",
            NoticeEvent::Reject => "rejected",
            NoticeEvent::Delivered => "delivered",
            NoticeEvent::DeliveryFailed => "marked failed",
            NoticeEvent::Retry => "retried",
            NoticeEvent::Withhold => "withheld",
            NoticeEvent::Redraft => "redrafted",
        }
    }
}

/// A move the gated send does not allow: which event, from which state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.explain())]
pub struct NoticeTransitionError {
    /// Where the notice was.
    pub from: NoticeState,
    /// What was tried.
    pub event: NoticeEvent,
}

impl NoticeTransitionError {
    fn explain(&self) -> String {
        use NoticeEvent as E;
        use NoticeState as S;
        match (self.from, self.event) {
            (S::Approved | S::Sent | S::Failed, E::Edit) => {
                "an approved notice cannot be edited; it is exactly what was approved".into()
            }
            (S::InReview, E::Submit) => "the notice is already in review".into(),
            (S::Drafted, E::Approve | E::Reject) => "submit the notice for review first".into(),
            (state, event) => format!(
                "a notice that is {} cannot be {}",
                state.label().to_lowercase(),
                event.done()
            ),
        }
    }
}

impl NoticeState {
    /// The state after `event`, or why the event is not allowed now.
    pub fn after(self, event: NoticeEvent) -> Result<NoticeState, NoticeTransitionError> {
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
            (S::Approved, E::Withhold) => Ok(S::NotSent),
            (S::Drafted | S::InReview | S::Approved, E::Redraft) => Ok(S::InReview),
            (from, event) => Err(NoticeTransitionError { from, event }),
        }
    }
}

/// A notice as the drafter opens it.
pub(super) struct NewNotice {
    pub campaign: CampaignId,
    /// The consumer it is written to and its integration pattern; none for a team message.
    pub consumer: Option<(ConsumerId, IntegrationPattern)>,
    pub recipient: EmailAddress,
    /// Where it goes if `recipient`'s server refuses it for good.
    pub fallbacks: Fallbacks,
    /// Whether its first version passes its checks.
    pub checks_passed: bool,
    /// Its step of the campaign's series.
    pub step: Step,
    /// When it is due; `None` when it goes as soon as approved (or, for a confirmation, once
    /// the consumer has migrated).
    pub due: Option<Timestamp>,
}

/// Opens a notice, drafted at version 1 (which the caller stores next); the start of the
/// workflow.
pub(super) async fn open(tx: &mut WriteTx, new: &NewNotice) -> Result<NoticeId> {
    let now = tx.now();
    tx.scalar(
        "INSERT INTO notices (campaign_id, consumer_id, kind, days_before, due_at, state, pattern, recipient, \
         current_version, checks_passed, created_at, updated_at, fallbacks) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $10, $11) RETURNING id",
        params![
            new.campaign,
            new.consumer.map(|(id, _)| id),
            new.step.kind(),
            i64::from(new.step.days_before()),
            new.due,
            NoticeState::Drafted,
            new.consumer.map(|(_, pattern)| pattern),
            &new.recipient,
            new.checks_passed,
            now,
            &new.fallbacks,
        ],
    )
    .await
}

/// Points a notice at its current version and whether that passes its checks (after an edit,
/// or an acknowledgement that changed the checks' outcome).
pub(super) async fn set_current(
    tx: &mut WriteTx,
    id: NoticeId,
    version: i64,
    checks_passed: bool,
) -> Result<()> {
    let now = tx.now();
    tx.execute(
        "UPDATE notices SET current_version = $1, checks_passed = $2, updated_at = $3 WHERE id = $4",
        params![version, checks_passed, now, id],
    )
    .await?;
    Ok(())
}

/// A notice as the workflow reads it under the writer lock.
pub(super) struct Locked {
    pub state: NoticeState,
    pub version: i64,
    kind: NoticeKind,
    outbox: Option<OutboxId>,
    recipient: EmailAddress,
    due: Option<Timestamp>,
    campaign: CampaignId,
    campaign_state: CampaignState,
    fallbacks: Fallbacks,
    fallbacks_used: i64,
}

/// The state of a notice, its current version and its message, read under the writer lock.
pub(super) async fn locked(tx: &mut WriteTx, id: NoticeId) -> Result<Locked> {
    let row = tx
        .fetch_optional(
            "SELECT n.state, n.current_version, n.outbox_id, n.recipient, n.due_at, n.campaign_id, c.state, \
             n.fallbacks, n.fallbacks_used, n.kind FROM notices n JOIN campaigns c ON c.id = n.campaign_id WHERE n.id = $1",
            params![id],
        )
        .await?
        .ok_or_else(|| Error::not_found("notice", id))?;
    Ok(Locked {
        state: row.get(0)?,
        version: row.get(1)?,
        outbox: row.get(2)?,
        recipient: row.get(3)?,
        due: row.get(4)?,
        campaign: row.get(5)?,
        campaign_state: row.get(6)?,
        fallbacks: row.get(7)?,
        fallbacks_used: row.get(8)?,
        kind: row.get(9)?,
    })
}

/// The version a person acted on is no longer current.
pub(super) fn stale(current: i64, expected: i64) -> Error {
    Error::Conflict(Conflict::StaleVersion { current, expected })
}

/// Moves a notice along `event`, recording `last_error` (cleared with `None`).
async fn move_along(
    tx: &mut WriteTx,
    id: NoticeId,
    from: NoticeState,
    event: NoticeEvent,
    last_error: Option<&str>,
) -> Result<NoticeState> {
    let next = from.after(event)?;
    let now = tx.now();
    tx.execute(
        "UPDATE notices SET state = $1, last_error = $2, updated_at = $3 WHERE id = $4",
        params![next, last_error, now, id],
    )
    .await?;
    Ok(next)
}

/// Whether an edit may be made now (drafted or in review).
pub(super) fn editable(state: NoticeState) -> Result<()> {
    state.after(NoticeEvent::Edit)?;
    Ok(())
}

/// Puts a drafted notice in the review queue.
pub async fn submit(rk: &Rekey, by: &Identity, id: NoticeId) -> Result<()> {
    if !by.may(Permission::EditNotices) {
        return Err(Error::Forbidden(Permission::EditNotices));
    }
    let mut tx = rk.write(by.into()).await?;
    submit_in(&mut tx, id).await?;
    tx.commit().await
}

/// Moves a draft to review, audited, in the caller's transaction.
pub(super) async fn submit_in(tx: &mut WriteTx, id: NoticeId) -> Result<()> {
    let notice = locked(tx, id).await?;
    move_along(tx, id, notice.state, NoticeEvent::Submit, None).await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeSubmitted {
            notice: id,
            version: notice.version,
        },
    )
    .await?;
    Ok(())
}

/// Why an approval is refused before anything is written.
fn approvable(by: &Identity, v: &Version) -> Result<()> {
    let Identity::User { id: approver, .. } = by else {
        return Err(PeopleOnly::Approve.into());
    };
    if !by.may(Permission::ApproveNotices) {
        return Err(Error::Forbidden(Permission::ApproveNotices));
    }
    // What the model wrote at someone's request is theirs as much as its own.
    if matches!(v.author.kind, AuthorKind::User | AuthorKind::Model)
        && v.author.id == Some(approver.get())
    {
        return Err(FourEyes::OwnVersion(v.version).into());
    }
    if !v.checks_passed() {
        return Err(Error::Refused(Refusal::ChecksFail {
            version: v.version,
            failed: v
                .checks
                .iter()
                .filter(|c| !c.passed())
                .map(|c| c.kind)
                .collect(),
        }));
    }
    if delivery::content_hash(&v.subject, &v.body) != v.sha256 {
        return Err(Error::Internal(format!(
            "version {} no longer matches its hash",
            v.version
        )));
    }
    Ok(())
}

/// Approves one exact version: records the approval against its hash and puts it in the outbox.
pub async fn approve(rk: &Rekey, by: &Identity, id: NoticeId, version_seen: i64) -> Result<()> {
    let v = current_rechecked(rk, id, version_seen).await?;
    approvable(by, &v)?;
    let sender = crate::settings::load(&rk.db).await?.provider.sender;
    let mut tx = rk.write(by.into()).await?;
    approve_in(&mut tx, by, id, &v, &sender).await?;
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(())
}

/// The `Message-ID` of a notice's delivery: stable across retries. A version is approved at
/// most once, so notice and version make it unique.
fn message_id(notice: NoticeId, version: i64, sender: &EmailAddress) -> String {
    let domain = sender
        .as_str()
        .rsplit_once('@')
        .map_or("rekey.invalid", |(_, d)| d);
    format!("<notice-{notice}.v{version}@{domain}>")
}

async fn approve_in(
    tx: &mut WriteTx,
    by: &Identity,
    id: NoticeId,
    v: &Version,
    sender: &EmailAddress,
) -> Result<()> {
    let notice = locked(tx, id).await?;
    if notice.version != v.version {
        return Err(stale(notice.version, v.version));
    }
    notice.state.after(NoticeEvent::Approve)?;
    if notice.campaign_state.ended() {
        return Err(Error::Refused(Refusal::CampaignEnded(notice.campaign)));
    }
    // A planned campaign's notices wait for a person to start it; a team message about it
    // (the agent's summary of what it planned) is what that person may be waiting for.
    if notice.campaign_state == CampaignState::Planned && notice.kind != NoticeKind::TeamMessage {
        return Err(Error::Refused(Refusal::CampaignNotStarted(notice.campaign)));
    }
    let Identity::User { id: approver, .. } = by else {
        return Err(PeopleOnly::Approve.into());
    };
    let now = tx.now();
    tx.execute(
        "INSERT INTO approvals (notice_id, version, sha256, decision, decided_by, decided_at) \
         VALUES ($1, $2, $3, 'approved', $4, $5)",
        params![id, v.version, &v.sha256, *approver, now],
    )
    .await?;
    move_along(tx, id, notice.state, NoticeEvent::Approve, None).await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeApproved {
            notice: id,
            version: v.version,
            sha256: v.sha256.clone(),
        },
    )
    .await?;
    let message = OutgoingMessage {
        message_id: message_id(id, v.version, sender),
        sender: sender.clone(),
        recipient: notice.recipient,
        subject: v.subject.clone(),
        markdown: v.body.clone(),
        sha256: v.sha256.clone(),
    };
    let due = notice.due.unwrap_or(now);
    let outbox = delivery::outbox::enqueue(tx, &message, due).await?;
    tx.execute(
        "UPDATE notices SET outbox_id = $1 WHERE id = $2",
        params![outbox, id],
    )
    .await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeQueued {
            notice: id,
            version: v.version,
            message_id: message.message_id,
        },
    )
    .await?;
    Ok(())
}

/// What submitting many notices did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitOutcome {
    /// Notices submitted for review, in the order asked.
    pub submitted: Vec<NoticeId>,
    /// Notices left alone, with the reason.
    pub skipped: Vec<(NoticeId, String)>,
}

/// Submits each listed notice that is still a draft, in one transaction: a campaign's series
/// goes to the approvers in one step. Notices that cannot be submitted are named with why.
pub async fn submit_many(rk: &Rekey, by: &Identity, ids: &[NoticeId]) -> Result<SubmitOutcome> {
    if !by.may(Permission::EditNotices) {
        return Err(Error::Forbidden(Permission::EditNotices));
    }
    if ids.len() > 1_000 {
        return Err(InputError::new("notices", "submit at most 1,000 notices at once").into());
    }
    let mut outcome = SubmitOutcome::default();
    let mut tx = rk.write(by.into()).await?;
    for &id in ids {
        // A refusal (not found, not a draft) is checked before anything is written.
        match submit_in(&mut tx, id).await {
            Ok(()) => outcome.submitted.push(id),
            Err(e) if !e.is_internal() => outcome.skipped.push((id, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    if !outcome.submitted.is_empty() {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// What approving many notices did to each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOutcome {
    /// Notices approved, in the order asked.
    pub approved: Vec<NoticeId>,
    /// Notices left alone, with the reason.
    pub skipped: Vec<(NoticeId, String)>,
}

/// Approves each listed notice whose current version passes every check and that this
/// approver did not write; each approval is recorded on its own.
pub async fn approve_many(rk: &Rekey, by: &Identity, ids: &[NoticeId]) -> Result<BulkOutcome> {
    if ids.len() > 1_000 {
        return Err(InputError::new("notices", "approve at most 1,000 notices at once").into());
    }
    let sender = crate::settings::load(&rk.db).await?.provider.sender;
    let mut outcome = BulkOutcome::default();
    let mut ready = Vec::new();
    for &id in ids {
        let checked = match summary(&rk.db, id).await {
            Ok(s) => current_rechecked(rk, id, s.version)
                .await
                .and_then(|v| approvable(by, &v).map(|()| v)),
            Err(e) => Err(e),
        };
        match checked {
            Ok(v) => ready.push((id, v)),
            Err(e) if !e.is_internal() => outcome.skipped.push((id, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    if ready.is_empty() {
        return Ok(outcome);
    }
    let mut tx = rk.write(by.into()).await?;
    for (id, v) in &ready {
        match approve_in(&mut tx, by, *id, v, &sender).await {
            Ok(()) => outcome.approved.push(*id),
            Err(e) if !e.is_internal() => outcome.skipped.push((*id, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    if outcome.approved.is_empty() {
        return Ok(outcome);
    }
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(outcome)
}

/// A rejection's reason: what must change, 1 to 1,000 characters.
pub fn parse_reason(raw: &str) -> Result<String, InputError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(InputError::new("reason", "say what must change"));
    }
    if s.chars().count() > 1_000 {
        return Err(InputError::new(
            "reason",
            "a reason has at most 1,000 characters",
        ));
    }
    Ok(s.to_string())
}

/// Sends a notice back to its authors with a reason.
pub async fn reject(
    rk: &Rekey,
    by: &Identity,
    id: NoticeId,
    version_seen: i64,
    reason: &str,
) -> Result<()> {
    let reason = parse_reason(reason)?;
    let Identity::User { id: approver, .. } = by else {
        return Err(PeopleOnly::Review.into());
    };
    if !by.may(Permission::ApproveNotices) {
        return Err(Error::Forbidden(Permission::ApproveNotices));
    }
    let v = version(&rk.db, id, version_seen).await?;
    let mut tx = rk.write(by.into()).await?;
    let notice = locked(&mut tx, id).await?;
    if notice.version != version_seen {
        return Err(stale(notice.version, version_seen));
    }
    notice.state.after(NoticeEvent::Reject)?;
    let now = tx.now();
    tx.execute(
        "INSERT INTO approvals (notice_id, version, sha256, decision, reason, decided_by, decided_at) \
         VALUES ($1, $2, $3, 'rejected', $4, $5, $6)",
        params![id, v.version, &v.sha256, reason, *approver, now],
    )
    .await?;
    move_along(&mut tx, id, notice.state, NoticeEvent::Reject, None).await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeRejected {
            notice: id,
            version: v.version,
        },
    )
    .await?;
    tx.commit().await
}

/// A notice written again by Rekey for new dates (`subject`, `body`, checked as `checks`, due
/// at `due`): a new version, back to review. An approved one's queued message is withdrawn
/// first, so only a new approval sends anything. `false`, changing nothing, when the notice is
/// past that (sent, failed, not sent, or its message is being sent right now).
pub(super) async fn redraft(
    tx: &mut WriteTx,
    id: NoticeId,
    subject: &str,
    body: &str,
    checks: &[super::CheckResult],
    due: Option<Timestamp>,
) -> Result<bool> {
    let notice = locked(tx, id).await?;
    if notice.state.after(NoticeEvent::Redraft).is_err() {
        return Ok(false);
    }
    if let Some(message) = notice.outbox
        && notice.state == NoticeState::Approved
        && delivery::outbox::withdraw_queued(tx, &[message])
            .await?
            .is_empty()
    {
        return Ok(false);
    }
    let version = notice.version + 1;
    let sha256 =
        super::versions::insert_version(tx, id, version, subject, body, &Actor::System, checks)
            .await?;
    set_current(tx, id, version, super::checks::all_passed(checks)).await?;
    tx.execute(
        "UPDATE notices SET due_at = $1, outbox_id = NULL WHERE id = $2",
        params![due, id],
    )
    .await?;
    move_along(tx, id, notice.state, NoticeEvent::Redraft, None).await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeDrafted {
            notice: id,
            version,
            sha256,
        },
    )
    .await?;
    super::versions::audit_failed_checks(tx, id, version, checks).await?;
    Ok(true)
}

/// The notice whose message is `outbox`, if any.
pub async fn sent_as(tx: &mut WriteTx, outbox: OutboxId) -> Result<Option<NoticeId>> {
    tx.fetch_optional(
        "SELECT id FROM notices WHERE outbox_id = $1",
        params![outbox],
    )
    .await?
    .map(|r| r.get(0))
    .transpose()
}

/// What a delivery attempt of notice `id`'s message came to (see
/// [`delivery::outbox::record`]), in the same transaction: the notice moves to sent or failed,
/// and the attempt is audited either way.
pub async fn delivery_recorded(
    tx: &mut WriteTx,
    id: NoticeId,
    outbox: OutboxId,
    message_id: &str,
    attempts: i64,
    recorded: &Recorded,
) -> Result<()> {
    let notice = locked(tx, id).await?;
    let message_id = message_id.to_string();
    if let Recorded::Failed {
        code: Some(code @ 500..=599),
        ..
    } = recorded
        && let Some(next) = notice
            .fallbacks
            .get(usize::try_from(notice.fallbacks_used).unwrap_or(usize::MAX))
    {
        // Refused for good by this contact's server: the same approved message goes to the
        // next contact approved with it.
        delivery::outbox::redirect(tx, outbox, &next.email).await?;
        tx.execute(
            "UPDATE notices SET fallbacks_used = fallbacks_used + 1 WHERE id = $1",
            params![id],
        )
        .await?;
        tx.audit(
            Target::Notice(id),
            Detail::NoticeFallbackUsed {
                notice: id,
                message_id,
                smtp_code: *code,
                to: next.role,
            },
        )
        .await?;
        return Ok(());
    }
    let detail = match recorded {
        Recorded::Sent { code } => {
            move_along(tx, id, notice.state, NoticeEvent::Delivered, None).await?;
            Detail::NoticeSent {
                notice: id,
                message_id,
                attempts,
                smtp_code: *code,
            }
        }
        Recorded::Deferred { code, retry_at } => Detail::NoticeDeferred {
            notice: id,
            message_id,
            attempts,
            smtp_code: *code,
            retry_at: *retry_at,
        },
        Recorded::Failed { code, reply } => {
            let reply = if notice.fallbacks.is_empty() || code.is_none_or(|c| c < 500) {
                reply.clone()
            } else {
                format!("undeliverable: every contact's server refused it; last reply: {reply}")
            };
            move_along(
                tx,
                id,
                notice.state,
                NoticeEvent::DeliveryFailed,
                Some(reply.as_str()),
            )
            .await?;
            Detail::NoticeFailed {
                notice: id,
                message_id,
                attempts,
                smtp_code: *code,
            }
        }
    };
    tx.audit(Target::Notice(id), detail).await?;
    Ok(())
}

/// Records that approvers were reminded of these notices (due soon, unapproved), so each is
/// reminded of once.
pub async fn approvers_reminded(tx: &mut WriteTx, ids: &[NoticeId]) -> Result<()> {
    let now = tx.now();
    for id in ids {
        tx.execute(
            "UPDATE notices SET approval_reminded_at = $1 WHERE id = $2",
            params![now, *id],
        )
        .await?;
    }
    Ok(())
}

/// A notice that must not go: which, why, and when its consumer migrated, if it did.
#[derive(Clone, Copy, Debug)]
pub struct ToWithhold {
    /// The notice.
    pub notice: NoticeId,
    /// Why it does not go.
    pub reason: Withheld,
    /// When its consumer migrated, if it did.
    pub migrated_at: Option<Timestamp>,
}

impl ToWithhold {
    /// What the notice's page says instead of a delivery.
    fn note(&self) -> String {
        match self.migrated_at {
            Some(at) if self.reason == Withheld::ConsumerMigrated => {
                format!("Not sent: the consumer migrated on {}", at.utc_minute())
            }
            _ => format!("Not sent: {}", self.reason.label().to_lowercase()),
        }
    }
}

/// Approved notices whose condition no longer held when they came due (or whose campaign was
/// cancelled), in the transaction that withdrew their messages: each moves to not sent, saying
/// why, and never leaves. One statement per note and few hundred notices, and the audit entries
/// together (a scheduler pass withholds thousands). A notice no longer approved is left as it
/// is, with a warning: whatever moved it decided its fate.
pub async fn withheld(tx: &mut WriteTx, notices: &[ToWithhold]) -> Result<()> {
    let to = NoticeState::Approved.after(NoticeEvent::Withhold)?;
    let now = tx.now();
    let mut by_note: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for n in notices {
        by_note.entry(n.note()).or_default().push(n.notice.into());
    }
    let mut moved = HashSet::with_capacity(notices.len());
    for (note, ids) in &by_note {
        for row in rows_in_after(
            &mut **tx,
            "UPDATE notices SET state = $1, last_error = $2, updated_at = $3 \
             WHERE state = $4 AND id IN ({keys}) RETURNING id",
            params![to, note.as_str(), now, NoticeState::Approved],
            ids,
        )
        .await?
        {
            moved.insert(row.get::<NoticeId>(0)?);
        }
    }
    for n in notices.iter().filter(|n| !moved.contains(&n.notice)) {
        tracing::warn!(notice = %n.notice, "a notice to withhold was no longer approved; left as it is");
    }
    tx.audit_all(
        notices
            .iter()
            .filter(|n| moved.contains(&n.notice))
            .map(|n| {
                (
                    Target::Notice(n.notice),
                    Detail::NoticeWithheld {
                        notice: n.notice,
                        reason: n.reason,
                        migrated_at: n.migrated_at,
                    },
                )
            }),
    )
    .await?;
    Ok(())
}

/// Approved notices that came due wait until their `until`, in the transaction that postponed
/// their messages: one audit entry each, appended together.
pub async fn waiting(
    tx: &mut WriteTx,
    notices: &[(NoticeId, Timestamp, WaitReason)],
) -> Result<()> {
    tx.audit_all(notices.iter().map(|&(notice, until, reason)| {
        (
            Target::Notice(notice),
            Detail::NoticeWaiting {
                notice,
                until,
                reason,
            },
        )
    }))
    .await?;
    Ok(())
}

/// A person sends a failed notice again.
pub async fn retry(rk: &Rekey, by: &Identity, id: NoticeId) -> Result<()> {
    if !by.may(Permission::ManageCampaigns) {
        return Err(Error::Forbidden(Permission::ManageCampaigns));
    }
    let mut tx = rk.write(by.into()).await?;
    let notice = locked(&mut tx, id).await?;
    let Some(outbox) = notice.outbox else {
        return Err(Error::Refused(Refusal::NeverApproved(id)));
    };
    notice.state.after(NoticeEvent::Retry)?;
    let message_id = delivery::outbox::requeue(&mut tx, outbox).await?;
    move_along(&mut tx, id, notice.state, NoticeEvent::Retry, None).await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeRetried {
            notice: id,
            message_id,
        },
    )
    .await?;
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(())
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
            S::Drafted.after(E::Approve).unwrap_err().to_string(),
            "submit the notice for review first"
        );
        assert!(
            S::Approved
                .after(E::Edit)
                .unwrap_err()
                .to_string()
                .starts_with("an approved notice cannot be edited")
        );
        assert_eq!(
            S::Sent.after(E::Retry).unwrap_err().to_string(),
            "a notice that is sent cannot be retried"
        );
    }

    #[test]
    fn message_ids_name_the_notice_and_version() {
        let sender = EmailAddress::parse("rotations@acme.example").unwrap();
        assert_eq!(
            message_id(NoticeId::new(4).unwrap(), 2, &sender),
            "<notice-4.v2@acme.example>"
        );
    }
}
