//! Sending: over SMTP with lettre when `REKEY_SMTP_URL` is set, otherwise into the local
//! mailbox (the `mailbox` table, readable on the Mailbox page).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{OutboxMessage, Outcome};
use crate::error::{Error, Result};

/// Where approved notices go.
#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// No SMTP server configured: messages land in Rekey's own mailbox.
    LocalMailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mailer::Smtp(_) => "Mailer::Smtp",
            Mailer::LocalMailbox => "Mailer::LocalMailbox",
        })
    }
}

impl Mailer {
    /// From an `smtp://`, `smtps://` or `smtp://…?tls=required` URL (credentials in the URL).
    pub fn smtp(url: &str, connections: u32) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Error::Internal(format!("the SMTP URL cannot be used: {e}")))?
            .timeout(Some(Duration::from_secs(30)))
            .pool_config(PoolConfig::new().max_size(connections.max(1)))
            .build();
        Ok(Mailer::Smtp(transport))
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Mailer::LocalMailbox)
    }

    /// One attempt to deliver `msg`.
    pub async fn send(&self, msg: &OutboxMessage) -> Outcome {
        let Mailer::Smtp(transport) = self else {
            return Outcome::Sent { code: None };
        };
        let email = match build(msg) {
            Ok(email) => email,
            Err(reply) => return Outcome::Permanent { code: None, reply },
        };
        match transport.send(email).await {
            Ok(response) => Outcome::Sent {
                code: Some(u16::from(response.code())),
            },
            Err(e) => {
                let code = e.status().map(u16::from);
                let reply = e.to_string();
                if e.is_permanent() || e.is_client() {
                    Outcome::Permanent { code, reply }
                } else {
                    // 4xx, timeouts, refused or dropped connections: worth another try.
                    Outcome::Transient { code, reply }
                }
            }
        }
    }
}

fn build(msg: &OutboxMessage) -> std::result::Result<Message, String> {
    let from: Mailbox = msg.sender.parse().map_err(|e| {
        format!(
            "the sender {} is not an address lettre accepts: {e}",
            msg.sender
        )
    })?;
    let to: Mailbox = msg.recipient.parse().map_err(|e| {
        format!(
            "the recipient {} is not an address lettre accepts: {e}",
            msg.recipient
        )
    })?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(msg.subject.as_str())
        .message_id(Some(msg.message_id.clone()))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(msg.text_body.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(msg.html_body.clone()),
                ),
        )
        .map_err(|e| format!("the message could not be built: {e}"))
}
