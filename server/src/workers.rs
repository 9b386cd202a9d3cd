//! Background work that lives as long as the server: delivery, drafting, session clean-up.

use std::collections::BTreeMap;
use std::time::Duration;

use rekey_core::Rekey;
use rekey_core::audit::{Actor, Detail, Target, WriteTx};
use rekey_core::clock::Timestamp;
use rekey_core::delivery::outbox::{self, ClaimedMessage};
use rekey_core::delivery::{OutboxId, OutboxState, Outcome, Recorded, RetryPolicy, smtp::Mailer};
use rekey_core::notices::due::{self, Verdict};
use rekey_core::notices::{NoticeId, WaitReason, campaigns, workflow};
use rekey_core::storage::Bookkeeping;
use tokio::task::JoinSet;

/// Messages one sender claims at a time: small, so the senders share the work evenly and a
/// crash strands few leases.
const CLAIM_BATCH: u32 = 8;

/// Sends approved notices until the process ends, with `senders` concurrent senders (one per
/// SMTP connection).
pub async fn deliver(rk: Rekey, mailer: Mailer, policy: RetryPolicy, senders: usize) {
    let mut set = JoinSet::new();
    for _ in 0..senders.max(1) {
        set.spawn(sender(rk.clone(), mailer.clone(), policy));
    }
    while set.join_next().await.is_some() {}
}

/// Longest an idle sender sleeps without looking. Work that comes due wakes it at the time (the
/// outbox says when), and approvals in this process ring the bell; this catches what another
/// process put in the outbox (a second instance, `rekey audit checkpoint`) and a wall clock
/// that jumps. One indexed query a second.
const MAX_SLEEP: Duration = Duration::from_secs(1);

