//! The outbox table, and only this module writes it: enqueue inside the approving
//! transaction, claim under a lease, record each attempt's outcome, requeue on request.

use std::collections::HashMap;

use super::{
    DeliveryRecord, OutboxId, OutboxState, Outcome, OutgoingMessage, RetryPolicy, mailbox,
};
use crate::audit::WriteTx;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::EmailAddress;
use crate::params;
use crate::storage::{Bookkeeping, Db, Query, Row, Tx, Value, map_in, rows_in_after};

/// A message claimed for sending.
#[derive(Clone, Debug)]
pub struct ClaimedMessage {
    /// Its row in the outbox.
    pub id: OutboxId,
    /// What to send.
    pub message: OutgoingMessage,
    /// Including this one.
    pub attempts: i64,
    /// The end of this claim's lease; also its token: a later claim moves it.
    pub claimed_until: Timestamp,
}

/// What [`record`] made of an attempt, for the owner of the message to act on and audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Accepted, or put in the local mailbox.
    Sent {
        /// The SMTP reply code (none for the local mailbox).
        code: Option<u16>,
    },
    /// Tried again at `retry_at`.
    Deferred {
        /// The SMTP reply code, when the server answered.
        code: Option<u16>,
        /// When the next attempt is due.
        retry_at: Timestamp,
    },
    /// Given up: refused for good, or out of attempts. `reply` is kept short.
    Failed {
        /// The SMTP reply code, when the server answered.
        code: Option<u16>,
        /// What the server said, or the connection problem.
        reply: String,
    },
}

/// Puts a message in the outbox, inside the transaction that decided to send it; it is first
/// tried at `due` (now, when that has passed).
pub async fn enqueue(
    tx: &mut WriteTx,
    message: &OutgoingMessage,
    due: Timestamp,
) -> Result<OutboxId> {
    let now = tx.now();
    let id: OutboxId = tx
        .scalar(
            "INSERT INTO outbox (sha256, message_id, sender, recipient, subject, \
             state, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            params![
                &message.sha256,
                message.message_id.as_str(),
                &message.sender,
                &message.recipient,
                message.subject.as_str(),
                OutboxState::Pending,
                due.max(now),
                now,
            ],
        )
        .await?;
    tx.execute(
        "INSERT INTO outbox_bodies (outbox_id, text_body) VALUES ($1, $2)",
        params![id, message.markdown.as_str()],
    )
    .await?;
    Ok(id)
}

/// Up to `limit` messages due at `now`: first what a crashed sender left (its lease ran out),
/// then the longest due. Read under the writer lock, so nothing else can take them before this
/// transaction ends; each is then either [`lease`]d to send or set aside ([`postpone`],
/// [`withdraw`], [`hold_due`]) in the same transaction, so a message that must not go is never
/// leased (a scheduler pass on a reminder day sets aside tens of thousands).
pub async fn due(tx: &mut Tx, now: Timestamp, limit: u32) -> Result<Vec<OutboxId>> {
    // A leased message's lease end is also its `next_attempt_at`, so both kinds are one range
    // of the (state, next_attempt_at) index: no scan of every message in flight, no sort.
    let mut ids = Vec::new();
    for state in [OutboxState::Sending, OutboxState::Pending] {
        let wanted = i64::from(limit) - ids.len() as i64;
        if wanted <= 0 {
            break;
        }
        for row in tx
            .fetch_all(
                "SELECT id FROM outbox WHERE state = $1 AND next_attempt_at <= $2 \
                 ORDER BY next_attempt_at LIMIT $3",
                params![state, now, wanted],
            )
            .await?
        {
            ids.push(row.get(0)?);
        }
    }
    Ok(ids)
}

/// Leases messages [`due`] in this transaction to a sender until `lease_end`, and returns them
/// with their text: bookkeeping (see [`Bookkeeping::OutboxLease`]); what each attempt comes to
/// is recorded by [`record`].
pub async fn lease(
    tx: &mut Tx,
    ids: &[OutboxId],
    lease_end: Timestamp,
) -> Result<Vec<ClaimedMessage>> {
    let keys: Vec<Value> = ids.iter().map(|id| (*id).into()).collect();
    let rows = rows_in_after(
        tx,
        "UPDATE outbox SET state = $1, claimed_until = $2, next_attempt_at = $2, \
         attempts = attempts + 1 WHERE id IN ({keys}) \
         RETURNING id, message_id, sender, recipient, subject, sha256, attempts, claimed_until",
        params![OutboxState::Sending, lease_end],
        &keys,
    )
    .await?;
    // The text lives apart from the row the lease rewrites (see migration 0012).
    let mut bodies: HashMap<OutboxId, String> = map_in(
        tx,
        "SELECT outbox_id, text_body FROM outbox_bodies WHERE outbox_id IN ({keys})",
        ids,
    )
    .await?;
    rows.iter()
        .map(|r| {
            let id: OutboxId = r.get(0)?;
            let markdown = bodies
                .remove(&id)
                .ok_or_else(|| Error::Internal(format!("outbox message {id} has no text")))?;
            decode_claimed(r, markdown)
        })
        .collect()
}

