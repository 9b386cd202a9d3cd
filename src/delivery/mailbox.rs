//! The local mailbox: where messages go when no SMTP server is configured, so a demo or a test
//! shows exactly what would have been sent. Only this module writes the `mailbox` table.

use serde::{Deserialize, Serialize};

use super::OutgoingMessage;
use crate::audit::WriteTx;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::EmailAddress;
use crate::params;
use crate::storage::{Db, Row};

/// A message in the local mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxMessage {
    /// Its row.
    pub id: i64,
    /// The `Message-ID` it was sent with.
    pub message_id: String,
    /// The `From` address.
    pub sender: EmailAddress,
    /// The `To` address.
    pub recipient: EmailAddress,
    /// The subject.
    pub subject: String,
    /// The text part: the approved markdown.
    pub text_body: String,
    /// The HTML part, rendered from the markdown when it was delivered.
    pub html_body: String,
    /// When it was delivered here.
    pub delivered_at: Timestamp,
}

/// Delivers `message` to the local mailbox, in the transaction that records it sent.
pub(super) async fn deliver(tx: &mut WriteTx, message: &OutgoingMessage) -> Result<()> {
    let now = tx.now();
    tx.execute(
        "INSERT INTO mailbox (message_id, sender, recipient, subject, text_body, html_body, delivered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![
            message.message_id.as_str(),
            &message.sender,
            &message.recipient,
            message.subject.as_str(),
            message.markdown.as_str(),
            message.html_body(),
            now
        ],
    )
    .await?;
    Ok(())
}

const COLUMNS: &str =
    "id, message_id, sender, recipient, subject, text_body, html_body, delivered_at";

fn decode(r: &Row) -> Result<MailboxMessage> {
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
pub async fn list(db: &Db, recipient: Option<&str>, limit: u32) -> Result<Vec<MailboxMessage>> {
    let limit = limit.clamp(1, 500);
    let rows = match recipient {
        Some(r) => {
            db.fetch_all(
                &format!("SELECT {COLUMNS} FROM mailbox WHERE LOWER(recipient) = LOWER($1) ORDER BY id DESC LIMIT {limit}"),
                params![r],
            )
            .await?
        }
        None => {
            db.fetch_all(
                &format!("SELECT {COLUMNS} FROM mailbox ORDER BY id DESC LIMIT {limit}"),
                &[],
            )
            .await?
        }
    };
    rows.iter().map(decode).collect()
}

/// One message of the local mailbox.
pub async fn message(db: &Db, id: i64) -> Result<MailboxMessage> {
    db.fetch_optional(
        &format!("SELECT {COLUMNS} FROM mailbox WHERE id = $1"),
        params![id],
    )
    .await?
    .as_ref()
    .map(decode)
    .transpose()?
    .ok_or_else(|| Error::not_found("message", id))
}
