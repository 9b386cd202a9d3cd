//! Delivery: the durable outbox between an approval and the recipient's inbox. It knows
//! messages, not notices: whoever enqueues a message keeps its [`OutboxId`], and learns what
//! became of it from [`outbox::record`]'s answer (the worker composes the two; see
//! `server/src/workers.rs`).
//!
//! A worker claims due messages under the writer lock (a lease, so a crashed worker's claims
//! come back), sends them, and records each outcome. A message is marked sent only after the
//! server's `250` (or the local mailbox's insert, in the same transaction). If Rekey dies
//! between the `250` and that commit, the lease expires and the message is sent again with the
//! same `Message-ID`, so the duplicate is recognisable.

#[cfg(feature = "server")]
pub mod mailbox;
#[cfg(feature = "server")]
mod message;
#[cfg(feature = "server")]
pub mod outbox;
#[cfg(feature = "server")]
pub mod smtp;
#[cfg(feature = "server")]
pub mod webhooks;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::declare::{Choices, id_type, named_enum};

#[cfg(feature = "server")]
pub use message::{Outcome, OutgoingMessage, RetryPolicy, content_hash, html_document};
#[cfg(feature = "server")]
pub use outbox::{ClaimedMessage, Recorded};

id_type!(
    /// A message in the outbox.
    OutboxId
);

named_enum!(
    /// Where a message is in the outbox.
    OutboxState, field = "state", choices = Choices::OneOf, {
        /// Waiting for its next attempt.
        Pending => ("pending", "Pending"),
        /// Claimed by a sender until its lease ends.
        Sending => ("sending", "Sending"),
        /// Accepted by the SMTP server or put in the local mailbox.
        Sent => ("sent", "Sent"),
        /// Refused for good, or out of attempts.
        Failed => ("failed", "Failed"),
        /// Taken back before it was sent: what it said no longer applied.
        Withdrawn => ("withdrawn", "Withdrawn"),
        /// Kept back while whoever sent it paused (a paused campaign); released on resume.
        Held => ("held", "Held"),
    }
);

/// A message's delivery, for the page of whatever sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// The `Message-ID` it is sent with, the same on every attempt.
    pub message_id: String,
    /// Where it is in the outbox.
    pub state: OutboxState,
    /// Attempts made so far.
    pub attempts: i64,
    /// The server's last refusal or the connection problem.
    pub last_error: Option<String>,
    /// When it is tried next (while pending).
    pub next_attempt_at: Timestamp,
    /// When the server accepted it.
    pub sent_at: Option<Timestamp>,
}