fn decode_claimed(r: &Row, markdown: String) -> Result<ClaimedMessage> {
    Ok(ClaimedMessage {
        id: r.get(0)?,
        message: OutgoingMessage {
            message_id: r.get(1)?,
            sender: r.get(2)?,
            recipient: r.get(3)?,
            subject: r.get(4)?,
            markdown,
            sha256: r.get(5)?,
        },
        attempts: r.get(6)?,
        claimed_until: r.get(7)?,
    })
}

/// Replies are kept short in the database and on the page.
fn short(reply: &str) -> String {
    let one_line = reply.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(300).collect()
}

/// Records what happened to a claimed message, in the caller's transaction (which audits it).
/// `None` when the lease ran out meanwhile: another sender has claimed the message since, and
/// its outcome counts.
pub async fn record(
    tx: &mut WriteTx,
    claimed: &ClaimedMessage,
    outcome: Outcome,
    policy: &RetryPolicy,
    to_mailbox: bool,
) -> Result<Option<Recorded>> {
    let now = tx.now();
    let ours = tx
        .fetch_optional(
            "SELECT id FROM outbox WHERE id = $1 AND state = $2 AND claimed_until = $3",
            params![claimed.id, OutboxState::Sending, claimed.claimed_until],
        )
        .await?
        .is_some();
    if !ours {
        return Ok(None);
    }
    let outcome = match outcome {
        Outcome::Transient { code, reply } if claimed.attempts >= policy.max_attempts => {
            Outcome::Permanent {
                code,
                reply: format!(
                    "gave up after {} attempts; last reply: {reply}",
                    claimed.attempts
                ),
            }
        }
        other => other,
    };
    let recorded = match outcome {
        Outcome::Sent { code } => {
            if to_mailbox {
                mailbox::deliver(tx, &claimed.message).await?;
            }
            tx.execute(
                "UPDATE outbox SET state = $1, sent_at = $2, last_error = NULL, claimed_until = NULL WHERE id = $3",
                params![OutboxState::Sent, now, claimed.id],
            )
            .await?;
            Recorded::Sent { code }
        }
        Outcome::Transient { code, reply } => {
            let retry_at = policy.retry_at(now, claimed.attempts);
            tx.execute(
                "UPDATE outbox SET state = $1, next_attempt_at = $2, last_error = $3, claimed_until = NULL WHERE id = $4",
                params![OutboxState::Pending, retry_at, short(&reply), claimed.id],
            )
            .await?;
            Recorded::Deferred { code, retry_at }
        }
        Outcome::Permanent { code, reply } => {
            let reply = short(&reply);
            tx.execute(
                "UPDATE outbox SET state = $1, last_error = $2, claimed_until = NULL WHERE id = $3",
                params![OutboxState::Failed, reply.as_str(), claimed.id],
            )
            .await?;
            Recorded::Failed { code, reply }
        }
    };
    Ok(Some(recorded))
}

/// Sets messages [`due`] in this transaction aside unsent, into `to` (tried again at `retry_at`
/// when one is given): whoever owns a message decided it must not go now. The attempt count is
/// left as it is (no attempt was made). One statement per few hundred messages.
async fn set_aside(
    tx: &mut WriteTx,
    ids: &[OutboxId],
    to: OutboxState,
    retry_at: Option<Timestamp>,
) -> Result<()> {
    let keys: Vec<Value> = ids.iter().map(|id| (*id).into()).collect();
    rows_in_after(
        &mut **tx,
        "UPDATE outbox SET state = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
         claimed_until = NULL WHERE id IN ({keys})",
        params![to, retry_at],
        &keys,
    )
    .await?;
    Ok(())
}

/// Sends a message that failed for good to another address instead, from the first attempt,
/// now: the same approved subject, body and `Message-ID`. In the transaction that recorded the
/// failure.
pub async fn redirect(tx: &mut WriteTx, id: OutboxId, to: &EmailAddress) -> Result<()> {
    let now = tx.now();
    tx.execute(
        "UPDATE outbox SET recipient = $1, state = $2, attempts = 0, next_attempt_at = $3, \
         last_error = NULL, claimed_until = NULL WHERE id = $4 AND state = $5",
        params![to, OutboxState::Pending, now, id, OutboxState::Failed],
    )
    .await?;
    Ok(())
}

/// Sets messages [`due`] in this transaction aside, to be tried at `until`.
pub async fn postpone(tx: &mut WriteTx, ids: &[OutboxId], until: Timestamp) -> Result<()> {
    set_aside(tx, ids, OutboxState::Pending, Some(until)).await
}

