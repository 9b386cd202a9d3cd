//! Delivery: the durable outbox between approval and the recipient's inbox.
//!
//! Approval writes an outbox row in the same transaction. A worker claims due rows under the
//! writer lock (a lease, so a crashed worker's claims come back), sends them, and records each
//! outcome with its audit entry. A row is marked sent only after the server's `250` (or the
//! local mailbox's insert, in the same transaction). If Rekey dies between the `250` and that
//! commit, the lease expires and the message is sent again with the same `Message-ID`, so the
//! duplicate is recognisable.

pub mod smtp;

use serde::{Deserialize, Serialize};

use crate::Rekey;
use crate::audit::{Actor, Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{EmailAddress, Identity, Permission};
use crate::notices::campaigns::content_hash;
use crate::notices::store::Version;
use crate::notices::{NoticeEvent, NoticeId, NoticeState, render};
use crate::params;
use crate::storage::{Db, Row, WriteTx};

/// A message claimed for sending.
#[derive(Clone, Debug)]
pub struct OutboxMessage {
    pub id: i64,
    pub notice: NoticeId,
    pub message_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    /// The approved markdown: the text part as sent, and what the HTML part is rendered from.
    pub text_body: String,
    pub sha256: String,
    /// Including this one.
    pub attempts: i64,
    /// The end of this claim's lease; also its token: a later claim moves it.
    pub claimed_until: Timestamp,
}

/// What a send attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (`250`), or put in the local mailbox.
    Sent { code: Option<u16> },
    /// Try again later: a `4xx` reply, a dropped connection, a timeout.
    Transient { code: Option<u16>, reply: String },
    /// Do not try again: a `5xx` reply or a message the server cannot take.
    Permanent { code: Option<u16>, reply: String },
}

/// When to try again.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub base_secs: i64,
    pub cap_secs: i64,
    /// Attempts before a transient failure counts as permanent.
    pub max_attempts: i64,
    /// How long a claim lasts before another worker may take the message.
    pub lease_secs: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_secs: 10,
            cap_secs: 30 * 60,
            max_attempts: 10,
            lease_secs: 120,
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with ±20 % jitter (`jitter` in [0, 1)), capped.
    pub fn backoff_secs(&self, attempts: i64, jitter: f64) -> i64 {
        let exponent = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
        let raw = self
            .base_secs
            .saturating_mul(1_i64 << exponent)
            .min(self.cap_secs);
        ((raw as f64) * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))).round() as i64
    }
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

/// The HTML part of a notice: the approved markdown rendered (and sanitised) at send time, so
/// the approval's hash over subject and markdown covers both parts and no stored copy can
/// differ from what was approved.
pub fn html_document(subject: &str, markdown: &str) -> String {
    let title = subject
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"font-family: -apple-system, Segoe UI, sans-serif; line-height: 1.5; max-width: 42rem\">\n{}</body></html>\n",
        render::html(markdown)
    )
}

/// Puts an approved version in the outbox (inside the approval's transaction).
pub(crate) async fn enqueue(
    tx: &mut WriteTx,
    notice: NoticeId,
    v: &Version,
    sender: &EmailAddress,
    recipient: &str,
) -> Result<()> {
    let now = tx.now();
    let message_id = message_id(notice, v.version, sender);
    tx.execute(
        "INSERT INTO outbox (notice_id, version, sha256, message_id, sender, recipient, subject, text_body, \
         state, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)",
        params![
            notice.get(),
            v.version,
            v.sha256.as_str(),
            message_id.as_str(),
            sender.as_str(),
            recipient,
            v.subject.as_str(),
            v.body.as_str(),
            now,
        ],
    )
    .await?;
    tx.audit(
        Target::Notice(notice),
        Detail::NoticeQueued {
            notice,
            version: v.version,
            message_id,
        },
    )
    .await?;
    Ok(())
}

/// Claims up to `limit` due messages for `lease_secs`.
pub async fn claim(
    db: &Db,
    now: Timestamp,
    lease_secs: i64,
    limit: u32,
) -> Result<Vec<OutboxMessage>> {
    let mut tx = db.begin_locked().await?;
    let rows = tx
        .fetch_all(
            "UPDATE outbox SET state = 'sending', claimed_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE (state = 'pending' AND next_attempt_at <= $2) \
                          OR (state = 'sending' AND claimed_until <= $2) ORDER BY id LIMIT $3) \
             RETURNING id, notice_id, message_id, sender, recipient, subject, text_body, sha256, attempts, claimed_until",
            params![now.plus_secs(lease_secs), now, i64::from(limit)],
        )
        .await?;
    tx.commit().await?;
    rows.iter()
        .map(|r: &Row| {
            Ok(OutboxMessage {
                id: r.get(0)?,
                notice: NoticeId::new(r.get(1)?),
                message_id: r.get(2)?,
                sender: r.get(3)?,
                recipient: r.get(4)?,
                subject: r.get(5)?,
                text_body: r.get(6)?,
                sha256: r.get(7)?,
                attempts: r.get(8)?,
                claimed_until: r.get(9)?,
            })
        })
        .collect()
}

