//! What the outbox carries and how a send ends: the approved message, its content hash and
//! HTML part, the outcome of an attempt and when to try again.

use crate::audit::Sha256Hex;
use crate::clock::Timestamp;
use crate::identity::EmailAddress;

/// A message to send: exactly what was approved, with the hash the approval names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Stable across retries, so a duplicate after a crash is recognisable.
    pub message_id: String,
    /// The `From` address.
    pub sender: EmailAddress,
    /// The `To` address.
    pub recipient: EmailAddress,
    /// The subject.
    pub subject: String,
    /// Markdown: the text part as sent, and what the HTML part is rendered from.
    pub markdown: String,
    /// [`content_hash`] of subject and markdown when the message was approved.
    pub sha256: Sha256Hex,
}

impl OutgoingMessage {
    /// Whether the message is still exactly what was approved. Both parts derive from subject
    /// and markdown, which the hash covers.
    pub fn matches_approval(&self) -> bool {
        content_hash(&self.subject, &self.markdown) == self.sha256
    }

    /// The HTML part, rendered now from the approved markdown.
    pub fn html_body(&self) -> String {
        html_document(&self.subject, &self.markdown)
    }
}

/// The hash an approval is recorded against: the exact subject and markdown, separated so no
/// two different messages share an encoding.
pub fn content_hash(subject: &str, markdown: &str) -> Sha256Hex {
    let mut bytes = Vec::with_capacity(subject.len() + markdown.len() + 16);
    bytes.extend_from_slice(&(subject.len() as u64).to_be_bytes());
    bytes.extend_from_slice(subject.as_bytes());
    bytes.extend_from_slice(markdown.as_bytes());
    Sha256Hex::of(&bytes)
}

/// The HTML part of a message: the approved markdown rendered (and sanitised) at send time,
/// so the approval's hash over subject and markdown covers both parts and no stored copy can
/// differ from what was approved.
pub fn html_document(subject: &str, markdown: &str) -> String {
    let title = subject
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"font-family: -apple-system, Segoe UI, sans-serif; line-height: 1.5; max-width: 42rem\">\n{}</body></html>\n",
        crate::markdown::html(markdown)
    )
}

/// What a send attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (`250`), or put in the local mailbox.
    Sent {
        /// The SMTP reply code (none for the local mailbox).
        code: Option<u16>,
    },
    /// Try again later: a `4xx` reply, a dropped connection, a timeout.
    Transient {
        /// The SMTP reply code, when the server answered.
        code: Option<u16>,
        /// What the server said, or the connection problem.
        reply: String,
    },
    /// Do not try again: a `5xx` reply or a message the server cannot take.
    Permanent {
        /// The SMTP reply code, when the server answered.
        code: Option<u16>,
        /// What the server said.
        reply: String,
    },
}

/// When to try again.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// The wait after the first failure.
    pub base_secs: i64,
    /// The longest wait.
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

    /// When a message that failed its `attempts`th attempt is tried again.
    pub fn retry_at(&self, now: Timestamp, attempts: i64) -> Timestamp {
        now.plus_secs(self.backoff_secs(attempts, rand::random::<f64>()))
    }
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
    fn the_hash_separates_subject_from_body() {
        assert_ne!(content_hash("ab", "c"), content_hash("a", "bc"));
        assert_eq!(content_hash("a", "b"), content_hash("a", "b"));
    }
}
