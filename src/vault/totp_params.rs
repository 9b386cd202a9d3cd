//! A TOTP seed's public parameters, checked: shared with the browser, which shows them.

use serde::{Deserialize, Serialize};

use crate::identity::InputError;

/// TOTP parameters of a seed (public; the seed itself is the sealed value), valid by
/// construction: 6 to 8 digits and a period of 15 to 120 seconds, so every stored seed can make
/// codes. Built by [`TotpParams::new`] or read back through the same check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TotpParamsFields")]
pub struct TotpParams {
    digits: u32,
    period: u32,
    algorithm: TotpAlgorithm,
}

/// [`TotpParams`] as stored, before the check.
#[derive(Deserialize)]
pub(super) struct TotpParamsFields {
    digits: u32,
    period: u32,
    algorithm: TotpAlgorithm,
}

impl TryFrom<TotpParamsFields> for TotpParams {
    type Error = InputError;

    fn try_from(f: TotpParamsFields) -> Result<Self, InputError> {
        Self::new(f.digits, f.period, f.algorithm)
    }
}

impl TotpParams {
    /// Checked parameters: 6 to 8 digits, a period of 15 to 120 seconds.
    pub fn new(digits: u32, period: u32, algorithm: TotpAlgorithm) -> Result<Self, InputError> {
        if !(6..=8).contains(&digits) {
            return Err(InputError::new(
                "digits",
                format!("TOTP codes have 6 to 8 digits, not {digits}"),
            ));
        }
        if !(15..=120).contains(&period) {
            return Err(InputError::new(
                "period",
                format!("a TOTP period is 15 to 120 seconds, not {period}"),
            ));
        }
        Ok(Self {
            digits,
            period,
            algorithm,
        })
    }

    /// How many digits a code has.
    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// How many seconds a code lasts.
    pub fn period(&self) -> u32 {
        self.period
    }

    /// The HMAC the codes are computed with.
    pub fn algorithm(&self) -> TotpAlgorithm {
        self.algorithm
    }
}

/// The HMAC of a TOTP seed, as `otpauth://` URIs name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TotpAlgorithm {
    /// HMAC-SHA1, what nearly every authenticator uses.
    SHA1,
    /// HMAC-SHA256.
    SHA256,
    /// HMAC-SHA512.
    SHA512,
}

impl Default for TotpParams {
    fn default() -> Self {
        Self {
            digits: 6,
            period: 30,
            algorithm: TotpAlgorithm::SHA1,
        }
    }
}
