//! Signatures of lifecycle events: HMAC-SHA256 over `t.body` with a shared secret, the current
//! one or, during a rotation, the one before it.

use std::fmt;

use ring::hmac;
use secrecy::{ExposeSecret, SecretString};

use crate::clock::Timestamp;

/// How far a signature's timestamp may be from the server's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// The header that carries `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub const SIGNATURE_HEADER: &str = "Rekey-Signature";

/// A shared secret the key-issuing system signs with: at least 32 characters.
#[derive(Clone)]
pub struct SigningSecret(SecretString);

impl SigningSecret {
    /// At least 32 characters, trimmed (one secret of `REKEY_EVENT_SIGNING_SECRETS`).
    pub fn parse(raw: &str) -> std::result::Result<Self, String> {
        let s = raw.trim();
        if s.len() < 32 {
            return Err(
                "a signing secret has at least 32 characters (e.g. `openssl rand -hex 32`)".into(),
            );
        }
        Ok(Self(SecretString::from(s.to_string())))
    }

    fn key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, self.0.expose_secret().as_bytes())
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// The secrets a signature may be made with: the current one, and during a rotation the one
/// before it, so the sender can switch whenever it likes.
#[derive(Clone, Debug, Default)]
pub struct SigningSecrets(Vec<SigningSecret>);

impl SigningSecrets {
    /// `new` or `new,old`.
    pub fn parse(raw: &str) -> std::result::Result<Self, String> {
        let secrets = raw
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(SigningSecret::parse)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if secrets.len() > 2 {
            return Err("give at most two signing secrets: the new one, then the old one".into());
        }
        Ok(Self(secrets))
    }

    /// The current secret (the first), which Rekey signs its own webhooks with.
    pub fn current(&self) -> Option<&SigningSecret> {
        self.0.first()
    }

    /// Whether no secret is configured, so every event is refused.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The header a sender with `secret` would send for `body` at `at`.
    pub fn sign(secret: &SigningSecret, at: Timestamp, body: &[u8]) -> String {
        let tag = hmac::sign(&secret.key(), &signed_payload(at.as_secs(), body));
        format!("t={},v1={}", at.as_secs(), hex::encode(tag.as_ref()))
    }

    /// Checks a request's signature header against the body.
    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> std::result::Result<(), SignatureError> {
        if self.0.is_empty() {
            return Err(SignatureError::NotConfigured);
        }
        let header = header.ok_or(SignatureError::Missing)?;
        let mut at = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => at = t.parse::<i64>().ok(),
                Some(("v1", sig)) => {
                    signatures.push(hex::decode(sig).map_err(|_| SignatureError::Malformed)?)
                }
                _ => {}
            }
        }
        let at = at.ok_or(SignatureError::Malformed)?;
        if signatures.is_empty() {
            return Err(SignatureError::Malformed);
        }
        let skew = (now.as_secs() - at).abs();
        if skew > TOLERANCE_SECS {
            return Err(SignatureError::Stale { skew });
        }
        let payload = signed_payload(at, body);
        let matches = self.0.iter().any(|secret| {
            let key = secret.key();
            signatures
                .iter()
                .any(|sig| hmac::verify(&key, &payload, sig).is_ok())
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

fn signed_payload(at: i64, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{at}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

/// Why a signature was refused; each says what to check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signing secret is configured.
    #[error("this Rekey has no event signing secret; set REKEY_EVENT_SIGNING_SECRETS")]
    NotConfigured,
    /// The request carries no signature.
    #[error("the request has no {SIGNATURE_HEADER} header")]
    Missing,
    /// The signature header is not `t=…,v1=…`.
    #[error("the {SIGNATURE_HEADER} header must look like t=1700000000,v1=<hex HMAC-SHA256>")]
    Malformed,
    #[error(
        "the signature's timestamp is {skew} s away from Rekey's clock; at most {TOLERANCE_SECS} s are accepted (a replay, or a clock that is wrong?)"
    )]
    /// The signed time is too far from Rekey's clock.
    Stale {
        /// Seconds between the signed time and Rekey's clock.
        skew: i64,
    },
    /// No configured secret produces the signature.
    #[error("the signature does not match the body with any current signing secret")]
    Mismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(raw: &str) -> SigningSecrets {
        SigningSecrets::parse(raw).unwrap()
    }

    const NEW: &str = "new-secret-0123456789abcdef0123456789";
    const OLD: &str = "old-secret-0123456789abcdef0123456789";

    #[test]
    fn signatures_are_checked_against_both_secrets_within_the_window() {
        let now = Timestamp::from_secs(1_800_000_000);
        let body = br#"{"id":"evt_1"}"#;
        let old = SigningSecret::parse(OLD).unwrap();
        let header = SigningSecrets::sign(&old, now, body);
        assert_eq!(
            secrets(&format!("{NEW},{OLD}")).verify(Some(&header), body, now),
            Ok(())
        );
        assert_eq!(
            secrets(NEW).verify(Some(&header), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secrets(OLD).verify(Some(&header), br#"{"id":"evt_2"}"#, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secrets(OLD).verify(Some(&header), body, now.plus_secs(301)),
            Err(SignatureError::Stale { skew: 301 })
        );
        assert_eq!(
            secrets(OLD).verify(Some(&header), body, now.plus_secs(300)),
            Ok(())
        );
        assert_eq!(
            secrets(OLD).verify(None, body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            secrets(OLD).verify(Some("v1=abc"), body, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            secrets(OLD).verify(Some("t=1,v1=zz"), body, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            SigningSecrets::default().verify(Some(&header), body, now),
            Err(SignatureError::NotConfigured)
        );
    }

    #[test]
    fn secrets_are_long_at_most_two_and_never_printed() {
        assert!(SigningSecrets::parse("short").is_err());
        assert!(SigningSecrets::parse(&format!("{NEW},{OLD},{NEW}")).is_err());
        assert_eq!(
            format!("{:?}", secrets(NEW)),
            "SigningSecrets([SigningSecret(<redacted>)])"
        );
    }
}
