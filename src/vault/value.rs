//! A secret value as it travels through Rekey: redacted in Debug, zeroed when dropped.

use secrecy::{ExposeSecret, SecretString};

use super::SecretKind;
use crate::identity::InputError;

/// A secret value. Debug prints a redaction; the memory is zeroed when dropped.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl SecretValue {
    /// The longest value, in bytes.
    pub const MAX_LEN: usize = 8_192;

    /// Any non-empty value of at most [`Self::MAX_LEN`] bytes; an error never repeats it.
    pub fn parse(raw: String) -> Result<Self, InputError> {
        if raw.is_empty() {
            return Err(InputError::new("value", "enter the secret's value"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(InputError::new("value", "a value has at most 8,192 bytes"));
        }
        Ok(Self(raw.into()))
    }

    /// A value Rekey made or opened itself, which needs no input checks.
    pub(crate) fn from_trusted(value: String) -> Self {
        Self(value.into())
    }

    /// The value in the clear, for the one place that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// What lists show: the first four characters of an API key or generic value of at least 24
    /// characters (so at most a sixth of it), nothing of shorter ones, passwords or TOTP seeds.
    pub(crate) fn masked(&self, kind: SecretKind) -> String {
        let v = self.expose();
        match kind {
            SecretKind::ApiKey | SecretKind::Generic if v.chars().count() >= 24 => {
                format!("{}…", v.chars().take(4).collect::<String>())
            }
            _ => "••••".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_show_only_a_masked_prefix() {
        let v = SecretValue::parse("sk_live_abcdefghijklmnop".into()).unwrap();
        assert_eq!(v.masked(SecretKind::ApiKey), "sk_l…");
        let shorter = SecretValue::parse("sk_live_abcdefghijklmno".into()).unwrap();
        assert_eq!(
            shorter.masked(SecretKind::ApiKey),
            "••••",
            "23 characters show nothing"
        );
        assert_eq!(v.masked(SecretKind::Password), "••••");
        assert_eq!(
            SecretValue::parse("short".into())
                .unwrap()
                .masked(SecretKind::ApiKey),
            "••••"
        );
    }
}