async fn sender(rk: Rekey, mailer: Mailer, policy: RetryPolicy) {
    let mut sender = mailer.sender();
    loop {
        // Listen before looking, so an approval made while this sender claims is not missed.
        let bell = rk.delivery_wakeup.notified();
        tokio::pin!(bell);
        bell.as_mut().enable();
        let to_send = match claim(&rk, policy.lease_secs, CLAIM_BATCH).await {
            Ok(to_send) => to_send,
            Err(e) => {
                tracing::error!(error = ?e, "could not claim messages to send");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if to_send.is_empty() {
            let sleep = match outbox::next_due(&rk.db).await {
                Ok(Some(due)) => Duration::from_micros(
                    u64::try_from(due.as_micros() - rk.now().as_micros()).unwrap_or(0),
                )
                .min(MAX_SLEEP),
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::error!(error = ?e, "could not read when the outbox is next due");
                    Duration::from_secs(2)
                }
            };
            tokio::select! {
                () = bell => {}
                () = tokio::time::sleep(sleep) => {}
            }
            continue;
        }
        for claimed in to_send {
            let msg = &claimed.message;
            let outcome = if msg.matches_approval() {
                sender.send(msg).await
            } else {
                Outcome::Permanent {
                    code: None,
                    reply: "the message no longer matches the approved version; it was not sent"
                        .into(),
                }
            };
            tracing::info!(message_id = %msg.message_id, attempt = claimed.attempts, outcome = %outcome_kind(&outcome), "delivery attempt");
            if let Err(e) = record(&rk, &claimed, outcome, &policy, mailer.is_local()).await {
                tracing::error!(message_id = %msg.message_id, error = ?e, "could not record a delivery outcome; the lease will bring it back");
            }
        }
    }
}

/// Claims up to `limit` messages due now for one sender: each notice's verdict is read under
/// the writer lock, the messages that may go are leased for `lease_secs` and returned, and the
/// rest are set aside (see [`set_aside`]), all in one transaction. A message that must not go
/// is never leased, so nothing is given back; and a message that comes up while nothing it
/// depends on can change (every writer queues behind this one) is decided exactly once, across
/// processes too.
pub async fn claim(
    rk: &Rekey,
    lease_secs: i64,
    limit: u32,
) -> rekey_core::error::Result<Vec<ClaimedMessage>> {
    let mut tx = rk.write(Actor::System).await?;
    let now = tx.now();
    let due = outbox::due(&mut tx, now, limit).await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let verdicts = due::verdicts(&mut *tx, &due, now).await?;
    let (to_send, held): (Vec<OutboxId>, Vec<OutboxId>) = due
        .into_iter()
        .partition(|id| matches!(verdicts.get(id), Some((_, Verdict::Send)) | None));
    let claimed = outbox::lease(&mut tx, &to_send, now.plus_secs(lease_secs)).await?;
    let held: Vec<_> = held
        .into_iter()
        .filter_map(|id| verdicts.get(&id).map(|(n, v)| (id, *n, *v)))
        .collect();
    set_aside(&mut tx, &held).await?;
    tx.commit_or_bookkeeping(Bookkeeping::OutboxLease).await?;
    Ok(claimed)
}

/// Due notices that must not go now: each waits (outside its send window, a confirmation
/// before its consumer migrated, a paused campaign) or is withheld for good (a reminder to a
/// consumer that migrated, a cancelled campaign). Outbox and notices move in the claim's
/// transaction, audited, a few statements for the whole batch.
async fn set_aside(
    tx: &mut WriteTx,
    held: &[(OutboxId, NoticeId, Verdict)],
) -> rekey_core::error::Result<()> {
    let now = tx.now();
    let mut paused = Vec::new();
    let mut waiting: BTreeMap<(Timestamp, WaitReason), Vec<(OutboxId, NoticeId)>> = BTreeMap::new();
    let mut withheld = Vec::new();
    for &(message, notice, verdict) in held {
        match verdict {
            Verdict::Send => {}
            Verdict::Hold => paused.push((message, notice)),
            Verdict::Wait { until, reason } => waiting
                .entry((until, reason))
                .or_default()
                .push((message, notice)),
            Verdict::Withhold {
                reason,
                migrated_at,
            } => withheld.push((
                message,
                workflow::ToWithhold {
                    notice,
                    reason,
                    migrated_at,
                },
            )),
        }
    }
    let mut waits = Vec::new();
    if !paused.is_empty() {
        let messages: Vec<_> = paused.iter().map(|(m, _)| *m).collect();
        outbox::hold_due(tx, &messages).await?;
        waits.extend(
            paused
                .iter()
                .map(|&(_, notice)| (notice, now, WaitReason::CampaignPaused)),
        );
    }
    for ((until, reason), group) in &waiting {
        let messages: Vec<_> = group.iter().map(|(m, _)| *m).collect();
        outbox::postpone(tx, &messages, *until).await?;
        tracing::debug!(messages = group.len(), until = %until, reason = %reason.label(), "waiting");
        waits.extend(group.iter().map(|&(_, notice)| (notice, *until, *reason)));
    }
    workflow::waiting(tx, &waits).await?;
    if !withheld.is_empty() {
        let messages: Vec<_> = withheld.iter().map(|(m, _)| *m).collect();
        outbox::withdraw(tx, &messages).await?;
        let notices: Vec<_> = withheld
            .iter()
            .map(|(message, w)| {
                tracing::info!(outbox = %message, reason = %w.reason.label(), "withheld");
                *w
            })
            .collect();
        workflow::withheld(tx, &notices).await?;
    }
    Ok(())
}

/// A key event showed consumers migrated off these credentials: their confirmations, waiting
/// for it, come up now instead of at the end of the grace period.
pub async fn migration_seen(rk: &Rekey, credentials: &[String]) {
    let brought = async {
        let waiting = due::confirmations_of(&rk.db, credentials).await?;
        outbox::bring_forward(&rk.db, &waiting, rk.now()).await
    };
    match brought.await {
        Ok(0) => {}
        Ok(_) => rk.delivery_wakeup.notify_waiters(),
        Err(e) => {
            tracing::warn!(error = ?e, "could not bring confirmations forward; they go at the end of the grace period")
        }
    }
}

/// Records an attempt in the outbox and moves the notice it delivers, in one transaction with
/// one audit entry: the outbox knows messages, the notice's workflow knows what they mean.
pub async fn record(
    rk: &Rekey,
    claimed: &ClaimedMessage,
    outcome: Outcome,
    policy: &RetryPolicy,
    to_mailbox: bool,
) -> rekey_core::error::Result<()> {
    let mut tx = rk.write(Actor::System).await?;
    let Some(recorded) = outbox::record(&mut tx, claimed, outcome, policy, to_mailbox).await?
    else {
        tracing::info!(message_id = %claimed.message.message_id, "outcome of a message no longer claimed; ignored");
        return Ok(());
    };
    match workflow::sent_as(&mut tx, claimed.id).await? {
        Some(notice) => {
            workflow::delivery_recorded(
                &mut tx,
                notice,
                claimed.id,
                &claimed.message.message_id,
                claimed.attempts,
                &recorded,
            )
            .await?
        }
        // A system message (an audit checkpoint): no notice moves, the attempt is recorded.
        None => {
            let (smtp_code, state) = match recorded {
                Recorded::Sent { code } => (code, OutboxState::Sent),
                Recorded::Deferred { code, .. } => (code, OutboxState::Pending),
                Recorded::Failed { code, .. } => (code, OutboxState::Failed),
            };
            tx.audit(
                Target::SystemMessage(claimed.id.get()),
                Detail::SystemMessageAttempted {
                    message_id: claimed.message.message_id.clone(),
                    attempts: claimed.attempts,
                    smtp_code,
                    state,
                },
            )
            .await?;
        }
    }
    tx.commit().await
}

fn outcome_kind(o: &Outcome) -> String {
    match o {
        Outcome::Sent { code } => format!("sent {code:?}"),
        Outcome::Transient { code, .. } => format!("deferred {code:?}"),
        Outcome::Permanent { code, .. } => format!("failed {code:?}"),
    }
}

/// Resumes drafting interrupted by a restart.
pub async fn resume_drafting(rk: &Rekey) {
    match campaigns::drafting(&rk.db).await {
        Ok(ids) => {
            for id in ids {
                campaigns::spawn_drafting(rk.clone(), id);
            }
        }
        Err(e) => tracing::error!(error = ?e, "could not list campaigns being drafted"),
    }
}

/// Closes bursts of failed sign-ins that went quiet, writing one summary entry each.
pub async fn summarize_login_bursts(rekey: Rekey) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = rekey_core::login::close_quiet_bursts(&rekey).await {
            tracing::warn!(error = %e, "could not record the summary of failed sign-ins");
        }
    }
}
