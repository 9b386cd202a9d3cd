//! Sending: over SMTP with lettre when `REKEY_SMTP_URL` is set, otherwise into the local
//! mailbox (the `mailbox` table, readable on the Mailbox page).
//!
//! Each sender owns one SMTP connection, opened on first use, reused for every message and
//! reopened after a failure. The connection is our own `TcpStream` with `TCP_NODELAY`: lettre
//! writes a message body and its closing `.` separately, and with Nagle's algorithm on, that
//! second small write waits for the server's delayed ACK, 40 ms per message (measured:
//! 23 messages/s on one connection). With it off the same connection sends hundreds per second.
//! lettre still speaks SMTP: greeting, EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA, reply codes.

use std::sync::Arc;
use std::time::Duration;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::{ExposeSecret, SecretString};

use super::{Outcome, OutgoingMessage};
use crate::error::{Error, Refusal, Result};

/// How long one SMTP exchange may take before the connection is given up.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    /// `smtp://`: plain, or STARTTLS when the server offers it and `tls=opportunistic`.
    Plain,
    /// `smtp://…?tls=opportunistic`.
    StartTlsIfOffered,
    /// `smtp://…?tls=required`.
    StartTlsRequired,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

/// Where and how to connect. Debug hides the password.
pub struct SmtpTarget {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, SecretString)>,
}

impl std::fmt::Debug for SmtpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

/// Decodes `%XX` escapes (user names and passwords in URLs, otpauth URIs); a `%` not followed
/// by two hex digits stays as it is.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

impl SmtpTarget {
    /// `smtp://[USER:PASSWORD@]HOST[:PORT][?tls=required|opportunistic]` or `smtps://…`.
    /// Credentials are accepted only over TLS that cannot be skipped (`smtps://` or
    /// `tls=required`): with plain SMTP, or STARTTLS only "if offered", a man in the middle can
    /// strip TLS and read the password from AUTH. The error says what to change and never
    /// quotes the password.
    pub fn parse(url: &str) -> std::result::Result<Self, String> {
        let bad = |why: &str| why.to_string();
        let (implicit, rest) = if let Some(rest) = url.strip_prefix("smtps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("smtp://") {
            (false, rest)
        } else {
            return Err(bad("it must start with smtp:// or smtps://"));
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            None => (hostport, if implicit { 465 } else { 25 }),
        };
        if host.is_empty() {
            return Err(bad("it names no host"));
        }
        let credentials = userinfo
            .map(|u| {
                let (user, pass) = u
                    .split_once(':')
                    .ok_or_else(|| bad("write USER:PASSWORD before the @"))?;
                Ok::<_, String>((
                    percent_decode(user),
                    SecretString::from(percent_decode(pass)),
                ))
            })
            .transpose()?;
        let tls = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("tls="))
            .unwrap_or("");
        let security = match (implicit, tls) {
            (true, _) => Security::Implicit,
            (false, "" | "none") => Security::Plain,
            (false, "opportunistic") => Security::StartTlsIfOffered,
            (false, "required") => Security::StartTlsRequired,
            (false, other) => {
                return Err(bad(&format!(
                    "tls={other} is not none, opportunistic or required"
                )));
            }
        };
        if credentials.is_some() {
            match security {
                Security::Implicit | Security::StartTlsRequired => {}
                Security::Plain => {
                    return Err(bad(
                        "it has a user and password but no TLS, so the password would cross the network in clear; use smtps://HOST:465 or add ?tls=required",
                    ));
                }
                Security::StartTlsIfOffered => {
                    return Err(bad(
                        "it has a user and password with tls=opportunistic, which an attacker can downgrade to plain text to read the password; use tls=required or smtps://",
                    ));
                }
            }
        }
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            security,
            credentials,
        })
    }

    async fn connect(&self) -> std::result::Result<AsyncSmtpConnection, String> {
        let hello = ClientId::default();
        let tls =
            || TlsParameters::new(self.host.clone()).map_err(|e| format!("TLS set-up failed: {e}"));
        let mut conn = if self.security == Security::Implicit {
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(EXCHANGE_TIMEOUT),
                &hello,
                Some(tls()?),
                None,
            )
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?
        } else {
            let stream = tokio::time::timeout(
                EXCHANGE_TIMEOUT,
                tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
            )
            .await
            .map_err(|_| format!("connecting to {}:{} timed out", self.host, self.port))?
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
            stream
                .set_nodelay(true)
                .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
            let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
                .await
                .map_err(|e| format!("the SMTP greeting failed: {e}"))?;
            let starttls = match self.security {
                Security::StartTlsRequired if !conn.can_starttls() => {
                    return Err(
                        "the server does not offer STARTTLS, which REKEY_SMTP_URL requires".into(),
                    );
                }
                Security::StartTlsRequired => true,
                Security::StartTlsIfOffered => conn.can_starttls(),
                Security::Plain | Security::Implicit => false,
            };
            if starttls {
                conn.starttls(tls()?, &hello)
                    .await
                    .map_err(|e| format!("STARTTLS failed: {e}"))?;
            }
            conn
        };
        if let Some((user, pass)) = &self.credentials {
            let credentials = Credentials::new(user.clone(), pass.expose_secret().to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| format!("authentication as {user} failed: {e}"))?;
        }
        Ok(conn)
    }
}

