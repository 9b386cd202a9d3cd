//! A value to store, as it arrives from a form or the API and as it is once parsed.

use serde::Deserialize;

use super::{SecretKind, SecretValue, TotpAlgorithm, TotpParams};
use crate::clock::{Day, Timestamp};
use crate::identity::InputError;
use crate::inventory::store::ExternalId;

/// What is stored with a new value.
#[derive(Clone, Debug)]
pub struct NewSecret {
    /// What the value is, which decides how it is masked and shown.
    pub kind: SecretKind,
    /// The value itself.
    pub value: SecretValue,
    /// What it is for, in words.
    pub label: String,
    /// When it stops working, if it expires.
    pub expires_at: Option<Timestamp>,
    /// How old it may get before it is due for rotation.
    pub max_age_days: Option<i64>,
    /// For a TOTP seed, how its codes are made (the defaults otherwise).
    pub totp: TotpParams,
    /// The inventory credential this value is for, by its external id.
    pub credential: Option<ExternalId>,
}

/// A store request as it arrives from a form or the API: strings and numbers, parsed into a
/// [`NewSecret`] with errors by field. No Debug: it holds the value in the clear.
#[derive(Clone, Default, Deserialize)]
pub struct StoreInput {
    /// A secret kind's stored name.
    pub kind: String,
    /// The value, in the clear.
    pub value: String,
    /// What it is for (at most 200 characters).
    #[serde(default)]
    pub label: String,
    /// A date, `YYYY-MM-DD` (end of that day, UTC), or empty.
    #[serde(default)]
    pub expires_on: Option<String>,
    /// Days before it is due for rotation.
    #[serde(default)]
    pub max_age_days: Option<i64>,
    /// TOTP seeds given as base32: the code's digits, period and algorithm.
    #[serde(default)]
    pub digits: Option<u32>,
    /// Seconds a TOTP code lasts.
    #[serde(default)]
    pub period: Option<u32>,
    /// `SHA1`, `SHA256` or `SHA512`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// The external id of the inventory credential this value is for.
    #[serde(default)]
    pub credential: Option<String>,
}

impl StoreInput {
    /// Each field parsed; a refusal names the field. The value never appears in an error.
    pub fn parse(self) -> Result<NewSecret, InputError> {
        let kind: SecretKind = self.kind.parse()?;
        let value = SecretValue::parse(self.value)?;
        let label = self.label.trim().to_string();
        if label.chars().count() > 200 {
            return Err(InputError::new(
                "label",
                "a label has at most 200 characters",
            ));
        }
        let credential = self
            .credential
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| ExternalId::parse(c).map_err(|e| InputError::new("credential", e.message)))
            .transpose()?;
        let expires_at = match self
            .expires_on
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            // Expires at the end of the day given.
            Some(day) => Some(Day::parse("expires_on", day)?.end()),
        };
        if let Some(days) = self.max_age_days
            && !(1..=3650).contains(&days)
        {
            return Err(InputError::new(
                "max_age_days",
                "a maximum age is 1 to 3,650 days",
            ));
        }
        let algorithm = match self.algorithm.as_deref().map(str::trim).unwrap_or("") {
            "" | "SHA1" | "sha1" => TotpAlgorithm::SHA1,
            "SHA256" | "sha256" => TotpAlgorithm::SHA256,
            "SHA512" | "sha512" => TotpAlgorithm::SHA512,
            other => {
                return Err(InputError::new(
                    "algorithm",
                    format!("'{other}' is not SHA1, SHA256 or SHA512"),
                ));
            }
        };
        // Only a seed given as base32 uses these; an `otpauth://` URI carries its own.
        let totp = if kind == SecretKind::TotpSeed {
            let defaults = TotpParams::default();
            TotpParams::new(
                self.digits.unwrap_or(defaults.digits()),
                self.period.unwrap_or(defaults.period()),
                algorithm,
            )?
        } else {
            TotpParams::default()
        };
        Ok(NewSecret {
            kind,
            value,
            label,
            credential,
            expires_at,
            max_age_days: self.max_age_days,
            totp,
        })
    }
}