impl OutboxMessage {
    /// Whether the message is still exactly what was approved. Both parts derive from subject
    /// and markdown, which the hash covers.
    pub fn matches_approval(&self) -> bool {
        content_hash(&self.subject, &self.text_body).as_str() == self.sha256
    }

    /// The HTML part, rendered now from the approved markdown.
    pub fn html_body(&self) -> String {
        html_document(&self.subject, &self.text_body)
    }
}

/// Replies are kept short in the database and on the page.
fn short(reply: &str) -> String {
    let one_line = reply.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(300).collect()
}

async fn move_notice(
    tx: &mut WriteTx,
    notice: NoticeId,
    event: NoticeEvent,
    error: Option<&str>,
) -> Result<()> {
    let state: String = tx
        .scalar(
            "SELECT state FROM notices WHERE id = $1",
            params![notice.get()],
        )
        .await?;
    let state: NoticeState = state
        .parse()
        .map_err(|e| Error::Internal(format!("a stored notice state is invalid: {e}")))?;
    let next = state.after(event).map_err(Error::Internal)?;
    let now = tx.now();
    tx.execute(
        "UPDATE notices SET state = $1, last_error = $2, updated_at = $3 WHERE id = $4",
        params![next.as_str(), error, now, notice.get()],
    )
    .await?;
    Ok(())
}

/// Records what happened to a claimed message, with its audit entry.
pub async fn record(
    rk: &Rekey,
    msg: &OutboxMessage,
    outcome: Outcome,
    policy: &RetryPolicy,
    to_mailbox: bool,
) -> Result<()> {
    let mut tx = rk.write(Actor::System).await?;
    let now = tx.now();
    // If our lease ran out, another sender has claimed the message since; its outcome counts.
    let ours = tx
        .fetch_optional(
            "SELECT id FROM outbox WHERE id = $1 AND state = 'sending' AND claimed_until = $2",
            params![msg.id, msg.claimed_until],
        )
        .await?
        .is_some();
    if !ours {
        tracing::info!(message_id = %msg.message_id, "outcome of a message no longer claimed; ignored");
        return Ok(());
    }
    let outcome = match outcome {
        Outcome::Transient { code, reply } if msg.attempts >= policy.max_attempts => {
            Outcome::Permanent {
                code,
                reply: format!(
                    "gave up after {} attempts; last reply: {reply}",
                    msg.attempts
                ),
            }
        }
        other => other,
    };
    let (notice, message_id, attempts) = (msg.notice, msg.message_id.clone(), msg.attempts);
    match outcome {
        Outcome::Sent { code } => {
            if to_mailbox {
                tx.execute(
                    "INSERT INTO mailbox (message_id, sender, recipient, subject, text_body, html_body, delivered_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    params![&msg.message_id, &msg.sender, &msg.recipient, &msg.subject, &msg.text_body, msg.html_body(), now],
                )
                .await?;
            }
            tx.execute(
                "UPDATE outbox SET state = 'sent', sent_at = $1, last_error = NULL, claimed_until = NULL WHERE id = $2",
                params![now, msg.id],
            )
            .await?;
            move_notice(&mut tx, notice, NoticeEvent::Delivered, None).await?;
            tx.audit(
                Target::Notice(notice),
                Detail::NoticeSent {
                    notice,
                    message_id,
                    attempts,
                    smtp_code: code,
                },
            )
            .await?;
        }
        Outcome::Transient { code, reply } => {
            let retry_at = now.plus_secs(policy.backoff_secs(attempts, rand::random::<f64>()));
            tx.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = $1, last_error = $2, claimed_until = NULL WHERE id = $3",
                params![retry_at, short(&reply), msg.id],
            )
            .await?;
            tx.audit(
                Target::Notice(notice),
                Detail::NoticeDeferred {
                    notice,
                    message_id,
                    attempts,
                    smtp_code: code,
                    retry_at,
                },
            )
            .await?;
        }
        Outcome::Permanent { code, reply } => {
            let reply = short(&reply);
            tx.execute(
                "UPDATE outbox SET state = 'failed', last_error = $1, claimed_until = NULL WHERE id = $2",
                params![reply.as_str(), msg.id],
            )
            .await?;
            move_notice(&mut tx, notice, NoticeEvent::DeliveryFailed, Some(&reply)).await?;
            tx.audit(
                Target::Notice(notice),
                Detail::NoticeFailed {
                    notice,
                    message_id,
                    attempts,
                    smtp_code: code,
                },
            )
            .await?;
        }
    }
    tx.commit().await
}