/// Where approved notices go.
#[derive(Clone, Debug)]
pub enum Mailer {
    /// An SMTP server, by URL.
    Smtp(Arc<SmtpTarget>),
    /// No SMTP server configured: messages land in Rekey's own mailbox.
    LocalMailbox,
}

impl Mailer {
    /// A mailer for an `smtp://` or `smtps://` URL; a refusal says why the URL cannot be used.
    pub fn smtp(url: &str) -> Result<Self> {
        let target = SmtpTarget::parse(url)
            .map_err(|why| Error::Refused(Refusal::SmtpUrl(why.to_string())))?;
        Ok(Mailer::Smtp(Arc::new(target)))
    }

    /// Whether messages stay in Rekey's own mailbox.
    pub fn is_local(&self) -> bool {
        matches!(self, Mailer::LocalMailbox)
    }

    /// A sender with a connection of its own.
    pub fn sender(&self) -> Sender {
        Sender {
            mailer: self.clone(),
            conn: None,
        }
    }
}

/// One sender: one connection, reused until it fails.
pub struct Sender {
    mailer: Mailer,
    conn: Option<AsyncSmtpConnection>,
}

impl Sender {
    /// One attempt to deliver `msg`.
    pub async fn send(&mut self, msg: &OutgoingMessage) -> Outcome {
        let Mailer::Smtp(target) = &self.mailer else {
            return Outcome::Sent { code: None };
        };
        let email = match msg.to_email() {
            Ok(email) => email,
            Err(reply) => return Outcome::Permanent { code: None, reply },
        };
        let mut conn = match self.conn.take() {
            Some(conn) if !conn.has_broken() => conn,
            _ => match target.connect().await {
                Ok(conn) => conn,
                Err(reply) => return Outcome::Transient { code: None, reply },
            },
        };
        let sent = tokio::time::timeout(
            EXCHANGE_TIMEOUT,
            conn.send(email.envelope(), &email.formatted()),
        )
        .await;
        match sent {
            Err(_) => Outcome::Transient {
                code: None,
                reply: format!("no reply within {} s", EXCHANGE_TIMEOUT.as_secs()),
            },
            Ok(Ok(response)) => {
                self.conn = Some(conn);
                Outcome::Sent {
                    code: Some(u16::from(response.code())),
                }
            }
            Ok(Err(e)) => {
                let code = e.status().map(u16::from);
                let reply = e.to_string();
                // A refusal with a reply code leaves the session usable (after RSET, which
                // lettre sends); anything else means a new connection next time.
                if code.is_some() && !conn.has_broken() {
                    self.conn = Some(conn);
                }
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

impl OutgoingMessage {
    /// The e-mail as sent: a text part and an HTML part, both of the approved version.
    pub fn to_email(&self) -> std::result::Result<Message, String> {
        build(self)
    }
}

fn build(msg: &OutgoingMessage) -> std::result::Result<Message, String> {
    let from: Mailbox = msg.sender.as_str().parse().map_err(|e| {
        format!(
            "the sender {} is not an address lettre accepts: {e}",
            msg.sender
        )
    })?;
    let to: Mailbox = msg.recipient.as_str().parse().map_err(|e| {
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
                        .body(msg.markdown.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(msg.html_body()),
                ),
        )
        .map_err(|e| format!("the message could not be built: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_name_host_port_security_and_credentials() {
        let t = SmtpTarget::parse("smtp://127.0.0.1:2526").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.security),
            ("127.0.0.1", 2526, Security::Plain)
        );
        let t = SmtpTarget::parse("smtp://mailer:p%40ss@mail.example:587?tls=required").unwrap();
        for clear in [
            "smtp://mailer:p%40ss@mail.example:587",
            "smtp://mailer:p%40ss@mail.example:587?tls=none",
            "smtp://mailer:p%40ss@mail.example:587?tls=opportunistic",
        ] {
            let e = SmtpTarget::parse(clear).unwrap_err();
            assert!(!e.contains("p@ss") && !e.contains("p%40ss"), "{e}");
        }
        assert!(SmtpTarget::parse("smtps://mailer:p%40ss@mail.example").is_ok());
        assert!(SmtpTarget::parse("smtp://mail.example?tls=opportunistic").is_ok());
        assert_eq!(t.security, Security::StartTlsRequired);
        let (user, pass) = t.credentials.as_ref().unwrap();
        assert_eq!((user.as_str(), pass.expose_secret()), ("mailer", "p@ss"));
        assert!(!format!("{t:?}").contains("p@ss"));
        let t = SmtpTarget::parse("smtps://mail.example").unwrap();
        assert_eq!((t.port, t.security), (465, Security::Implicit));
        assert!(SmtpTarget::parse("smtp://mail.example?tls=sometimes").is_err());
        assert!(SmtpTarget::parse("http://mail.example").is_err());
        assert!(SmtpTarget::parse("smtp://:25").is_err());
        assert_eq!(percent_decode("a%2Fb%zz%é%4"), "a/b%zz%é%4");
    }
}