/// Takes messages [`due`] in this transaction back for good, unsent: what they said no longer
/// applies.
pub async fn withdraw(tx: &mut WriteTx, ids: &[OutboxId]) -> Result<()> {
    set_aside(tx, ids, OutboxState::Withdrawn, None).await
}

/// Holds messages [`due`] in this transaction whose campaign is paused, until [`release`].
pub async fn hold_due(tx: &mut WriteTx, ids: &[OutboxId]) -> Result<()> {
    set_aside(tx, ids, OutboxState::Held, None).await
}

/// Moves each listed message that is in one of `from` into `to`; returns those moved.
async fn move_listed(
    tx: &mut WriteTx,
    ids: &[OutboxId],
    from: &[OutboxState],
    to: OutboxState,
) -> Result<Vec<OutboxId>> {
    let mut moved = Vec::new();
    for id in ids {
        for state in from {
            let n = tx
                .execute(
                    "UPDATE outbox SET state = $1 WHERE id = $2 AND state = $3",
                    params![to, *id, *state],
                )
                .await?;
            if n == 1 {
                moved.push(*id);
                break;
            }
        }
    }
    Ok(moved)
}

/// Holds queued messages (their sender paused): they stay in the outbox, untouched, until
/// [`release`]. Returns how many were held.
pub async fn hold(tx: &mut WriteTx, ids: &[OutboxId]) -> Result<i64> {
    Ok(
        move_listed(tx, ids, &[OutboxState::Pending], OutboxState::Held)
            .await?
            .len() as i64,
    )
}

/// Releases held messages: each goes at its own due time (at once when that has passed).
pub async fn release(tx: &mut WriteTx, ids: &[OutboxId]) -> Result<i64> {
    Ok(
        move_listed(tx, ids, &[OutboxState::Held], OutboxState::Pending)
            .await?
            .len() as i64,
    )
}

/// Withdraws queued or held messages for good (their sender cancelled). Returns the ids
/// withdrawn; a message being sent right now is left to its attempt.
pub async fn withdraw_queued(tx: &mut WriteTx, ids: &[OutboxId]) -> Result<Vec<OutboxId>> {
    move_listed(
        tx,
        ids,
        &[OutboxState::Pending, OutboxState::Held],
        OutboxState::Withdrawn,
    )
    .await
}

/// Brings waiting messages forward to `now` (bookkeeping, see [`Bookkeeping::OutboxWakeUp`]);
/// how many moved.
pub async fn bring_forward(db: &Db, ids: &[OutboxId], now: Timestamp) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin_bookkeeping(Bookkeeping::OutboxWakeUp).await?;
    let mut moved = 0;
    for id in ids {
        moved += tx
            .execute(
                "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND state = $3 AND next_attempt_at > $1",
                params![now, *id, OutboxState::Pending],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(moved)
}

/// When the outbox next has something to do: the earliest pending attempt or expiring lease.
/// Senders sleep until then (or until an approval rings), rather than polling.
pub async fn next_due(db: &Db) -> Result<Option<Timestamp>> {
    let row = db
        .fetch_optional(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state IN ($1, $2)",
            params![OutboxState::Pending, OutboxState::Sending],
        )
        .await?;
    match row {
        Some(r) => r.get(0),
        None => Ok(None),
    }
}

/// Puts a failed message back in line with fresh attempts (a person asked to retry); returns
/// its `Message-ID`. Only a failed message can be requeued.
pub async fn requeue(tx: &mut WriteTx, id: OutboxId) -> Result<String> {
    let now = tx.now();
    let row = tx
        .fetch_optional(
            "UPDATE outbox SET state = $1, attempts = 0, next_attempt_at = $2, claimed_until = NULL \
             WHERE id = $3 AND state = $4 RETURNING message_id",
            params![OutboxState::Pending, now, id, OutboxState::Failed],
        )
        .await?
        .ok_or_else(|| Error::Internal(format!("outbox message {id} is not failed")))?;
    row.get(0)
}

/// The delivery of message `id`, read in a transaction or on the pool.
pub async fn delivery(q: &mut impl Query, id: OutboxId) -> Result<DeliveryRecord> {
    let row = q
        .row(
            "SELECT message_id, state, attempts, last_error, next_attempt_at, sent_at FROM outbox WHERE id = $1",
            params![id],
        )
        .await?
        .ok_or_else(|| Error::not_found("outbox message", id))?;
    Ok(DeliveryRecord {
        message_id: row.get(0)?,
        state: row.get(1)?,
        attempts: row.get(2)?,
        last_error: row.get(3)?,
        next_attempt_at: row.get(4)?,
        sent_at: row.get(5)?,
    })
}