/// A person sends a failed notice again.
pub async fn retry(rk: &Rekey, by: &Identity, notice: NoticeId) -> Result<()> {
    if !by.may(Permission::ManageCampaigns) {
        return Err(Error::Forbidden(Permission::ManageCampaigns));
    }
    let mut tx = rk.write(by.into()).await?;
    let row = tx
        .fetch_optional(
            "SELECT id, message_id FROM outbox WHERE notice_id = $1 ORDER BY id DESC LIMIT 1",
            params![notice.get()],
        )
        .await?
        .ok_or_else(|| {
            Error::Refused(format!(
                "notice {notice} was never approved, so there is nothing to retry"
            ))
        })?;
    let outbox: i64 = row.get(0)?;
    let message_id: String = row.get(1)?;
    let state: String = tx
        .scalar(
            "SELECT state FROM notices WHERE id = $1",
            params![notice.get()],
        )
        .await?;
    let state: NoticeState = state
        .parse()
        .map_err(|e| Error::Internal(format!("a stored notice state is invalid: {e}")))?;
    let next = state.after(NoticeEvent::Retry).map_err(Error::Refused)?;
    let now = tx.now();
    tx.execute(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, claimed_until = NULL WHERE id = $2",
        params![now, outbox],
    )
    .await?;
    tx.execute(
        "UPDATE notices SET state = $1, last_error = NULL, updated_at = $2 WHERE id = $3",
        params![next.as_str(), now, notice.get()],
    )
    .await?;
    tx.audit(
        Target::Notice(notice),
        Detail::NoticeRetried { notice, message_id },
    )
    .await?;
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(())
}

/// A notice's delivery, for its page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub message_id: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

pub async fn record_for(db: &Db, notice: NoticeId) -> Result<Option<DeliveryRecord>> {
    db.fetch_optional(
        "SELECT message_id, state, attempts, last_error, next_attempt_at, sent_at FROM outbox \
         WHERE notice_id = $1 ORDER BY id DESC LIMIT 1",
        params![notice.get()],
    )
    .await?
    .map(|r| {
        Ok(DeliveryRecord {
            message_id: r.get(0)?,
            state: r.get(1)?,
            attempts: r.get(2)?,
            last_error: r.get(3)?,
            next_attempt_at: r.get(4)?,
            sent_at: r.get(5)?,
        })
    })
    .transpose()
}

/// A message in the local mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxMessage {
    pub id: i64,
    pub message_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub delivered_at: Timestamp,
}

const MAILBOX_COLUMNS: &str =
    "id, message_id, sender, recipient, subject, text_body, html_body, delivered_at";

fn decode_mail(r: &Row) -> Result<MailboxMessage> {
    Ok(MailboxMessage {
        id: r.get(0)?,
        message_id: r.get(1)?,
        sender: r.get(2)?,
        recipient: r.get(3)?,
        subject: r.get(4)?,
        text_body: r.get(5)?,
        html_body: r.get(6)?,
        delivered_at: r.get(7)?,
    })
}

/// The newest messages in the local mailbox, optionally for one recipient.
pub async fn mailbox(db: &Db, recipient: Option<&str>, limit: u32) -> Result<Vec<MailboxMessage>> {
    let limit = limit.clamp(1, 500);
    let rows = match recipient {
        Some(r) => {
            db.fetch_all(
                &format!("SELECT {MAILBOX_COLUMNS} FROM mailbox WHERE LOWER(recipient) = LOWER($1) ORDER BY id DESC LIMIT {limit}"),
                params![r],
            )
            .await?
        }
        None => {
            db.fetch_all(&format!("SELECT {MAILBOX_COLUMNS} FROM mailbox ORDER BY id DESC LIMIT {limit}"), &[])
                .await?
        }
    };
    rows.iter().map(decode_mail).collect()
}

pub async fn mailbox_message(db: &Db, id: i64) -> Result<MailboxMessage> {
    db.fetch_optional(
        &format!("SELECT {MAILBOX_COLUMNS} FROM mailbox WHERE id = $1"),
        params![id],
    )
    .await?
    .as_ref()
    .map(decode_mail)
    .transpose()?
    .ok_or_else(|| Error::not_found("message", id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_secs(1, 0.5), 10);
        assert_eq!(p.backoff_secs(2, 0.5), 20);
        assert_eq!(p.backoff_secs(3, 0.0), 32);
        assert_eq!(p.backoff_secs(3, 1.0), 48);
        assert_eq!(p.backoff_secs(20, 0.5), 1800);
    }

    #[test]
    fn message_ids_name_the_notice_and_version() {
        let sender = EmailAddress::parse("rotations@acme.example").unwrap();
        assert_eq!(
            message_id(NoticeId::new(4), 2, &sender),
            "<notice-4.v2@acme.example>"
        );
    }
}
