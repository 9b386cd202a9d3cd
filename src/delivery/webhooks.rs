//! Webhooks Rekey posts to the key-issuing system (`credential.revocation_safe`); the one
//! writer of the `webhooks` table. A webhook is enqueued in the transaction that made its
//! event true, claimed under a lease like an outbox message (so several instances never post
//! one at the same time, and a crashed poster's claims come back), and every attempt is
//! recorded, in the caller's audited transaction.

use serde_json::json;

use super::{OutboxState, RetryPolicy};
use crate::audit::WriteTx;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::inventory::CredentialId;
use crate::params;
use crate::storage::{Bookkeeping, Db, Row};

crate::declare::id_type!(
    /// A webhook in the `webhooks` table.
    WebhookId
);

/// A webhook claimed for posting.
#[derive(Clone, Debug)]
pub struct ClaimedWebhook {
    /// Its row.
    pub id: WebhookId,
    /// The event's id, the same on every attempt, so the receiver can drop a repeat.
    pub event_id: String,
    /// `credential.revocation_safe`.
    pub kind: String,
    /// The credential it is about.
    pub credential: CredentialId,
    /// The exact JSON body, signed on every attempt.
    pub body: String,
    /// Attempts, including this one.
    pub attempts: i64,
    /// The end of this claim's lease; also its token.
    pub claimed_until: Timestamp,
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered {
        /// Its HTTP status.
        status: u16,
    },
    /// Anything else: another status, no connection, a timeout.
    Failed {
        /// The HTTP status, when the receiver answered.
        status: Option<u16>,
        /// What went wrong, short.
        error: String,
    },
}

/// Records a webhook to post: `kind` about `credential`, with `data` as the event's data.
pub async fn enqueue(
    tx: &mut WriteTx,
    kind: &str,
    credential: CredentialId,
    data: serde_json::Value,
) -> Result<WebhookId> {
    let now = tx.now();
    let event_id = format!("evt_rekey_{:016x}", rand::random::<u64>());
    let body = json!({
        "id": event_id,
        "type": kind,
        "created_at": now.rfc3339(),
        "data": data,
    })
    .to_string();
    tx.scalar(
        "INSERT INTO webhooks (event_id, kind, credential_id, body, state, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6) RETURNING id",
        params![event_id, kind, credential, body, OutboxState::Pending, now],
    )
    .await
}

/// Claims up to `limit` due webhooks for `lease_secs` (bookkeeping, like the outbox's claim).
pub async fn claim(
    db: &Db,
    now: Timestamp,
    lease_secs: i64,
    limit: u32,
) -> Result<Vec<ClaimedWebhook>> {
    let mut tx = db.begin_bookkeeping(Bookkeeping::OutboxLease).await?;
    let rows = tx
        .fetch_all(
            "UPDATE webhooks SET state = $1, claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM webhooks WHERE (state = $3 AND next_attempt_at <= $4) \
                          OR (state = $1 AND claimed_until <= $4) ORDER BY id LIMIT $5) \
             RETURNING id, event_id, kind, credential_id, body, attempts, claimed_until",
            params![
                OutboxState::Sending,
                now.plus_secs(lease_secs),
                OutboxState::Pending,
                now,
                i64::from(limit)
            ],
        )
        .await?;
    tx.commit().await?;
    rows.iter().map(decode).collect()
}

fn decode(r: &Row) -> Result<ClaimedWebhook> {
    Ok(ClaimedWebhook {
        id: r.get(0)?,
        event_id: r.get(1)?,
        kind: r.get(2)?,
        credential: r.get(3)?,
        body: r.get(4)?,
        attempts: r.get(5)?,
        claimed_until: r.get(6)?,
    })
}

/// Records an attempt in the caller's transaction (which audits it): delivered, tried again
/// after a backoff, or given up after the policy's attempts. Answers the webhook's new state,
/// or `None` when the lease ran out meanwhile and another poster holds it.
pub async fn record(
    tx: &mut WriteTx,
    claimed: &ClaimedWebhook,
    attempt: &Attempt,
    policy: &RetryPolicy,
) -> Result<Option<OutboxState>> {
    let now = tx.now();
    let (state, next, error, status) = match attempt {
        Attempt::Delivered { status } => (OutboxState::Sent, None, None, Some(*status)),
        Attempt::Failed { status, error } if claimed.attempts >= policy.max_attempts => {
            (OutboxState::Failed, None, Some(error.as_str()), *status)
        }
        Attempt::Failed { status, error } => (
            OutboxState::Pending,
            Some(policy.retry_at(now, claimed.attempts)),
            Some(error.as_str()),
            *status,
        ),
    };
    let n = tx
        .execute(
            "UPDATE webhooks SET state = $1, next_attempt_at = COALESCE($2, next_attempt_at), last_error = $3, \
             last_status = $4, claimed_until = NULL, delivered_at = $5 WHERE id = $6 AND state = $7 AND claimed_until = $8",
            params![
                state,
                next,
                error.map(|e| e.chars().take(300).collect::<String>()),
                status.map(i64::from),
                (state == OutboxState::Sent).then_some(now),
                claimed.id,
                OutboxState::Sending,
                claimed.claimed_until
            ],
        )
        .await?;
    Ok((n == 1).then_some(state))
}

/// When the next pending webhook is due, if any.
pub async fn next_due(db: &Db) -> Result<Option<Timestamp>> {
    db.fetch_optional(
        "SELECT MIN(next_attempt_at) FROM webhooks WHERE state = $1",
        params![OutboxState::Pending],
    )
    .await?
    .map(|r| r.get::<Option<Timestamp>>(0))
    .transpose()
    .map(Option::flatten)
}
