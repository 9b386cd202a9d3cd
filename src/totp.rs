//! Time-based one-time passwords (RFC 6238) for second-factor login, with totp-rs.
//!
//! A code is accepted for the current 30-second step or one step either side (clock drift), and
//! only for a step later than the last one accepted for the same user, so a code works once.

use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::clock::Timestamp;
use crate::identity::InputError;

/// Seconds a code lasts (RFC 6238's default, which authenticator apps assume).
pub const STEP_SECS: i64 = 30;
const ISSUER: &str = "Rekey";

/// A TOTP seed: its base32 text and the bytes it decodes to, both checked when it is made, so
/// computing a code cannot meet a seed that does not decode. Debug prints a redaction.
#[derive(Clone)]
pub struct TotpSecret {
    base32: SecretString,
    bytes: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// 160 random bits, the length RFC 4226 recommends.
    pub fn generate() -> Self {
        let raw: [u8; 20] = rand::random();
        Self {
            base32: Secret::Raw(raw.to_vec()).to_encoded().to_string().into(),
            bytes: raw.to_vec().into(),
        }
    }

    /// A seed as an authenticator app shows it: base32, spaces and case ignored.
    pub fn from_base32(encoded: &str) -> Result<Self, InputError> {
        let cleaned: String = encoded
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .trim_end_matches('=')
            .to_ascii_uppercase();
        match Secret::Encoded(cleaned.clone()).to_bytes() {
            Ok(bytes) if bytes.len() >= 10 => Ok(Self {
                base32: cleaned.into(),
                bytes: bytes.into(),
            }),
            Ok(_) => Err(InputError::new(
                "secret",
                "a TOTP secret has at least 80 bits (16 base32 characters)",
            )),
            Err(_) => Err(InputError::new(
                "secret",
                "a TOTP secret is base32: letters A-Z and digits 2-7",
            )),
        }
    }

    /// The seed in base32, to seal in the vault or show once during set-up.
    pub fn base32(&self) -> &str {
        self.base32.expose_secret()
    }

    fn totp(&self, account: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            STEP_SECS as u64,
            self.bytes.to_vec(),
            Some(ISSUER.to_string()),
            account.to_string(),
        )
    }

    /// The `otpauth://` URI authenticator apps read.
    pub fn otpauth_uri(&self, account: &str) -> String {
        self.totp(account).get_url()
    }

    /// The code for the step that contains `at`.
    pub fn code_at(&self, at: Timestamp) -> String {
        self.totp("").generate(at.as_secs().max(0) as u64)
    }
}

/// The step number that contains `at`.
pub fn step_of(at: Timestamp) -> i64 {
    at.as_secs().div_euclid(STEP_SECS)
}

/// Why a code was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeRejected {
    /// Not 6 digits, nor a recovery code.
    Malformed,
    /// Wrong, or outside the accepted window.
    Wrong,
    /// The code is right but its step was already used.
    Reused,
}

/// Checks `code` at `now`; returns the step it matched, which must then be stored as the
/// user's last used step.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now: Timestamp,
    last_used_step: i64,
) -> Result<i64, CodeRejected> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeRejected::Malformed);
    }
    let totp = secret.totp("");
    let current = step_of(now);
    let mut reused = false;
    for step in [current - 1, current, current + 1] {
        if step < 0 {
            continue;
        }
        let expected = totp.generate((step * STEP_SECS) as u64);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            if step > last_used_step {
                return Ok(step);
            }
            reused = true;
        }
    }
    Err(if reused {
        CodeRejected::Reused
    } else {
        CodeRejected::Wrong
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The QR code of `uri` as an inline SVG document.
pub fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        // A URI too long for a QR code cannot come from our own secrets and names.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 seed "12345678901234567890".
    const RFC_SEED_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_sha1_vectors() {
        let secret = TotpSecret::from_base32(RFC_SEED_BASE32).unwrap();
        // The RFC lists 8-digit codes; the 6-digit code is their last six digits.
        for (secs, code8) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(
                secret.code_at(Timestamp::from_secs(secs)),
                code8[2..],
                "at {secs}"
            );
        }
    }

    #[test]
    fn a_code_works_once() {
        let secret = TotpSecret::generate();
        let now = Timestamp::from_secs(1_800_000_000);
        let code = secret.code_at(now);
        let step = verify(&secret, &code, now, 0).unwrap();
        assert_eq!(step, step_of(now));
        assert_eq!(verify(&secret, &code, now, step), Err(CodeRejected::Reused));
    }

    #[test]
    fn neighbouring_steps_are_accepted_and_far_ones_are_not() {
        let secret = TotpSecret::generate();
        let now = Timestamp::from_secs(1_800_000_000);
        let previous = secret.code_at(now.plus_secs(-STEP_SECS));
        assert!(verify(&secret, &previous, now, 0).is_ok());
        let stale = secret.code_at(now.plus_secs(-3 * STEP_SECS));
        assert_eq!(verify(&secret, &stale, now, 0), Err(CodeRejected::Wrong));
        assert_eq!(
            verify(&secret, "12a456", now, 0),
            Err(CodeRejected::Malformed)
        );
    }

    #[test]
    fn secrets_are_base32_and_long_enough() {
        assert!(TotpSecret::from_base32("not base32!").is_err());
        assert!(TotpSecret::from_base32("GEZDGNBV").is_err());
        assert!(TotpSecret::from_base32("gezd gnbv gy3t qojq").is_ok());
        assert_eq!(
            format!("{:?}", TotpSecret::generate()),
            "TotpSecret([redacted])"
        );
    }

    #[test]
    fn the_uri_names_issuer_and_account_and_the_qr_is_svg() {
        let secret = TotpSecret::from_base32(RFC_SEED_BASE32).unwrap();
        let uri = secret.otpauth_uri("alice");
        assert!(uri.starts_with("otpauth://totp/Rekey:alice?"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
        assert!(qr_svg(&uri).contains("<svg"));
    }
}
